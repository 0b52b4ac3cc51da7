import numpy as np
import pytest

from zfnet.nn import model
from zfnet.backend import T, lasagne, theano
from zfnet.vis.deconv import Projector, input_patch_box, unit_boxes
from zfnet.vis.smoothgrad import SmoothGrad, for_method
from zfnet.nn.layers import Conv2DLayer, DeconvolutionLayer, conv_transpose
from zfnet.nn.pool_ops import max_pool_switches, unpool
from ref import forward, switches_ref, transposed_xcorr2d, unpool_ref, xcorr2d
from conftest import tiny_config


# ------------------------------------------------------------ references
# ------------------------------------------------- transposed convolution
@pytest.mark.parametrize("stride,pad,f,hw,c,k", [(1, 0, 3, (7, 9), 2, 3), (1, 1, 3, (8, 8), 3, 1),
                                                 (2, 1, 5, (11, 13), 3, 4), (3, 2, 4, (13, 10), 1, 2),
                                                 (2, 0, 7, (15, 15), 3, 5), (3, 0, 3, (9, 11), 2, 2)])
def test_transposed_conv_is_the_adjoint(stride, pad, f, hw, c, k):
    rng = np.random.RandomState(stride * 10 + pad)
    W = rng.randn(k, c, f, f).astype("float32")
    x = rng.randn(2, c, *hw).astype("float32")
    y_fwd = xcorr2d(x, W, None, stride, pad)
    y = rng.randn(*y_fwd.shape).astype("float32")
    g = T.tensor4()
    fn = theano.function([g], conv_transpose(g, theano.shared(W), (None, c) + hw, W.shape, stride, pad,
                                             "t", (None,) + y.shape[1:]))
    xt = fn(y)
    assert xt.shape == x.shape
    lhs, rhs = np.vdot(y_fwd, y), np.vdot(x.astype(np.float64), xt)
    assert abs(lhs - rhs) <= 1e-4 * max(1.0, abs(lhs))
    np.testing.assert_allclose(xt, transposed_xcorr2d(y, W, hw, stride, pad), rtol=1e-4, atol=1e-4)


def test_hand_computed_ones_and_centre_filter():
    """Seed 003's example: a 10x10 image of ones, 3x3 all-ones filter, 'same' padding."""
    ones = np.ones((1, 1, 10, 10), "float32")
    x = T.tensor4()
    for filt, fwd_want, back_want in [
        (np.ones((1, 1, 3, 3), "float32"),
         [[4] + [6] * 8 + [4]] + [[6] + [9] * 8 + [6]] * 8 + [[4] + [6] * 8 + [4]],
         None),
        (np.pad(np.ones((1, 1, 1, 1), "float32"), ((0, 0), (0, 0), (1, 1), (1, 1))), np.ones((10, 10)),
         np.ones((10, 10)))]:
        l_in = lasagne.layers.InputLayer((1, 1, 10, 10), x)
        conv = Conv2DLayer(l_in, 1, 3, 1, 1, W=filt, b=False)
        fwd = lasagne.layers.get_output(conv)
        back = conv_transpose(fwd, conv.W, (1, 1, 10, 10), (1, 1, 3, 3), 1, 1)
        f, b = theano.function([x], [fwd, back])(ones)
        np.testing.assert_array_equal(f[0, 0], fwd_want)
        if back_want is None:
            edge = [25, 40, 45, 45, 45, 45, 45, 45, 40, 25]
            inner = [40, 64, 72, 72, 72, 72, 72, 72, 64, 40]
            mid = [45, 72, 81, 81, 81, 81, 81, 81, 72, 45]
            back_want = [edge, inner] + [mid] * 6 + [inner, edge]
        np.testing.assert_array_equal(b[0, 0], back_want)


def test_deconvolution_layer_size_crop_and_errors():
    l_in = lasagne.layers.InputLayer((None, 4, 5, 6))
    W = np.random.RandomState(0).randn(4, 3, 4, 4).astype("float32")
    up = DeconvolutionLayer(l_in, 3, 4, stride=2, pad=1, W=W)
    assert up.output_shape == (None, 3, 2 * 4 + 4 - 2, 2 * 5 + 4 - 2)
    g = np.random.RandomState(1).randn(2, 4, 5, 6).astype("float32")
    out = theano.function([l_in.input_var], lasagne.layers.get_output(up))(g)
    np.testing.assert_allclose(out, transposed_xcorr2d(g, W, (10, 12), 2, 1), rtol=1e-4, atol=1e-4)
    # FCN-style: upsample then crop to a reference layer's size
    ref = lasagne.layers.InputLayer((None, 1, 8, 9))
    up2 = DeconvolutionLayer(l_in, 3, 4, stride=2, pad=1, W=W, crop_to=ref)
    assert up2.output_shape == (None, 3, 8, 9)
    out2 = theano.function([l_in.input_var], lasagne.layers.get_output(up2))(g)
    np.testing.assert_allclose(out2, out[:, :, 1:9, 1:10], rtol=1e-5)
    with pytest.raises(ValueError, match="cannot crop"):
        DeconvolutionLayer(l_in, 3, 4, stride=2, pad=1, crop_to=lasagne.layers.InputLayer((None, 1, 20, 9)))


def test_shape_errors_name_layer_and_shapes():
    g = T.tensor4()
    with pytest.raises(ValueError, match=r"Layer 'conv2'.*32 channels.*\(3, 32, 3, 3\).*must have 3"):
        conv_transpose(g, theano.shared(np.zeros((3, 32, 3, 3), "float32")), (9, 32, 32, 32),
                       (3, 32, 3, 3), 1, 1, "conv2", (9, 32, 32, 32))
    with pytest.raises(ValueError, match=r"Layer 'conv1': a height of 13 cannot come from a signal "
                                         r"height of 5.*must be in \[11, 12\]"):
        conv_transpose(g, theano.shared(np.zeros((4, 3, 3, 3), "float32")), (1, 3, 13, 10),
                       (4, 3, 3, 3), 2, 0, "conv1", (1, 4, 5, 4))


# ------------------------------------------------------------- unpooling
@pytest.mark.parametrize("ceil", [True, False])
def test_switches_and_unpooling_against_numpy_with_ties(ceil):
    rng = np.random.RandomState(4)
    x = rng.randint(0, 3, (2, 3, 9, 8)).astype("float32")  # many ties
    x[0, 0] = 0  # a map of zeros, as after a ReLU
    xs = T.tensor4(); gs = T.tensor4()
    pooled, sw = max_pool_switches(xs, 3, 2, not ceil)
    f = theano.function([xs], [pooled, sw])
    P, S = f(x)
    S_ref = switches_ref(x, 3, 2, ceil)
    np.testing.assert_array_equal(S, S_ref)
    # all-zero windows pick their top-left element
    assert S[0, 0, 0, 0] == 0 and S[0, 0, 1, 1] == 2 * 8 + 2
    # pooled values agree with Theano's own pooling
    from theano.tensor.signal.pool import pool_2d
    np.testing.assert_array_equal(P, theano.function([xs], pool_2d(xs, (3, 3), ignore_border=not ceil,
                                                                   stride=(2, 2)))(x))
    g = rng.randn(*P.shape).astype("float32")
    U = theano.function([gs, xs], unpool(gs, max_pool_switches(xs, 3, 2, not ceil)[1], (9, 8)))(g, x)
    np.testing.assert_allclose(U, unpool_ref(g, S_ref, (9, 8)), rtol=1e-6, atol=1e-6)
    # exactly one location per window, and overlapping windows sharing it add up
    assert (np.abs(U) > 0).sum() <= P.size
    np.testing.assert_allclose(U.sum(), g.sum(), rtol=1e-4)


def test_theano_pool_gradient_is_not_switch_unpooling():
    """Documents why we do not use Theano's gradient: it feeds every tied maximum."""
    x = np.zeros((1, 1, 3, 3), "float32")
    xs = T.tensor4()
    from theano.tensor.signal.pool import pool_2d
    grad = theano.function([xs], theano.grad(pool_2d(xs, (3, 3), ignore_border=True).sum(), xs))(x)
    assert grad.sum() == 9  # all nine tied zeros receive the signal
    U = theano.function([xs], unpool(T.ones((1, 1, 1, 1), dtype="float32"),
                                     max_pool_switches(xs, 3, 3, True)[1], (3, 3)))(x)
    assert U.sum() == 1 and U[0, 0, 0, 0] == 1


# ----------------------------------------------------------- the methods
def rule_net():
    """x (1x1x3) -> conv1 1x1 [+1, -1] -> relu1 -> fc2 over the 2x1x3 map."""
    cfg = {"name": "rules", "input_shape": [1, 1, 3], "num_classes": 1, "layers": [
        {"name": "conv1", "type": "conv", "num_filters": 2, "filter_size": 1, "stride": 1, "pad": 0},
        {"name": "relu1", "type": "relu"},
        {"name": "fc2", "type": "fc", "num_units": 1}]}
    net = model.build(cfg)
    model.set_weights(net, {"conv1.W": np.array([1, -1], "float32").reshape(2, 1, 1, 1),
                            "conv1.b": np.zeros(2, "float32"),
                            "fc2.W": np.array([[1, -1, 2], [-1, 1, 1]], "float32").reshape(1, 2, 1, 3),
                            "fc2.b": np.zeros(1, "float32")})
    return net


@pytest.mark.parametrize("method,expected", [
    # fc2 = 2 for x = [1, 2, -3]; the signal starts at 2 (deconvnet, guided) or 1 (gradient).
    # Backward signal at relu1: s * [[1, -1, 2], [-1, 1, 1]]; forward input [[1, 2, -3], [-1, -2, 3]].
    ("deconvnet", [2, -2, 2]),   # relu(g): [[1,0,2],[0,1,1]] -> ch0 - ch1 = [1,-1,1], x2
    ("guided", [2, 0, -2]),      # g * (g>0) * (a>0): [[1,0,0],[0,0,1]] -> [1,0,-1], x2
    ("gradient", [1, -1, -1]),   # g * (a>0): [[1,-1,0],[0,0,1]] -> [1,-1,-1]
])
def test_backward_rules_on_a_hand_computed_net(method, expected):
    x = np.array([1, 2, -3], "float32").reshape(1, 1, 1, 3)
    res = Projector(rule_net(), method).project(x, ["fc2"], top=1)["fc2"]
    assert res.activations[0, 0] == pytest.approx(2.0)
    np.testing.assert_allclose(res.reconstructions[0, 0, 0, 0], expected, rtol=1e-6)


def _tiny_net(seed=0, input_shape=None):
    net = model.build(tiny_config(), input_shape=input_shape)
    rng = np.random.RandomState(seed)
    arrays = {k: (rng.randn(*v.shape) * 0.3).astype("float32") for k, v in model.get_weights(net).items()}
    model.set_weights(net, arrays)
    return net, arrays


def test_gradient_method_matches_finite_differences():
    net, arrays = _tiny_net()
    cfg = tiny_config()
    x = np.random.RandomState(5).rand(1, 1, 12, 12)
    res = Projector(net, "gradient").project(x.astype("float32"), ["fc6", "conv2"], top=2)
    rng = np.random.RandomState(6)
    for name, pr in res.items():
        c, yy, xx = pr.units[0, 1]
        f = lambda z: forward(cfg, arrays, z, upto=name)[name][0, c, yy, xx]
        eps = 1e-4
        for _ in range(6):
            i, j = rng.randint(0, 12, 2)
            d = np.zeros_like(x); d[0, 0, i, j] = eps
            fd = (f(x + d) - f(x - d)) / (2 * eps)
            assert pr.reconstructions[0, 1, 0, i, j] == pytest.approx(fd, rel=2e-2, abs=2e-4), (name, i, j)


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient"])
@pytest.mark.parametrize("mode", ["max", "map"])
def test_single_pass_equals_per_layer_loop(method, mode):
    net, _ = _tiny_net(1)
    x = np.random.RandomState(7).rand(3, 1, 12, 12).astype("float32")
    p = Projector(net, method)
    layers = ["fc6", "pool2", "conv2", "norm1", "relu1"]
    single = p.project(x, layers, top=2, mode=mode)
    loop = p.project_loop(x, layers, top=2, mode=mode)
    for n in layers:
        np.testing.assert_allclose(single[n].reconstructions, loop[n].reconstructions, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(single[n].units, loop[n].units)
        assert single[n].reconstructions.shape == (3, 2, 1, 12, 12)
    assert len(p._cache) == 1 + len(layers)  # compiled once per layer set, reused
    p.project(x, layers, top=2, mode=mode)
    assert len(p._cache) == 1 + len(layers)


@pytest.mark.parametrize("method", ["deconvnet", "gradient"])
def test_direct_first_step_equals_dense_transposed_conv(method):
    net, _ = _tiny_net(5)
    x = np.random.RandomState(11).rand(2, 1, 12, 12).astype("float32")
    p = Projector(net, method)
    layers = ["fc6", "relu2", "conv2", "conv1"]
    fast = p.project(x, layers, top=3)
    p.analytic_first_step = False
    dense = p.project(x, layers, top=3)
    for n in layers:
        np.testing.assert_allclose(fast[n].reconstructions, dense[n].reconstructions, rtol=1e-5, atol=1e-6)


def test_selection_units_and_ranking():
    net, _ = _tiny_net(2)
    x = np.random.RandomState(8).rand(1, 1, 12, 12).astype("float32")
    act = theano.function([net["input"].input_var],
                          lasagne.layers.get_output(net["relu1"], deterministic=True))(x)[0]
    for rank, score in (("max", act.reshape(4, -1).max(1)), ("l2", np.sqrt((act.reshape(4, -1) ** 2).sum(1)))):
        pr = Projector(net).project(x, "relu1", top=3, rank=rank)["relu1"]
        assert pr.units[0, :, 0].tolist() == np.argsort(-score)[:3].tolist()
        for (c, yy, xx), a in zip(pr.units[0], pr.activations[0]):
            assert act[c, yy, xx] == pytest.approx(a) == pytest.approx(act[c].max())
    pr = Projector(net).project(x, "relu1", channels=[3, 0])["relu1"]
    assert pr.units[0, :, 0].tolist() == [3, 0]


def test_deconvnet_of_relu_projection_only_where_the_unit_sees():
    net, _ = _tiny_net(3)
    x = np.random.RandomState(9).rand(1, 1, 12, 12).astype("float32")
    pr = Projector(net).project(x, "conv2", top=1)["conv2"]
    c, yy, xx = pr.units[0, 0]
    t, l, b, r = input_patch_box(net, "conv2", yy, xx)
    rec = pr.reconstructions[0, 0, 0]
    outside = rec.copy(); outside[t:b, l:r] = 0
    assert np.abs(outside).max() == 0 and np.abs(rec).max() > 0


def test_smoothgrad_averages_gradients_of_fixed_units():
    net, _ = _tiny_net(4)
    x = np.random.RandomState(10).rand(1, 1, 12, 12).astype("float32")
    sg = for_method(Projector(net), "smoothgrad", samples=3, noise=0.0).project(x, "conv2", top=2)["conv2"]
    gr = Projector(net, "gradient").project(x, "conv2", top=2)["conv2"]
    np.testing.assert_allclose(sg.reconstructions, gr.reconstructions, rtol=1e-5, atol=1e-7)  # no noise
    noisy = SmoothGrad(Projector(net), samples=3, noise=0.2).project(x, "conv2", top=2)["conv2"]
    np.testing.assert_array_equal(noisy.units, gr.units)
    assert not np.allclose(noisy.reconstructions, gr.reconstructions)


def test_bad_requests():
    net, _ = _tiny_net()
    p = Projector(net)
    x = np.zeros((1, 1, 12, 12), "float32")
    with pytest.raises(ValueError, match=r"Cannot project layer 'conv9': projectable layers are conv1"):
        p.project(x, "conv9")
    with pytest.raises(ValueError, match=r"do not fit the network: expected \(B,\) \+ \(1, 12, 12\)"):
        p.project(np.zeros((1, 3, 12, 12)), "conv1")
    with pytest.raises(ValueError, match=r"'conv1' has channels 0..3; got \[7\]"):
        p.project(x, "conv1", channels=[7])
    with pytest.raises(ValueError, match="top=5 for layer 'conv1'"):
        p.project(x, "conv1", top=5)
    with pytest.raises(ValueError, match="Unknown method 'excitation'"):  # lrp is a method now
        Projector(net, "excitation")
    with pytest.raises(ValueError, match=r"'smoothgrad' wraps a Projector .*smoothgrad.SmoothGrad\(projector\)"):
        Projector(net, "smoothgrad")  # built outside the Projector (zfnet.vis.smoothgrad)
    with pytest.raises(ValueError, match="'smoothgrad' wraps a Projector"):
        p.project(x, "conv1", method="smoothgrad")
    with pytest.raises(ValueError, match="only projects 'smoothgrad'"):
        SmoothGrad(p).project(x, "conv1", method="guided")
    assert for_method(p, "guided") is p and isinstance(for_method(p, "smoothgrad"), SmoothGrad)


def test_projection_slices_per_image_and_carries_hand_computed_boxes():
    """Receptive fields of the tiny net, by hand: conv1 3x3/1 pad 1 -> (y-1, x-1, y+2, x+2);
    pool1 3/2 over conv1 -> (2i-1, 2j-1, 2i+4, 2j+4); conv2 3x3/1 pad 1 over pool1 ->
    (2y-3, 2x-3, 2y+6, 2x+6); all clipped to the 12x12 image."""
    net, _ = _tiny_net(6)
    assert unit_boxes(net, "conv1", np.array([0, 5]), np.array([0, 7])).tolist() == [[0, 0, 2, 2], [4, 6, 7, 9]]
    assert unit_boxes(net, "pool1", 2, 3).tolist() == [3, 5, 8, 10]
    assert unit_boxes(net, "conv2", np.array([2, 0]), np.array([3, 0])).tolist() == [[1, 3, 10, 12], [0, 0, 6, 6]]
    x = np.random.RandomState(12).rand(3, 1, 12, 12).astype("float32")
    res = Projector(net).project(x, ["conv2", "conv1"], top=2)
    for name, pr in res.items():
        assert pr.boxes.shape == (3, 2, 4) and len(pr) == 3
        one = pr[1]
        np.testing.assert_array_equal(one.reconstructions, pr.reconstructions[1])
        np.testing.assert_array_equal(one.units, pr.units[1])
        np.testing.assert_array_equal(one.activations, pr.activations[1])
        for (c, yy, xx), box in zip(one.units, one.boxes):
            assert tuple(box) == input_patch_box(net, name, yy, xx)
        with pytest.raises(TypeError, match="one image's already"):
            one[0]


@pytest.mark.parametrize("method", ["deconvnet", "guided", "gradient"])
def test_method_per_call_and_explicit_units_equal_separate_projectors(method):
    net, _ = _tiny_net(7)
    x = np.random.RandomState(13).rand(2, 1, 12, 12).astype("float32")
    layers = ["fc6", "conv2", "relu1"]
    shared = Projector(net)  # constructed for the deconvnet, asked for another method per call
    per_call = shared.project(x, layers, top=2, method=method)
    own = Projector(net, method).project(x, layers, top=2)
    units = shared.project(x, layers, units={n: r.units for n, r in own.items()}, method=method)
    for n in layers:
        np.testing.assert_allclose(per_call[n].reconstructions, own[n].reconstructions, rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(units[n].units, own[n].units)
        np.testing.assert_allclose(units[n].activations, own[n].activations, rtol=1e-6)
        np.testing.assert_allclose(units[n].reconstructions, own[n].reconstructions, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"units of 'conv2' have shape \(2, 3\): expected \(B=2, k, 3\)"):
        shared.project(x, "conv2", units={"conv2": np.zeros((2, 3), int)})
    with pytest.raises(ValueError, match=r"units of 'conv2' must lie in channels 0..5, y 0..5, x 0..5"):
        shared.project(x, "conv2", units={"conv2": np.full((2, 1, 3), 6)})


def test_smoothgrad_wrapper_is_the_mean_of_noisy_gradients():
    """SmoothGrad over any projector: units from the clean image's gradient pass, then the mean
    of ``project(noisy, units=...)`` over noise drawn from the same seeded generator."""
    net, _ = _tiny_net(8)
    x = np.random.RandomState(14).rand(1, 1, 12, 12).astype("float32")
    p = Projector(net)
    sg = SmoothGrad(p, samples=4, noise=0.1, seed=3).project(x, ["conv2", "fc6"], top=2)
    clean = p.project(x, ["conv2", "fc6"], top=2, method="gradient")
    rng = np.random.RandomState(3)
    span = float(x.max() - x.min())
    acc = {n: 0.0 for n in clean}
    for _ in range(4):
        noisy = x + rng.normal(0, 0.1 * span, x.shape).astype("float32")
        for n in clean:
            fixed = {m: clean[m].units for m in clean}
            acc[n] = acc[n] + p.project(noisy, list(clean), method="gradient", units=fixed)[n].reconstructions
    for n in clean:
        np.testing.assert_array_equal(sg[n].units, clean[n].units)
        np.testing.assert_allclose(sg[n].reconstructions, acc[n] / 4, rtol=1e-5, atol=1e-7)
        assert not np.allclose(sg[n].reconstructions, clean[n].reconstructions)


def test_the_projected_unit_ignores_one_ulp_rounding():
    """The unit of a map is its first position within the tie tolerance of the maximum,
    like the pooling switches: a later value one ulp higher does not move it."""
    from zfnet.nn.pool_ops import TIE_RTOL
    net, _ = _tiny_net(9)
    conv1 = net["conv1"]   # channel 0 becomes the identity: a centre-only filter, no bias
    W = np.zeros(conv1.W.get_value().shape, np.float32); W[0, 0, 1, 1] = 1
    conv1.W.set_value(W); conv1.b.set_value(np.zeros_like(conv1.b.get_value()))
    x = np.random.RandomState(15).rand(1, 1, 12, 12).astype("float32")
    top = np.float32(2.0)
    x[0, 0, 3, 4], x[0, 0, 9, 1] = top, np.nextafter(top, np.float32(3))
    r = Projector(net).project(x, "conv1", channels=[0])["conv1"]
    assert r.units[0, 0].tolist() == [0, 3, 4]           # the first of the two, not the ulp-larger one
    x[0, 0, 9, 1] = top * np.float32(1 + 10 * TIE_RTOL)  # a real difference still wins
    r = Projector(net).project(x, "conv1", channels=[0])["conv1"]
    assert r.units[0, 0].tolist() == [0, 9, 1]


def test_fast_and_full_compilation_give_the_same_projections():
    import numpy as np
    from zfnet.nn import configs, model
    from zfnet.vis.deconv import Projector
    net = model.build(configs.get_config("small"))
    x = np.random.RandomState(3).randn(2, 1, 28, 28).astype("float32")
    for method in ("deconvnet", "guided"):
        fast = Projector(net, method, compile="fast").project(x, ["conv2", "conv4"], top=3)
        full = Projector(net, method, compile="full").project(x, ["conv2", "conv4"], top=3)
        for l in fast:
            np.testing.assert_array_equal(fast[l].units, full[l].units)
            np.testing.assert_allclose(fast[l].reconstructions, full[l].reconstructions,
                                       rtol=1e-5, atol=1e-6 * abs(full[l].reconstructions).max())


def test_compile_choice_is_checked():
    import pytest
    from zfnet.errors import UsageError
    from zfnet.nn import configs, model
    from zfnet.vis.deconv import Projector
    with pytest.raises(UsageError, match="compile='quick'"):
        Projector(model.build(configs.get_config("small")), compile="quick")


def test_winograd_walk_equals_the_direct_transposed_convolutions():
    # several layers in one pass: their signals meet at conv3..conv5 (3x3, stride 1), where
    # the Winograd op takes them as parts; against CorrMM's transposed convolutions
    import numpy as np
    from zfnet.nn import configs, model
    from zfnet.vis.deconv import Projector
    net = model.build(configs.get_config("small"))
    x = np.random.RandomState(4).randn(2, 1, 28, 28).astype("float32")
    layers = ["conv2", "conv3", "conv4", "conv5", "fc6"]
    for mode in ("max", "map"):
        wino = Projector(net)
        assert wino.winograd
        direct = Projector(net)
        direct.winograd = False
        a = wino.project(x, layers, top=2, mode=mode)
        b = direct.project(x, layers, top=2, mode=mode)
        for l in layers:
            np.testing.assert_array_equal(a[l].units, b[l].units)
            scale = abs(b[l].reconstructions).max()
            np.testing.assert_allclose(a[l].reconstructions, b[l].reconstructions, rtol=1e-4,
                                       atol=1e-5 * scale)
