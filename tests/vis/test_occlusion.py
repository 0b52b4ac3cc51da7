import numpy as np
import pytest

from zfnet.vis.occlusion import occlude, occlusion_grid, occlusion_sweep


def test_sweep_equals_a_loop_over_occluded_copies():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 255, (2, 9, 11)).astype(np.uint8)
    w = rng.rand(2 * 9 * 11, 3)

    def fn(b):  # two outputs with different trailing shapes
        flat = b.reshape(len(b), -1).astype(np.float64)
        return flat.dot(w), flat[:, :5]
    (a, b), (rows, cols) = occlusion_sweep(img, 4, 3, [7, 9], fn, batch_size=4)
    assert rows.tolist() == [0, 3] and cols.tolist() == [0, 3, 6]
    assert a.shape == (2, 3, 3) and b.shape == (2, 3, 5)
    for i, t in enumerate(rows):
        for j, l in enumerate(cols):
            occ = occlude(img, t, l, 4, [7, 9])
            assert (occ[0, t:t + 4, l:l + 4] == 7).all() and (occ[1, t:t + 4, l:l + 4] == 9).all()
            np.testing.assert_allclose(a[i, j], occ.reshape(-1).astype(np.float64).dot(w))
            np.testing.assert_array_equal(b[i, j], occ.reshape(-1)[:5])


def test_sweep_limits_and_bad_occluders():
    img = np.zeros((1, 28, 28), np.uint8)
    with pytest.raises(ValueError, match="676 occluder positions: use a larger stride .at most 100"):
        occlusion_sweep(img, 3, 1, 0, lambda b: b, max_positions=100)
    with pytest.raises(ValueError, match="occluder size 0 must be between 1 and 28"):
        occlusion_grid(28, 28, 0, 1)
    with pytest.raises(ValueError, match="occluder stride must be >= 1, got 0"):
        occlusion_grid(28, 28, 3, 0)
