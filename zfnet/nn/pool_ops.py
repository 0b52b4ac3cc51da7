"""Max-pooling that records its switches, and unpooling with them: two C ops.

``MaxPoolSwitches``: ``x (B, C, H, W) -> (pooled (B, C, Ho, Wo), switches (B, C, Ho, Wo) int32)``.
A switch is the flat index ``y * W + x`` within the H x W map of the **first
maximum in row-major order** of the window (Caffe's and PyTorch's choice), where
every value within :data:`TIE_RTOL` (relative to the window's maximum ``m``:
``v >= m - TIE_RTOL * |m|``) counts as a maximum. Positions that are equal in
exact arithmetic (a flat background, a sky) come out of the float32 convolution
a few ulps apart, depending on where they fall in the GEMM blocking; without the
tolerance, that rounding, not the image, would choose the switch.
``ignore_border=False`` is ceil mode (partial windows at the bottom/right are
pooled), Theano's rule for the output size.

``Unpool``: ``(g (N, C, Ho, Wo), switches (M, C, Ho, Wo)) -> (N, C, H, W)``:
each value is added at its window's switch (overlapping windows that share a
location add up). ``N`` may be a multiple of ``M``: rows ``n`` use the switches
of image ``n // (N / M)`` (the deconvnet's several projections per image).

The gradient of ``MaxPoolSwitches`` is ``Unpool``: the gradient goes to the one
switch of each window (Theano's own ``MaxPoolGrad`` feeds every tied maximum).
Both ops run in C, in parallel over the (image, channel) planes with OpenMP;
``perform`` is the numpy version used when no C compiler is available.
"""
import numpy as np

from ..backend import T, theano
from . import csource
from theano.gof import Apply, OpenMPOp

# the output-size rule of Lasagne and Theano's pooling (and of the C code below)
from .shapes import pool_output_length

# Values within this relative distance of a window's maximum are tied (the first wins): 1e-5 is
# about 80 float32 ulps, above the rounding differences of a float32 GEMM over thousands of
# products, and far below any difference an image makes.
TIE_RTOL = 1e-5


def first_near_max(values, axis=-1):
    """Index of the first value within :data:`TIE_RTOL` of the maximum along ``axis`` (numpy).

    Non-finite values, as the C op treats them: a NaN wins its window (the first NaN; the
    pooled value is NaN, as numpy's ``max`` propagates it); an infinite maximum is matched
    exactly (``m - TIE_RTOL * |m|`` would be NaN for ``+inf``)."""
    values = np.asarray(values)
    nan = np.isnan(values)
    v = np.where(nan, -np.inf, values)
    m = v.max(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        floor = np.where(np.isinf(m), m, m - TIE_RTOL * np.abs(m))
    best = (v >= floor).argmax(axis=axis)
    return np.where(nan.any(axis=axis), nan.argmax(axis=axis), best)
from theano.gradient import DisconnectedType, grad_not_implemented


class MaxPoolSwitches(OpenMPOp):
    """Square max-pooling (``ws`` x ``ws``, stride ``stride``, no padding) with switches."""

    __props__ = ("ws", "stride", "ignore_border")

    def __init__(self, ws, stride, ignore_border, openmp=None):
        super(MaxPoolSwitches, self).__init__(openmp=openmp)
        self.ws, self.stride, self.ignore_border = int(ws), int(stride), bool(ignore_border)

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        if x.ndim != 4 or x.dtype != "float32":
            raise TypeError("MaxPoolSwitches takes a 4D float32 tensor, got %s" % x.type)
        return Apply(self, [x], [x.type(), T.TensorType("int32", (False,) * 4)()])

    def perform(self, node, inputs, outputs):
        x, = inputs
        B, C, H, W = x.shape
        ws, s = self.ws, self.stride
        ho = pool_output_length(H, ws, s, 0, self.ignore_border)
        wo = pool_output_length(W, ws, s, 0, self.ignore_border)
        z = np.empty((B, C, ho, wo), x.dtype)
        sw = np.empty((B, C, ho, wo), np.int32)
        for i in range(ho):
            for j in range(wo):
                y0, x0 = i * s, j * s
                win = x[:, :, y0:min(y0 + ws, H), x0:min(x0 + ws, W)]
                h, w = win.shape[2:]
                a = first_near_max(win.reshape(B, C, h * w), axis=2)  # first (near-)maximum
                z[:, :, i, j] = win.reshape(B, C, h * w).max(axis=2)
                sw[:, :, i, j] = (y0 + a // w) * W + x0 + a % w
        outputs[0][0], outputs[1][0] = z, sw

    def infer_shape(self, node, shapes):
        B, C, H, W = shapes[0]
        ws, s, ib = self.ws, self.stride, self.ignore_border
        if ib:
            ho, wo = (H - ws) // s + 1, (W - ws) // s + 1
        elif s >= ws:
            ho, wo = (H - 1) // s + 1, (W - 1) // s + 1
        else:
            ho = T.maximum(0, (H - 1 - ws + s) // s) + 1
            wo = T.maximum(0, (W - 1 - ws + s) // s) + 1
        return [(B, C, ho, wo), (B, C, ho, wo)]

    def L_op(self, inputs, outputs, grads):
        x, = inputs
        gz, gsw = grads
        if isinstance(gz.type, DisconnectedType):
            return [x.zeros_like()]
        return [Unpool()(gz, outputs[1], x.shape[2], x.shape[3])]

    def connection_pattern(self, node):
        return [[True, False]]

    def c_headers(self):
        return ["<math.h>"] + super(MaxPoolSwitches, self).c_headers()

    def c_code_cache_version(self):
        return (csource.source_version("maxpool_switches.c"), self.openmp, TIE_RTOL)

    def c_code(self, node, name, inp, out, sub):
        x, = inp
        z, sw = out
        fail = sub["fail"]
        ws, s, ib = self.ws, self.stride, int(self.ignore_border)
        rtol = TIE_RTOL
        omp = "#pragma omp parallel for schedule(static)" if self.openmp else ""
        return csource.render("maxpool_switches.c", locals())


class Unpool(OpenMPOp):
    """Put ``g`` (N, C, Ho, Wo) at ``switches`` (M, C, Ho, Wo) of an (N, C, H, W) map."""

    __props__ = ()

    def make_node(self, g, switches, h, w):
        g = T.as_tensor_variable(g)
        switches = T.as_tensor_variable(switches)
        h, w = T.as_tensor_variable(h), T.as_tensor_variable(w)
        if g.ndim != 4 or g.dtype != "float32" or switches.ndim != 4 or switches.dtype != "int32":
            raise TypeError("Unpool takes a 4D float32 signal and 4D int32 switches, got %s, %s"
                            % (g.type, switches.type))
        return Apply(self, [g, switches, h, w], [g.type()])

    def perform(self, node, inputs, outputs):
        g, sw, h, w = inputs
        N, C, ho, wo = g.shape
        M = sw.shape[0]
        R = N // M
        out = np.zeros((N, C, int(h) * int(w)), g.dtype)
        idx = np.repeat(sw, R, axis=0).reshape(N, C, -1)
        for n in range(N):
            for c in range(C):
                np.add.at(out[n, c], idx[n, c], g[n, c].ravel())
        outputs[0][0] = out.reshape(N, C, int(h), int(w))

    def infer_shape(self, node, shapes):
        N, C = shapes[0][:2]
        return [(N, C, node.inputs[2], node.inputs[3])]

    def grad(self, inputs, grads):
        return [grad_not_implemented(self, 0, inputs[0]),
                theano.gradient.grad_undefined(self, 1, inputs[1]),
                theano.gradient.grad_undefined(self, 2, inputs[2]),
                theano.gradient.grad_undefined(self, 3, inputs[3])]

    def c_code_cache_version(self):
        return (csource.source_version("unpool.c"), self.openmp)

    def c_headers(self):
        return super(Unpool, self).c_headers() + ["<string.h>"]

    def c_code(self, node, name, inp, out, sub):
        g, sw, h, w = inp
        o, = out
        fail = sub["fail"]
        omp = "#pragma omp parallel for schedule(static)" if self.openmp else ""
        return csource.render("unpool.c", locals())


def max_pool_switches(x, pool_size, stride, ignore_border):
    """``(pooled, switches)`` of ``x`` (B, C, H, W); see :class:`MaxPoolSwitches`."""
    return MaxPoolSwitches(pool_size, stride, ignore_border)(x)


def unpool(g, switches, in_hw):
    """Unpool ``g`` (N, C, Ho, Wo) with ``switches`` (M, C, Ho, Wo) into (N, C, H, W)."""
    return Unpool()(g, switches, int(in_hw[0]), int(in_hw[1]))
