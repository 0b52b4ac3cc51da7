"""The measurements behind the experiments, each against an independent reference."""
import numpy as np
import pytest

from zfnet.errors import UsageError

from zfnet.data.digits import digits_as_fashion_mnist
from zfnet.evaluate import batched, features_function, softmax
from zfnet.repro.analysis import centred_gram, linear_cka, matched_unit_correlations, unit_correlations, unit_responses, correlation, correspondence_delta, filter_health, linear_probe, per_class_split, relative_distance, rotate_image, scale_image, small_changes, translate_vertical
from zfnet.vis.occlusion import occlusion_batch, occlusion_grid
from zfnet.nn import model as modelmod
from ref import forward
from conftest import tiny_config


def _img(seed=0, c=1, h=28, w=28):
    return np.random.RandomState(seed).randint(0, 256, (c, h, w)).astype(np.uint8)


@pytest.mark.parametrize("dy", [-30, -5, -1, 0, 3, 27, 28])
def test_vertical_translation_moves_rows(dy):
    img = _img()
    out = translate_vertical(img, dy)
    want = np.zeros_like(img)
    for r in range(28):  # row r of the output shows row r - dy of the input
        if 0 <= r - dy < 28:
            want[:, r] = img[:, r - dy]
    np.testing.assert_array_equal(out, want)


def test_rotation_by_90_degrees_is_a_transpose_flip():
    img = _img(1, c=3)
    np.testing.assert_array_equal(rotate_image(img, 90), np.rot90(img, 1, axes=(1, 2)))
    np.testing.assert_array_equal(rotate_image(img, 0), img)


def test_scaling_keeps_the_centre_and_size():
    img = np.full((1, 28, 28), 200, np.uint8)
    half = scale_image(img, 0.5)
    assert half.shape == img.shape
    assert (half[:, 7:21, 7:21] == 200).all()
    outside = np.ones((28, 28), bool); outside[7:21, 7:21] = False
    assert (half[0][outside] == 0).all()
    np.testing.assert_array_equal(scale_image(_img(2), 1.0), _img(2))
    # zooming in on a centred square makes it bigger by the factor
    sq = np.zeros((1, 28, 28), np.uint8); sq[0, 10:18, 10:18] = 255
    big = scale_image(sq, 2.0)
    assert (big[0, 8:20, 8:20] == 255).all() and big[0, :4].max() == 0
    with pytest.raises(ValueError, match="scale factor"):
        scale_image(img, 0)


def test_small_changes_by_hand():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, (2, 3, 28, 28)).astype(np.uint8)
    shift, flip, zoom = small_changes(x)
    np.testing.assert_array_equal(shift[..., 2:], x[..., :-2])           # 28 // 14 = 2 px right
    np.testing.assert_array_equal(shift[..., :2], x[..., :1].repeat(2, axis=3))
    np.testing.assert_array_equal(flip[..., ::-1], x)
    const = np.full((1, 1, 28, 28), 77, np.uint8)
    np.testing.assert_array_equal(small_changes(const)[2], const)        # a zoom of a flat image is flat
    ramp = np.tile(np.arange(0, 224, 8, dtype=np.uint8), (1, 1, 28, 1))  # columns 0, 8, ..., 216
    z = small_changes(ramp)[2][0, 0]
    assert z.shape == (28, 28) and (np.diff(z[10].astype(int)) >= 0).all()
    assert z[10, 14] in range(100, 125) and z[10, -1] < 216              # zoomed out towards the centre
    with pytest.raises(UsageError, match="uint8"):
        small_changes(x.astype(np.float32))


def test_occlusion_batch_covers_every_position_once():
    img = _img(3, c=2, h=10, w=12)
    batch, (rows, cols) = occlusion_batch(img, 4, 3, value=[7, 9])
    assert list(rows) == [0, 3, 6] and list(cols) == [0, 3, 6]
    assert batch.shape == (9, 2, 10, 12)
    for k, (t, l) in enumerate([(t, l) for t in rows for l in cols]):
        diff = batch[k] != img
        mask = np.zeros((10, 12), bool); mask[t:t + 4, l:l + 4] = True
        assert not diff[:, ~mask].any()
        assert (batch[k, 0][mask] == 7).all() and (batch[k, 1][mask] == 9).all()
    with pytest.raises(ValueError, match="occluder size 11"):
        occlusion_grid(10, 12, 11, 1)
    with pytest.raises(ValueError, match="stride"):
        occlusion_grid(10, 12, 3, 0)


def test_correspondence_delta_by_hand_and_against_scipy():
    from scipy.spatial.distance import pdist
    eps = np.array([[1.0, -1, 0, 2], [1, 1, 0, -3], [-1, -1, 0, 0]])
    # signs: (1,-1,0,1), (1,1,0,-1), (-1,-1,0,0): Hamming 2, 2, 3 -> 7 / (3 pairs * 4 features)
    assert correspondence_delta(eps) == pytest.approx(7 / 12.0)
    e = np.random.RandomState(0).randn(5, 300) * (np.random.RandomState(1).rand(5, 300) > 0.5)
    assert correspondence_delta(e) == pytest.approx(pdist(np.sign(e), "hamming").mean())
    assert correspondence_delta(np.tile(e[:1], (5, 1))) == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        correspondence_delta(e[:1])


def test_filter_health_finds_dominating_and_dead_filters():
    W = np.ones((10, 1, 3, 3)) * 0.1
    W[0] *= 5      # dominates
    W[1] = 0.0     # dead by norm
    acts = np.ones((4, 10, 5, 5)); acts[:, 2] = 0  # filter 2 never fires
    h = filter_health(W, acts)
    assert h["dominating"] == 1 and h["dead"] == 2
    assert h["median_rms"] == pytest.approx(0.1) and h["max_over_median"] == pytest.approx(5.0)
    # the top 10% (one filter) holds 25 / (25 + 8 * 1) of the squared norm (in units of 0.01)
    assert h["top10pct_norm_share"] == pytest.approx(25 / 33.0)
    even = filter_health(np.ones((20, 3, 2, 2)))
    assert even["top10pct_norm_share"] == pytest.approx(0.1) and even["dead"] == 0


def test_correlation_matches_numpy():
    a, b = np.random.RandomState(0).randn(2, 50)
    assert correlation(a, b) == pytest.approx(np.corrcoef(a, b)[0, 1])
    assert correlation(a, 3 * a + 1) == pytest.approx(1.0)
    assert correlation(np.ones(5), a[:5]) == 0.0


def test_relative_distance():
    ref = np.array([3.0, 4.0])
    np.testing.assert_allclose(relative_distance([[3, 4], [0, 0], [6, 8]], ref), [0, 1, 1])


def test_per_class_split_is_disjoint_and_balanced():
    y = np.repeat(np.arange(4), 10)
    tr, te = per_class_split(y, 3, seed=0)
    assert len(set(tr) & set(te)) == 0 and len(tr) + len(te) == 40
    assert (np.bincount(y[tr]) == 3).all()
    tr2, _ = per_class_split(y, 3, seed=1)
    assert set(tr2) != set(tr)
    with pytest.raises(ValueError, match="class 0 has 10 images"):
        per_class_split(y, 10, seed=0)


@pytest.mark.parametrize("kind", ["svm", "softmax"])
def test_linear_probe_separates_separable_data(kind):
    rng = np.random.RandomState(0)
    centres = rng.randn(3, 20) * 5
    y = np.repeat(np.arange(3), 30)
    x = centres[y] + rng.randn(90, 20) * 0.1
    assert linear_probe(x[::2], y[::2], x[1::2], y[1::2], kind=kind) == 1.0
    # labels unrelated to the features: near chance
    yr = rng.randint(0, 3, 90)
    assert linear_probe(x[::2], yr[::2], x[1::2], yr[1::2], kind=kind) < 0.7
    with pytest.raises(ValueError, match="kind"):
        linear_probe(x, y, x, y, kind="tree")


def test_digits_look_like_mnist():
    x, y = digits_as_fashion_mnist()
    assert x.shape == (1797, 1, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).min() >= 170 and y.max() == 9
    assert x[:, :, :4].max() == 0 and x[:, :, 24:].max() == 0  # 4-pixel black border
    assert x.max() == 255


def test_features_function_matches_the_numpy_forward():
    cfg = tiny_config()
    net = modelmod.build(cfg)
    arrays = modelmod.get_weights(net)
    x = np.random.RandomState(0).randn(3, 1, 12, 12).astype("float32")
    fn = features_function(net, ["norm1", "relu6"])
    got = batched(fn, x, batch_size=2)  # two batches, concatenated
    ref = forward(cfg, arrays, x)
    np.testing.assert_allclose(got[0], ref["norm1"].reshape(3, -1), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got[1], ref["relu6"].reshape(3, -1), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="Unknown layer.*conv9"):
        features_function(net, ["conv9"])


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_svm_probe_equals_libsvm_on_the_raw_kernel():
    """The dual with a precomputed kernel gives what libsvm computes from the vectors itself."""
    from sklearn.svm import SVC
    rng = np.random.RandomState(3)
    x = rng.randn(60, 40) + np.repeat(rng.randn(3, 40), 20, axis=0)
    y = np.repeat(np.arange(3), 20)
    tr, te = np.arange(0, 60, 2), np.arange(1, 60, 2)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    want = (SVC(C=0.5, kernel="linear").fit(unit[tr], y[tr]).predict(unit[te]) == y[te]).mean()
    assert linear_probe(x[tr], y[tr], x[te], y[te], C=0.5, kind="svm") == pytest.approx(want)


def test_spectral_share_of_a_delta_is_the_share_of_bins_beyond_the_cutoff():
    from zfnet.repro.analysis import spectral_share_above
    W = np.zeros((2, 1, 3, 3)); W[:, 0, 1, 1] = 1.0
    # a delta has a flat spectrum: on a 64-point grid |k/64| > 1/4 for k = 17..47, 31 of 64 bins
    assert spectral_share_above(W, 0.25) == pytest.approx(1 - (33 / 64.0) ** 2)
    assert spectral_share_above(W, 0.5) == 0.0


def test_spectral_share_of_a_2x2_checkerboard_by_its_closed_form():
    from zfnet.repro.analysis import spectral_share_above
    W = np.array([[[[1.0, -1.0], [-1.0, 1.0]]]])
    f = np.abs(np.fft.fftfreq(64))
    # |F|^2 = 16 sin^2(pi fx) sin^2(pi fy), separable
    s = np.sin(np.pi * f) ** 2
    P = np.outer(s, s)
    hi = np.maximum.outer(f, f) > 0.125
    assert spectral_share_above(W, 0.125) == pytest.approx(P[hi].sum() / P.sum())


def test_map_high_frequency_share_by_hand():
    from zfnet.repro.analysis import map_high_frequency_share
    y, x = np.mgrid[:8, :8]
    checker = ((x + y) % 2)[None, None].astype(float)
    smooth = np.cos(2 * np.pi * x / 8.0)[None, None]
    assert map_high_frequency_share(checker) == pytest.approx(1.0)
    assert map_high_frequency_share(smooth) == pytest.approx(0.0, abs=1e-12)
    # equal power in both: half
    mixed = np.concatenate([checker - 0.5, np.sqrt(0.5) * smooth], axis=1)  # mean squares 1/4 and 1/4
    assert map_high_frequency_share(mixed) == pytest.approx(0.5)
    assert map_high_frequency_share(np.ones((1, 1, 4, 4))) == 0.0
    with pytest.raises(ValueError, match="expected maps"):
        map_high_frequency_share(np.ones((4, 4)))


def test_linear_cka_against_its_feature_space_formula_and_invariances():
    rng = np.random.RandomState(0)
    x, y = rng.randn(40, 7), rng.randn(40, 12)
    xc, yc = x - x.mean(0), y - y.mean(0)
    want = np.linalg.norm(yc.T.dot(xc)) ** 2 / (np.linalg.norm(xc.T.dot(xc)) * np.linalg.norm(yc.T.dot(yc)))
    assert linear_cka(centred_gram(x), centred_gram(y)) == pytest.approx(want, rel=1e-10)
    q, _ = np.linalg.qr(rng.randn(7, 7))
    assert linear_cka(centred_gram(x), centred_gram(3.0 * x.dot(q) + 5.0)) == pytest.approx(1.0, abs=1e-12)
    assert 0 <= linear_cka(centred_gram(x), centred_gram(y)) < 0.5
    with pytest.raises(ValueError, match="Gram"):
        linear_cka(np.eye(3), np.eye(4))


def test_unit_responses_rows_are_each_channels_maps_over_all_probes():
    f = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 2, 2)       # (n, C, H, W)
    u = unit_responses(f.reshape(2, -1), 3)
    assert u.shape == (3, 8) and u.dtype == np.float64
    np.testing.assert_array_equal(u[1], np.concatenate([f[0, 1].ravel(), f[1, 1].ravel()]))
    with pytest.raises(ValueError, match="5 channels"):
        unit_responses(f.reshape(2, -1), 5)


def test_unit_correlations_against_numpy_corrcoef_and_dead_units():
    rng = np.random.RandomState(1)
    a, b = rng.randn(5, 30), rng.randn(5, 30)
    b[2] = 2 * a[2] + 1                                        # the same pattern, rescaled: 1
    b[4] = 0.0                                                  # dead in b: undefined
    r = unit_correlations(a, b)
    for i in (0, 1, 3):
        assert r[i] == pytest.approx(np.corrcoef(a[i], b[i])[0, 1], rel=1e-12)
    assert r[2] == pytest.approx(1.0) and np.isnan(r[4])
    with pytest.raises(ValueError, match="one shape"):
        unit_correlations(a, b[:4])


def test_matched_unit_correlations_recovers_a_permutation_and_beats_any_other_pairing():
    rng = np.random.RandomState(2)
    a = rng.randn(6, 50)
    perm = rng.permutation(6)
    b = a[perm] * 3.0 + rng.randn(6, 50) * 0.3                  # seed b: the same units, reordered, noisier
    got = matched_unit_correlations(a, b)
    inv = np.argsort(perm)                                      # a's unit i is b's row inv[i]
    want = [np.corrcoef(a[i], b[inv[i]])[0, 1] for i in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.all(got > 0.9)
    # no other one-to-one pairing has a larger total (brute force over all 720)
    import itertools
    c = np.corrcoef(a, b)[:6, 6:]
    best = max(sum(c[i, p[i]] for i in range(6)) for p in itertools.permutations(range(6)))
    assert got.sum() == pytest.approx(best, rel=1e-12)
