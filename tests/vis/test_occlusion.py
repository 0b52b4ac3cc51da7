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


def test_square_cover_against_brute_force():
    from zfnet.vis.occlusion import square_cover
    w = np.random.RandomState(0).rand(13, 11)
    rows, cols = occlusion_grid(13, 11, 4, 3)
    got = square_cover(w, 4, rows, cols)
    want = np.array([[w[t:t + 4, l:l + 4].sum() for l in cols] for t in rows])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_occlusion_study_against_brute_force(tmp_path):
    """The study's measures from a direct per-position computation: log-odds drops over
    object / background positions of a hand-made mask, the labels kept, the correlations."""
    from conftest import toy_dataset, write_tiny_checkpoint
    from zfnet.evaluate import features_function, logits_function, softmax
    from zfnet.io.checkpoint import load_model
    from zfnet.vis.deconv import Projector
    from zfnet.vis.occlusion import occlusion_study
    ds = toy_dataset(n_train=30, n_test=4)
    m = load_model(write_tiny_checkpoint(str(tmp_path / "ck"), dataset=ds)[0])
    layer = [l for l in m.net if l.startswith("relu")][-1]
    logits, feat = logits_function(m.net), features_function(m.net, [layer])
    img, y = ds.x_test[0], int(ds.y_test[0])
    mask = np.zeros(img.shape[1:], bool)
    mask[2:8, 3:9] = True
    got, d = occlusion_study(m, img, y, 4, 2, 100, mask, Projector(m.net, "deconvnet"), logits, feat, layer=layer)
    rows, cols = occlusion_grid(img.shape[1], img.shape[2], 4, 2)
    lo = lambda p: np.log(p / (1 - p))
    p0 = softmax(logits(m.preprocess(img)))[0, y]
    obj, bg, keep = [], [], []
    for t in rows:
        for l in cols:
            occ = occlude(img, t, l, 4, 100)
            p = softmax(logits(m.preprocess(occ)))[0]
            share = mask[t:t + 4, l:l + 4].mean()
            if share >= 0.5:
                obj.append(lo(p0) - lo(p[y]))
            elif share == 0:
                bg.append(lo(p0) - lo(p[y]))
                keep.append(p.argmax() == y)
    assert got["object_positions"] == len(obj) and got["background_positions"] == len(bg)
    assert got["drop_object"] == pytest.approx(np.mean(obj), rel=1e-4, abs=1e-6)
    assert got["drop_background"] == pytest.approx(np.mean(bg), rel=1e-4, abs=1e-6)
    assert got["background_keeps_label"] == pytest.approx(np.mean(keep))
    assert got["corr_activation_probability"] == pytest.approx(np.corrcoef(d["amap"].ravel(), d["pmap"].ravel())[0, 1], abs=1e-6)
