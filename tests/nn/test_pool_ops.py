import numpy as np
import pytest

from zfnet.backend import T, lasagne, theano
from zfnet.nn.layers import MaxPool2DLayer
from zfnet.nn.pool_ops import max_pool_switches, unpool
from ref import maxpool2d, switches_ref, unpool_ref

PY = theano.compile.mode.Mode(linker="py", optimizer="fast_run")


@pytest.mark.parametrize("ws,st,ceil,hw", [(3, 2, True, (110, 110)), (3, 2, False, (13, 13)),
                                          (2, 2, False, (7, 9)), (3, 3, True, (10, 8)), (3, 1, True, (5, 6))])
def test_c_op_matches_numpy_and_its_python_twin(ws, st, ceil, hw):
    rng = np.random.RandomState(ws * 7 + st)
    x = np.maximum(rng.randn(3, 5, *hw), 0).astype("float32")  # after a ReLU: many tied zeros
    xs = T.tensor4()
    z, s = max_pool_switches(xs, ws, st, not ceil)
    Z, S = theano.function([xs], [z, s])(x)
    np.testing.assert_array_equal(Z, maxpool2d(x, ws, st, not ceil))
    np.testing.assert_array_equal(S, switches_ref(x, ws, st, ceil))
    Zp, Sp = theano.function([xs], [z, s], mode=PY)(x)
    np.testing.assert_array_equal(Zp, Z); np.testing.assert_array_equal(Sp, S)


def test_unpool_several_rows_per_image_and_python_twin():
    rng = np.random.RandomState(0)
    x = rng.randint(0, 4, (2, 3, 9, 9)).astype("float32")
    xs, gs = T.tensor4(), T.tensor4()
    S = theano.function([xs], max_pool_switches(xs, 3, 2, False)[1])(x)
    g = rng.randn(6, 3, 4, 4).astype("float32")  # 3 rows per image
    ss = T.itensor4()
    out = unpool(gs, ss, (9, 9))
    want = unpool_ref(g, np.repeat(S, 3, axis=0), (9, 9))
    np.testing.assert_allclose(theano.function([gs, ss], out)(g, S), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(theano.function([gs, ss], out, mode=PY)(g, S), want, rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="does not fit switches"):
        theano.function([gs, ss], out)(g[:5], S)


def test_gradient_is_switch_unpooling_and_matches_finite_differences():
    rng = np.random.RandomState(1)
    x = rng.randn(2, 2, 7, 7).astype("float32")  # no ties: the gradient is unique
    w = rng.randn(2, 2, 3, 3).astype("float32")
    xs = T.tensor4()
    z, s = max_pool_switches(xs, 3, 2, True)
    gx, S = theano.function([xs], [theano.grad((z * w).sum(), xs), s])(x)
    np.testing.assert_allclose(gx, unpool_ref(w, S, (7, 7)), rtol=1e-6)
    from theano.tensor.signal.pool import pool_2d
    ref = theano.function([xs], theano.grad((pool_2d(xs, (3, 3), ignore_border=True, stride=(2, 2)) * w).sum(), xs))(x)
    np.testing.assert_allclose(gx, ref, rtol=1e-6)


def test_layer_matches_lasagne_pooling_and_trains_through():
    l_in = lasagne.layers.InputLayer((None, 4, 11, 11))
    ours = MaxPool2DLayer(l_in, 3, stride=2, ignore_border=False)
    theirs = lasagne.layers.MaxPool2DLayer(l_in, 3, stride=2, ignore_border=False)
    assert ours.output_shape == theirs.output_shape == (None, 4, 5, 5)  # (11 - 3 + 1) // 2 + 1
    x = np.random.RandomState(2).randn(2, 4, 11, 11).astype("float32")
    f = theano.function([l_in.input_var], [lasagne.layers.get_output(ours), lasagne.layers.get_output(theirs)])
    a, b = f(x)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="must be square"):
        MaxPool2DLayer(l_in, (3, 2))


def test_switches_treat_values_one_ulp_apart_as_tied():
    """On a flat region the float32 convolution can make equal values differ by an ulp; the
    switch must not follow that rounding: within TIE_RTOL of the maximum, the first wins (in
    the C op and its numpy twin alike), while a real difference still decides."""
    from zfnet.nn.pool_ops import TIE_RTOL, MaxPoolSwitches
    a = np.float32(0.37)
    up = np.nextafter(a, np.float32(1))           # one ulp above
    x = np.full((1, 2, 2, 2), a, np.float32)
    x[0, 0, 1, 1] = up                            # the last cell wins only by rounding
    x[0, 1, 1, 1] = a * (1 + 10 * TIE_RTOL)       # a real difference
    xs = T.tensor4()
    c_fn = theano.function([xs], max_pool_switches(xs, 2, 2, True)[1])
    node_outputs = [[None], [None]]
    MaxPoolSwitches(2, 2, True).perform(None, [x], node_outputs)   # the numpy twin
    for S in (c_fn(x), node_outputs[1][0]):
        assert S[0, 0, 0, 0] == 0 and S[0, 1, 0, 0] == 3, S
    np.testing.assert_array_equal(c_fn(x), switches_ref(x, 2, 2, False))


def test_non_finite_windows_agree_between_c_and_numpy_and_stay_in_the_map():
    """+inf maxima, NaNs first or later in a window and all -inf windows: the C op and its
    numpy twin give the same pooled values and switches, chosen by hand here (a NaN wins its
    window, the first one; +inf is matched exactly), and every switch lies inside its window
    (a switch of -1 once made Unpool fail during `train --lr nan`)."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 0, 1] = np.inf          # window (0, 0): +inf at (0, 1)
    x[0, 0, 0, 2] = np.nan          # window (0, 1): first NaN at (0, 2) ...
    x[0, 0, 1, 3] = np.nan          # ... a second NaN later in the same window
    x[0, 0, 2, 0] = np.nan          # window (1, 0): a NaN as its very first value
    x[0, 0, 2:, 2:] = -np.inf       # window (1, 1): all -inf
    xs = T.tensor4()
    z, s = max_pool_switches(xs, 2, 2, True)
    want_s = np.array([[1, 2], [8, 10]], np.int32)
    for mode in (None, PY):
        Z, S = theano.function([xs], [z, s], mode=mode)(x)
        np.testing.assert_array_equal(S[0, 0], want_s)
        assert Z[0, 0, 0, 0] == np.inf and np.isnan(Z[0, 0, 0, 1]) and np.isnan(Z[0, 0, 1, 0])
        assert Z[0, 0, 1, 1] == -np.inf
    g = T.tensor4()
    back = theano.function([g, xs], unpool(g, max_pool_switches(xs, 2, 2, True)[1], (4, 4)))(
        np.ones((1, 1, 2, 2), np.float32), x)
    assert back.sum() == 4 and back[0, 0].ravel()[want_s.ravel()].tolist() == [1, 1, 1, 1]
