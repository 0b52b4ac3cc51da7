"""Cross-channel local response normalisation as one C op, and its gradient as another.

``y[c] = x[c] / (k + alpha * sum_{j in window(c)} x[j]^2) ** beta`` with
``window(c) = [c - n//2, c - n//2 + n)`` (channels outside the map count as zero): Lasagne's
``LocalResponseNormalization2DLayer`` (its alpha is *not* divided by ``n``). Lasagne builds it
from a zero-padded copy, ``n`` shifted slices, a power and a division, and Theano's gradient of
that graph is a dozen elementwise passes more; here the forward pass is one pass per output
plane over its ``n`` neighbours (OpenMP over (image, channel) planes) and the gradient

``gx[c] = gy[c] s[c]^-beta - 2 alpha beta x[c] sum_{j : c in window(j)} gy[j] x[j] s[j]^(-beta-1)``

is one pass per image (OpenMP over images). The results are Lasagne's to float32 rounding
(``tests/nn/test_lrn.py`` checks both ops against Lasagne's graph and its Theano gradient, and
the gradient against finite differences). ``perform`` is the numpy version used when no C
compiler is available. :class:`LRNLayer` is Lasagne's layer computed by these ops.
"""
import numpy as np

from ..backend import T, lasagne
from . import csource
from theano.gof import Apply, OpenMPOp


def _pow_beta(beta):
    """C for ``s ** beta``: two square roots for the usual 0.75 (a few ulps of ``powf``)."""
    if float(beta) == 0.75:
        return "sqrtf(s) * sqrtf(sqrtf(s))"
    return "powf(s, (float)(%r))" % float(beta)


def reference_scale(x, n, alpha, k):
    """numpy: ``k + alpha * sum of x^2`` over each channel's window (float64 inside)."""
    x = np.asarray(x, np.float64)
    C, lo = x.shape[1], n // 2
    sq = x * x
    s = np.zeros_like(x)
    for c in range(C):
        j0, j1 = max(0, c - lo), min(C, c - lo + n)
        s[:, c] = sq[:, j0:j1].sum(axis=1)
    return k + alpha * s


class _LRNBase(OpenMPOp):
    __props__ = ("n", "alpha", "beta", "k")

    def __init__(self, n, alpha, beta, k, openmp=None):
        super(_LRNBase, self).__init__(openmp=openmp)
        self.n, self.alpha, self.beta, self.k = int(n), float(alpha), float(beta), float(k)
        if self.n < 1:
            raise ValueError("LRN: window n=%r, expected a positive integer" % (n,))

    def c_headers(self):
        return ["<math.h>", "<stdlib.h>"] + super(_LRNBase, self).c_headers()

    def _values(self, name, sub, **names):
        return dict(names, name=name, fail=sub["fail"], n=self.n, lo=self.n // 2, alpha=repr(self.alpha),
                    beta=repr(self.beta), k=repr(self.k), pow_beta=_pow_beta(self.beta),
                    omp="#pragma omp parallel for schedule(static)" if self.openmp else "")


class LRN(_LRNBase):
    """``LRN(n, alpha, beta, k)(x)``: x 4D float32 (B, C, H, W) -> the normalised x."""

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.ndim != 4 or x.dtype != "float32":
            raise TypeError("LRN takes a 4D float32 tensor, got %s" % x.type)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        x, = inputs
        s = reference_scale(x, self.n, self.alpha, self.k)
        outputs[0][0] = (x / s ** self.beta).astype(np.float32)

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def grad(self, inputs, grads):
        x, = inputs
        gy, = grads
        return [LRNGrad(self.n, self.alpha, self.beta, self.k)(x, gy)]

    def c_code_cache_version(self):
        return (csource.source_version("lrn.c"), self.openmp)

    def c_code(self, node, name, inp, out, sub):
        return csource.render("lrn.c", self._values(name, sub, x=inp[0], y=out[0]))


class LRNGrad(_LRNBase):
    """``LRNGrad(n, alpha, beta, k)(x, gy)``: the gradient of :class:`LRN` at ``x`` given the
    output's gradient ``gy`` (both (B, C, H, W) float32)."""

    def make_node(self, x, gy):
        x, gy = T.as_tensor_variable(x), T.as_tensor_variable(gy)
        if x.ndim != 4 or gy.ndim != 4 or x.dtype != "float32" or gy.dtype != "float32":
            raise TypeError("LRNGrad takes two 4D float32 tensors, got %s and %s" % (x.type, gy.type))
        return Apply(self, [x, gy], [x.type()])

    def perform(self, node, inputs, outputs):
        x, gy = (np.asarray(v, np.float64) for v in inputs)
        s = reference_scale(x, self.n, self.alpha, self.k)
        t = gy * x * s ** (-self.beta - 1)
        C, lo = x.shape[1], self.n // 2
        acc = np.zeros_like(x)
        for c in range(C):
            j0, j1 = max(0, c + lo - self.n + 1), min(C, c + lo + 1)
            acc[:, c] = t[:, j0:j1].sum(axis=1)
        outputs[0][0] = (gy * s ** (-self.beta) - 2 * self.alpha * self.beta * x * acc).astype(np.float32)

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def c_code_cache_version(self):
        return (csource.source_version("lrn_grad.c"), self.openmp)

    def c_code(self, node, name, inp, out, sub):
        return csource.render("lrn_grad.c", self._values(name, sub, x=inp[0], gy=inp[1], gx=out[0]))


class LRNLayer(lasagne.layers.LocalResponseNormalization2DLayer):
    """Lasagne's cross-channel normalisation layer (same parameters, same class for anything
    that checks it), computed by :class:`LRN` (float32 4D inputs; others by Lasagne's graph)."""

    def get_output_for(self, input, **kwargs):
        if input.ndim == 4 and input.dtype == "float32":
            return LRN(self.n, self.alpha, self.beta, self.k)(input)
        return super(LRNLayer, self).get_output_for(input, **kwargs)
