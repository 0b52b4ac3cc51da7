"""Convolutions as one matrix product per chunk of images: a C op and the graph rewrite that
uses it in training.

Theano's ``CorrMM`` (Caffe's im2col scheme) does one matrix product per image, each on one
thread. On small maps those products are small: a 3x3 layer of 96 channels on 7x7 maps is a
(96 x 864) . (864 x 49) product per image, which a BLAS runs at a fraction of its speed.
:class:`BatchedCorr` lays the im2col columns of a chunk of images side by side
(``K x (images * pixels)``) and does one product per chunk; the chunks are shared out among the
OpenMP threads, each with a single-threaded ``sgemm``:

* ``kind="forward"``: ``y = correlate(x, w)``, stride and zero padding as the layer's;
* ``kind="grad_weights"``: the gradient of that with respect to ``w`` given ``dy``;
* ``kind="grad_inputs"``: with respect to ``x`` (a transposed convolution), given ``dy``
  and the input size.

A chunk's columns take about :data:`CHUNK_FLOATS` floats (at least one image, at most a
thread's share of the batch). The weight gradient adds each thread's partial sum in thread
order, so a run repeats bit for bit with the same number of threads. Results agree with
``CorrMM`` to float32 rounding (``tests/nn/test_batched_conv.py``: against float64 numpy, a
loop over the definition, the adjoint identity and Theano's own convolutions).

The rewrite :func:`local_batched_conv` replaces Theano's abstract convolutions (forward, weight
gradient, input gradient; no dilation, no groups, known filter size) by this op. It is
registered under the tag :data:`TAG` only: ``Trainer(conv="batched")`` and ``zfnet train
--conv batched`` compile the training step with it.
"""
import numpy as np

from ..backend import T, theano
from . import csource
from .blas_op import BlasOp
from .shapes import border_padding, conv_output_length
from theano.gof import Apply
from theano.tensor.blas import blas_header_version

TAG = "zfnet_batched_conv"
KINDS = ("forward", "grad_weights", "grad_inputs")
#: rows of the im2col columns (input channels x filter size) below which CorrMM is kept (a
#: first layer on one channel: its products are too thin to gain from batching)
MIN_K = 64
#: about how many floats a chunk's im2col columns take (1 MiB, half a core's L2 cache here: of 1,
#: 4 and 16 MiB, the fastest `small` train step at batch 128, 1.2x the 4 MiB one, and as fast at 32)
CHUNK_FLOATS = 256 * 1024


def _patches(x, kshape, stride, pad):
    """float64 (N, C, kh, kw, Ho, Wo): the input under each filter position."""
    (kh, kw), (sh, sw), (ph, pw) = kshape, stride, pad
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    Ho, Wo = conv_output_length(x.shape[2], kh, sh, 0), conv_output_length(x.shape[3], kw, sw, 0)
    out = np.empty(x.shape[:2] + (kh, kw, Ho, Wo))
    for i in range(kh):
        for j in range(kw):
            out[:, :, i, j] = x[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw]
    return out


def reference_forward(x, w, stride, pad):
    """float64 numpy: the correlation of ``x (N, C, H, W)`` with ``w (M, C, kh, kw)``."""
    return np.einsum("ncijhw,mcij->nmhw", _patches(x, w.shape[2:], stride, pad), np.asarray(w, np.float64))


def reference_grad_weights(x, dy, kshape, stride, pad):
    """float64 numpy: d(sum(dy * correlate(x, w))) / dw, shape (M, C, kh, kw)."""
    return np.einsum("ncijhw,nmhw->mcij", _patches(x, kshape, stride, pad), np.asarray(dy, np.float64))


def reference_grad_inputs(w, dy, in_shape, stride, pad):
    """float64 numpy: d(sum(dy * correlate(x, w))) / dx for inputs of ``in_shape (H, W)``."""
    w = np.asarray(w, np.float64)
    dy = np.asarray(dy, np.float64)
    (_, C, kh, kw), (sh, sw), (ph, pw) = w.shape, stride, pad
    H, W = in_shape
    N, _, Ho, Wo = dy.shape
    dxp = np.zeros((N, C, H + 2 * ph + sh, W + 2 * pw + sw))
    contrib = np.einsum("mcij,nmhw->ncijhw", w, dy)
    for i in range(kh):
        for j in range(kw):
            dxp[:, :, i:i + sh * (Ho - 1) + 1:sh, j:j + sw * (Wo - 1) + 1:sw] += contrib[:, :, i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W]


class BatchedCorr(BlasOp):
    """See the module docstring. ``BatchedCorr("forward", (kh, kw), stride, pad)(x, w)``,
    ``BatchedCorr("grad_weights", ...)(x, dy)``, ``BatchedCorr("grad_inputs", ...)(w, dy, (H, W))``;
    float32 4D tensors."""

    __props__ = ("kind", "kshape", "stride", "pad")

    def __init__(self, kind, kshape, stride=(1, 1), pad=(0, 0), openmp=None):
        super(BatchedCorr, self).__init__(openmp=openmp)
        if kind not in KINDS:
            raise ValueError("BatchedCorr: kind %r, expected one of %s" % (kind, ", ".join(KINDS)))
        self.kind = kind
        self.kshape, self.stride, self.pad = (tuple(int(v) for v in t) for t in (kshape, stride, pad))
        if len(self.kshape) != 2 or min(self.kshape) < 1 or len(self.stride) != 2 or min(self.stride) < 1 \
                or len(self.pad) != 2 or min(self.pad) < 0:
            raise ValueError("BatchedCorr: filter size %r, stride %r, padding %r; expected two positive "
                             "sizes, two positive strides and two non-negative paddings"
                             % (kshape, stride, pad))

    def make_node(self, a, b, shape=None):
        a, b = T.as_tensor_variable(a), T.as_tensor_variable(b)
        if a.ndim != 4 or b.ndim != 4 or a.dtype != "float32" or b.dtype != "float32":
            raise TypeError("BatchedCorr takes two 4D float32 tensors, got %s and %s" % (a.type, b.type))
        inputs = [a, b]
        if self.kind == "grad_inputs":
            if shape is None:
                raise TypeError("BatchedCorr('grad_inputs') needs the input size (H, W)")
            shape = T.as_tensor_variable(shape)
            if shape.ndim != 1 or shape.dtype not in T.integer_dtypes:
                raise TypeError("BatchedCorr: the input size must be a vector of 2 ints, got %s" % shape.type)
            inputs.append(shape)
        elif shape is not None:
            raise TypeError("BatchedCorr(%r) takes no size" % self.kind)
        if self.kind == "forward":
            bc = (a.broadcastable[0], b.broadcastable[0], False, False)
        elif self.kind == "grad_weights":
            bc = (b.broadcastable[1], a.broadcastable[1], False, False)
        else:
            bc = (b.broadcastable[0], a.broadcastable[1], False, False)
        return Apply(self, inputs, [T.TensorType("float32", bc)()])

    def perform(self, node, inputs, outputs):
        if self.kind == "forward":
            y = reference_forward(inputs[0], inputs[1], self.stride, self.pad)
        elif self.kind == "grad_weights":
            y = reference_grad_weights(inputs[0], inputs[1], self.kshape, self.stride, self.pad)
        else:
            y = reference_grad_inputs(inputs[0], inputs[1], tuple(int(v) for v in inputs[2]),
                                      self.stride, self.pad)
        outputs[0][0] = y.astype(np.float32)

    def infer_shape(self, node, shapes):
        (kh, kw), (sh, sw), (ph, pw) = self.kshape, self.stride, self.pad
        a, b = shapes[:2]
        if self.kind == "forward":
            return [(a[0], b[0], conv_output_length(a[2], kh, sh, ph), conv_output_length(a[3], kw, sw, pw))]
        if self.kind == "grad_weights":
            return [(b[1], a[1], kh, kw)]
        size = node.inputs[2]
        return [(b[0], a[1], size[0], size[1])]

    def grad(self, inputs, grads):
        return [theano.gradient.grad_not_implemented(self, i, v) for i, v in enumerate(inputs)]

    # ---------------------------------------------------------------- C
    def c_code_cache_version(self):
        return (csource.source_version("batched_corr.c"), self.openmp, CHUNK_FLOATS, blas_header_version())

    def c_code(self, node, name, inp, out, sub):
        a, b = inp[:2]
        o, = out
        kind = KINDS.index(self.kind)
        (kh, kw), (sh, sw), (ph, pw) = self.kshape, self.stride, self.pad
        read_shape = ""
        if self.kind == "grad_inputs":
            s = inp[2]
            read_shape = ("if (PyArray_DIMS(%(s)s)[0] != 2) { PyErr_SetString(PyExc_ValueError, "
                          "\"BatchedCorr: the input size must have 2 entries\"); ok = 0; } "
                          "else { H = (npy_intp)*(dtype_%(s)s*)PyArray_GETPTR1(%(s)s, 0); "
                          "W = (npy_intp)*(dtype_%(s)s*)PyArray_GETPTR1(%(s)s, 1); }" % {"s": s})
        values = dict(
            kind=kind, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, a=a, b=b, o=o, fail=sub["fail"],
            read_shape=read_shape, chunk_floats="((npy_intp)%d)" % CHUNK_FLOATS,
            omp_parallel="#pragma omp parallel" if self.openmp else "",
            omp_for="#pragma omp for schedule(static)" if self.openmp else "",
            get_max_threads="nthreads = omp_get_max_threads();" if self.openmp else "",
            thread_id="tid = omp_get_thread_num();" if self.openmp else "", **self.blas_thread_values())
        return csource.render("batched_corr.c", values)


def _kshape(op):
    kshp = getattr(op, "kshp", None)
    if kshp is None or len(kshp) != 4 or any(v is None for v in kshp[2:]):
        return None
    return (int(kshp[2]), int(kshp[3]))


def local_batched_conv(node):
    """Theano local rewrite: ``AbstractConv2d`` and its two gradients -> :class:`BatchedCorr`
    (no dilation, no groups, a known filter size, float32)."""
    from theano.tensor.nnet.abstract_conv import (AbstractConv2d, AbstractConv2d_gradInputs,
                                                  AbstractConv2d_gradWeights)
    op = node.op
    if not isinstance(op, (AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights)):
        return False
    if tuple(op.filter_dilation) != (1, 1) or getattr(op, "num_groups", 1) != 1 \
            or getattr(op, "unshared", False):
        return False
    kshape = _kshape(op)
    pad = border_padding(op.border_mode, kshape) if kshape else None
    if pad is None or node.outputs[0].dtype != "float32" or any(i.dtype != "float32" for i in node.inputs[:2]):
        return False
    channels = op.kshp[1]
    if channels is not None and channels * kshape[0] * kshape[1] < MIN_K:
        return False
    stride = tuple(int(s) for s in op.subsample)
    flip = bool(op.filter_flip)  # a true convolution: the correlation with flipped filters
    if isinstance(op, AbstractConv2d):
        img, kern = node.inputs
        if flip:
            kern = kern[:, :, ::-1, ::-1]
        return [BatchedCorr("forward", kshape, stride, pad)(img, kern)]
    if isinstance(op, AbstractConv2d_gradWeights):
        img, top = node.inputs[:2]
        dw = BatchedCorr("grad_weights", kshape, stride, pad)(img, top)
        return [dw[:, :, ::-1, ::-1] if flip else dw]
    kern, top, shape = node.inputs
    if flip:
        kern = kern[:, :, ::-1, ::-1]
    return [BatchedCorr("grad_inputs", kshape, stride, pad)(kern, top, T.cast(shape[-2:], "int64"))]


def register():
    """Register :func:`local_batched_conv` under :data:`TAG`, idempotent, after the Winograd
    rewrite (which it leaves its nodes) and before Theano's conversion to ``CorrMM``."""
    from theano.compile import optdb
    from theano.gof.opt import TopoOptimizer, local_optimizer
    if TAG + "_rewrite" in optdb.__db__:
        return
    from theano.tensor.nnet.abstract_conv import (AbstractConv2d, AbstractConv2d_gradInputs,
                                                  AbstractConv2d_gradWeights)
    lopt = local_optimizer([AbstractConv2d, AbstractConv2d_gradInputs, AbstractConv2d_gradWeights])(
        local_batched_conv)
    # the Winograd rewrites are at 48.55 and 48.56, specialize_device (-> CorrMM) at 48.6
    optdb.register(TAG + "_rewrite", TopoOptimizer(lopt), 48.58, TAG)


def mode_with_batched(mode=None):
    """``mode`` (default: Theano's) with the batched rewrite included."""
    register()
    mode = mode or theano.compile.mode.get_default_mode()
    return mode.including(TAG)
