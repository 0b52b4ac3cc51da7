"""The fused LRN ops against Lasagne's own layer (its graph and Theano's gradient of it), their
numpy twins, and finite differences."""
import numpy as np
import pytest

from zfnet.backend import T, lasagne, theano
from zfnet.nn.lrn import LRN, LRNGrad, LRNLayer

PARAMS = [dict(n=5, alpha=1e-4, beta=0.75, k=2.0),   # Krizhevsky's, every config here
          dict(n=3, alpha=0.01, beta=0.75, k=1.0),   # the tests' tiny config
          dict(n=5, alpha=0.05, beta=0.6, k=1.5)]    # a beta other than 0.75: powf


def _lasagne(p, shape):
    x = T.tensor4("x")
    layer = lasagne.layers.LocalResponseNormalization2DLayer(lasagne.layers.InputLayer(shape, x), **p)
    return x, lasagne.layers.get_output(layer)


@pytest.mark.parametrize("p", PARAMS)
@pytest.mark.parametrize("shape", [(3, 7, 5, 4), (2, 2, 3, 3), (1, 12, 1, 1)])
def test_forward_and_gradient_match_lasagnes_graph(p, shape):
    rng = np.random.RandomState(len(shape) + shape[1])
    xv = (rng.randn(*shape) * 3).astype("float32")  # large enough that the normalisation bites
    gv = rng.randn(*shape).astype("float32")
    x, ref = _lasagne(p, shape)
    g = T.tensor4("g")
    ours = LRN(**p)(x)
    f = theano.function([x, g], [ref, ours, theano.grad(None, x, known_grads={ref: g}),
                                 theano.grad(None, x, known_grads={ours: g})])
    y_ref, y, gx_ref, gx = f(xv, gv)
    assert any(type(n.op).__name__ == "LRNGrad" for n in f.maker.fgraph.toposort())
    np.testing.assert_allclose(y, y_ref, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(gx, gx_ref, rtol=1e-5, atol=1e-6)
    # the numpy twins (perform), the same numbers
    out = [[None]]
    LRN(**p).perform(None, [xv], out)
    np.testing.assert_allclose(out[0][0], y_ref, rtol=2e-6, atol=1e-7)
    LRNGrad(**p).perform(None, [xv, gv], out)
    np.testing.assert_allclose(out[0][0], gx_ref, rtol=1e-5, atol=1e-6)


def test_gradient_by_finite_differences_in_float64():
    p = PARAMS[2]
    rng = np.random.RandomState(0)
    x = rng.randn(2, 6, 3, 2) * 2
    g = rng.randn(*x.shape)
    out = [[None]]
    LRNGrad(**p).perform(None, [x.astype("float32"), g.astype("float32")], out)
    from zfnet.nn.lrn import reference_scale

    def f(v):
        return (g * v / reference_scale(v, p["n"], p["alpha"], p["k"]) ** p["beta"]).sum()
    eps, num = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x); d[i] = eps
        num[i] = (f(x + d) - f(x - d)) / (2 * eps)
    np.testing.assert_allclose(out[0][0], num, rtol=1e-4, atol=1e-5)


def test_layer_is_lasagnes_class_and_the_model_uses_it():
    from zfnet.nn import configs, model
    net = model.build(configs.get_config("small"))
    assert isinstance(net["norm1"], LRNLayer)
    assert isinstance(net["norm1"], lasagne.layers.LocalResponseNormalization2DLayer)
    x = T.tensor4()
    f = theano.function([x], lasagne.layers.get_output(net["norm1"], x))
    ops = [type(n.op).__name__ for n in f.maker.fgraph.toposort()]
    assert "LRN" in ops and not {"Alloc", "IncSubtensor", "AllocEmpty"} & set(ops), ops
    with pytest.raises(TypeError, match="4D float32"):
        LRN(5, 1e-4, 0.75, 2.0)(T.matrix())
