"""Winograd F(2x2, 3x3): the C op against float64 numpy, and the graph rewrite against
Theano's own convolutions."""
import numpy as np
import pytest

from zfnet.backend import T, theano
from zfnet.nn.winograd import Winograd3x3, mode_with_winograd, reference_correlate
from theano.tensor.nnet.abstract_conv import conv2d_grad_wrt_inputs


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("flip", [False, True])
def test_op_matches_float64_correlation(pad, transposed, flip):
    rng = np.random.RandomState(pad + 3 * transposed + 7 * flip)
    w = rng.randn(4, 3, 3, 3).astype("float32")          # (K, C, 3, 3)
    cin = 4 if transposed else 3
    x = rng.randn(2, cin, 7, 6).astype("float32")         # odd and even sizes: partial tiles
    op = Winograd3x3(pad, transposed, flip)
    F = np.swapaxes(w, 0, 1) if transposed else w
    F = F[:, :, ::-1, ::-1] if flip else F
    want = reference_correlate(x, F.astype(np.float64), 2 - pad if transposed else pad)
    xv, wv = T.tensor4(), T.tensor4()
    got = theano.function([xv, wv], op(xv, wv))(x, w)
    assert got.shape == want.shape
    _close(got, want)
    # the numpy fallback computes the same
    out = [[None]]
    op.perform(None, [x, w], out)
    _close(out[0][0], want)


def test_many_channels_and_chunks():
    # more tiles than one chunk, channel counts not multiples of anything
    rng = np.random.RandomState(0)
    w = rng.randn(37, 29, 3, 3).astype("float32")
    x = rng.randn(3, 29, 33, 31).astype("float32")
    xv, wv = T.tensor4(), T.tensor4()
    got = theano.function([xv, wv], Winograd3x3(1, False, False)(xv, wv))(x, w)
    _close(got, reference_correlate(x, w.astype(np.float64), 1))


def _ops(fn):
    return [type(n.op).__name__ for n in fn.maker.fgraph.toposort()]


@pytest.mark.parametrize("pad", [0, 1, 2])
def test_rewrite_of_transposed_convolution(pad):
    rng = np.random.RandomState(pad)
    W = theano.shared(rng.randn(6, 17, 3, 3).astype("float32"))   # transposed: 17 output channels
    H = 9
    Ho = H + 2 * pad - 2
    g = T.tensor4()
    out = conv2d_grad_wrt_inputs(g, W, input_shape=(None, 17, H, H), filter_shape=(6, 17, 3, 3),
                                 border_mode=(pad, pad), subsample=(1, 1), filter_flip=False)
    plain = theano.function([g], out)
    wino = theano.function([g], out, mode=mode_with_winograd())
    assert "Winograd3x3" in _ops(wino) and "Winograd3x3" not in _ops(plain)
    gv = rng.randn(2, 6, Ho, Ho).astype("float32")
    _close(wino(gv), plain(gv))
    # adjoint identity with the forward correlation: <conv(x), g> == <x, conv^T(g)>
    x = rng.randn(2, 17, H, H).astype("float32")
    fwd = reference_correlate(x, W.get_value().astype(np.float64), pad)
    assert np.isclose((fwd * gv).sum(), (x * wino(gv)).sum(), rtol=1e-4)


@pytest.mark.parametrize("flip", [False, True])
def test_rewrite_of_forward_convolution(flip, monkeypatch):
    from zfnet.nn import winograd
    monkeypatch.setattr(winograd, "FORWARD", True)
    rng = np.random.RandomState(5)
    W = theano.shared(rng.randn(17, 3, 3, 3).astype("float32"))
    x = T.tensor4()
    out = T.nnet.conv2d(x, W, input_shape=(None, 3, 10, 10), filter_shape=(17, 3, 3, 3),
                        border_mode="half", filter_flip=flip)
    plain = theano.function([x], out)
    wino = theano.function([x], out, mode=mode_with_winograd())
    assert "Winograd3x3" in _ops(wino)
    xv = rng.randn(1, 3, 10, 10).astype("float32")
    _close(wino(xv), plain(xv))


def test_forward_convolutions_are_left_alone_by_default():
    W = theano.shared(np.ones((17, 3, 3, 3), "float32"))
    x = T.tensor4()
    f = theano.function([x], T.nnet.conv2d(x, W, input_shape=(None, 3, 9, 9), filter_shape=(17, 3, 3, 3)),
                        mode=mode_with_winograd())
    assert "Winograd3x3" not in _ops(f)


def test_strided_or_other_sizes_are_left_alone(monkeypatch):
    from zfnet.nn import winograd
    monkeypatch.setattr(winograd, "FORWARD", True)
    W = theano.shared(np.ones((17, 3, 3, 3), "float32"))
    V = theano.shared(np.ones((17, 3, 5, 5), "float32"))
    S = theano.shared(np.ones((15, 3, 3, 3), "float32"))
    x = T.tensor4()
    a = T.nnet.conv2d(x, W, input_shape=(None, 3, 9, 9), filter_shape=(17, 3, 3, 3), subsample=(2, 2))
    b = T.nnet.conv2d(x, V, input_shape=(None, 3, 9, 9), filter_shape=(17, 3, 5, 5))
    c = T.nnet.conv2d(x, S, input_shape=(None, 3, 9, 9), filter_shape=(15, 3, 3, 3))  # few outputs
    f = theano.function([x], [a, b, c], mode=mode_with_winograd())
    assert "Winograd3x3" not in _ops(f)


def test_parts_are_the_concatenation_without_making_it():
    rng = np.random.RandomState(11)
    w = rng.randn(5, 4, 3, 3).astype("float32")                       # layer (K=5, C=4)
    parts = [rng.randn(2, r, 5, 6, 7).astype("float32") for r in (3, 1, 2)]
    op = Winograd3x3(1, True, True)
    vs = [T.TensorType("float32", (False,) * 5)() for _ in parts]
    wv = T.tensor4()
    got = theano.function(vs + [wv], op(*(vs + [wv])))(*(parts + [w]))
    x = np.concatenate(parts, axis=1)                                  # (2, 6, 5, 6, 7)
    F = np.swapaxes(w, 0, 1)[:, :, ::-1, ::-1].astype(np.float64)
    want = reference_correlate(x.reshape(12, 5, 6, 7), F, 1).reshape(2, 6, 4, 6, 7)
    assert got.shape == want.shape
    _close(got, want)
