"""BatchedCorr (im2col + one matrix product per chunk of images): its float64 references
against a plain loop and the adjoint identity, the C op against the references, and the graph
rewrite against Theano's own convolutions."""
import numpy as np
import pytest

from zfnet.backend import T, theano
from zfnet.nn import batched_conv
from zfnet.nn.batched_conv import (BatchedCorr, mode_with_batched, reference_forward,
                                   reference_grad_inputs, reference_grad_weights)
from theano.tensor.nnet import conv2d

GEOMETRIES = [  # B, C, H, W, M, (kh, kw), (sh, sw), (ph, pw)
    (3, 2, 7, 6, 4, (3, 3), (1, 1), (1, 1)),
    (2, 3, 9, 8, 5, (3, 3), (1, 1), (0, 0)),
    (2, 2, 13, 11, 3, (7, 7), (2, 2), (3, 3)),   # odd sizes: the stride leaves pixels out
    (4, 3, 12, 10, 6, (5, 3), (2, 1), (1, 2)),   # rectangular filter, stride and padding
    (2, 1, 5, 5, 2, (3, 3), (1, 1), (2, 2)),     # padding of a "full" correlation
]


def _loop_forward(x, w, stride, pad):
    """The correlation as its definition, one output at a time (float64)."""
    (sh, sw), (ph, pw) = stride, pad
    N, C, H, W = x.shape
    M, _, kh, kw = w.shape
    Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
    y = np.zeros((N, M, Ho, Wo))
    for n in range(N):
        for m in range(M):
            for oh in range(Ho):
                for ow in range(Wo):
                    s = 0.0
                    for c in range(C):
                        for i in range(kh):
                            for j in range(kw):
                                h, v = oh * sh + i - ph, ow * sw + j - pw
                                if 0 <= h < H and 0 <= v < W:
                                    s += float(x[n, c, h, v]) * float(w[m, c, i, j])
                    y[n, m, oh, ow] = s
    return y


def _data(geom, seed=0):
    B, C, H, W, M, k, s, p = geom
    rng = np.random.RandomState(seed)
    x = rng.randn(B, C, H, W).astype("float32")
    w = rng.randn(M, C, *k).astype("float32")
    Ho, Wo = (H + 2 * p[0] - k[0]) // s[0] + 1, (W + 2 * p[1] - k[1]) // s[1] + 1
    dy = rng.randn(B, M, Ho, Wo).astype("float32")
    return x, w, dy


@pytest.mark.parametrize("geom", GEOMETRIES[:4])
def test_references_match_the_definition_and_the_adjoint_identity(geom):
    x, w, dy = _data(geom)
    k, s, p = geom[5:]
    y = reference_forward(x, w, s, p)
    np.testing.assert_allclose(y, _loop_forward(x, w, s, p), rtol=1e-10, atol=1e-10)
    # <correlate(x, w), dy> = <x, grad_inputs(w, dy)> = <w, grad_weights(x, dy)>
    lhs = float((y * dy).sum())
    gi = reference_grad_inputs(w, dy, x.shape[2:], s, p)
    gw = reference_grad_weights(x, dy, k, s, p)
    assert gi.shape == x.shape and gw.shape == w.shape
    assert abs(lhs - float((gi * x).sum())) < 1e-9 * max(1.0, abs(lhs))
    assert abs(lhs - float((gw * w).sum())) < 1e-9 * max(1.0, abs(lhs))


def _compiled(geom):
    k, s, p = geom[5:]
    xv, wv, dyv = T.tensor4(), T.tensor4(), T.tensor4()
    size = T.lvector()
    outs = [BatchedCorr("forward", k, s, p)(xv, wv),
            BatchedCorr("grad_weights", k, s, p)(xv, dyv),
            BatchedCorr("grad_inputs", k, s, p)(wv, dyv, size)]
    return theano.function([xv, wv, dyv, size], outs)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=2e-5 * np.abs(want).max())


@pytest.mark.parametrize("geom", GEOMETRIES)
def test_op_matches_float64_references(geom):
    x, w, dy = _data(geom, 1)
    k, s, p = geom[5:]
    got = _compiled(geom)(x, w, dy, np.array(x.shape[2:]))
    wants = [reference_forward(x, w, s, p), reference_grad_weights(x, dy, k, s, p),
             reference_grad_inputs(w, dy, x.shape[2:], s, p)]
    for g, want in zip(got, wants):
        assert g.shape == want.shape and g.dtype == np.float32
        _close(g, want)


def test_many_chunks_give_the_same_sums(monkeypatch):
    """A batch of 37 images in chunks of one image (the columns of one image exceed the chunk)
    and in one chunk per thread: the same results to float32 rounding."""
    geom = (37, 5, 9, 9, 7, (3, 3), (1, 1), (1, 1))
    x, w, dy = _data(geom, 2)
    size = np.array(x.shape[2:])
    wants = [reference_forward(x, w, (1, 1), (1, 1)), reference_grad_weights(x, dy, (3, 3), (1, 1), (1, 1)),
             reference_grad_inputs(w, dy, x.shape[2:], (1, 1), (1, 1))]
    for floats in (16, 1 << 22):
        monkeypatch.setattr(batched_conv, "CHUNK_FLOATS", floats)  # part of the op's cache key
        for g, want in zip(_compiled(geom)(x, w, dy, size), wants):
            _close(g, want)


@pytest.mark.parametrize("filter_flip", [False, True])
@pytest.mark.parametrize("geom", [GEOMETRIES[0], GEOMETRIES[2], (4, 16, 7, 7, 8, (3, 3), (1, 1), (1, 1))])
def test_rewrite_matches_theano_convolution_and_its_gradients(geom, filter_flip):
    """conv2d and T.grad of it compiled with and without the rewrite: every convolution with at
    least MIN_K rows of columns becomes BatchedCorr, and the values agree."""
    x, w, dy = _data(geom, 3)
    B, C, H, W, M, k, s, p = geom
    xv, wv, dyv = T.tensor4(), T.tensor4(), T.tensor4()
    out = conv2d(xv, wv, input_shape=x.shape, filter_shape=w.shape, subsample=s, border_mode=p,
                 filter_flip=filter_flip)
    outs = [out] + T.grad((out * dyv).sum(), [xv, wv])
    theirs = theano.function([xv, wv, dyv], outs)(x, w, dy)
    f = theano.function([xv, wv, dyv], outs, mode=mode_with_batched())
    names = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
    taken = C * k[0] * k[1] >= batched_conv.MIN_K
    assert names.count("BatchedCorr") == (3 if taken else 0), names
    assert any(n.startswith("CorrMM") for n in names) != taken, names
    for g, want in zip(f(x, w, dy), theirs):
        _close(g, want)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind 'sideways'"):
        BatchedCorr("sideways", (3, 3))
    with pytest.raises(ValueError, match=r"stride \(0, 1\)"):
        BatchedCorr("forward", (3, 3), (0, 1))
    with pytest.raises(TypeError, match="input size"):
        BatchedCorr("grad_inputs", (3, 3))(T.tensor4(), T.tensor4())
    xv, wv = T.tensor4(), T.tensor4()
    f = theano.function([xv, wv], BatchedCorr("forward", (3, 3), (1, 1), (1, 1))(xv, wv))
    with pytest.raises(ValueError, match=r"filters \(4, 2, 3, 3\) for 3 input channels"):
        f(np.zeros((1, 3, 5, 5), "float32"), np.zeros((4, 2, 3, 3), "float32"))
    with pytest.raises(ValueError, match="smaller than the 3 x 3 filters"):
        BatchedCorr("forward", (3, 3))(xv, wv).eval({xv: np.zeros((1, 2, 2, 2), "float32"),
                                                     wv: np.zeros((4, 2, 3, 3), "float32")})
