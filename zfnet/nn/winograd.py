"""Stride-1 3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3): a C op and the
graph rewrite that uses it.

A 3x3 correlation computes each 2x2 block of outputs from a 4x4 block of inputs with
36 multiplications per (input, output) channel pair; Winograd's F(2x2, 3x3) (Lavin &
Gray 2016) needs 16. The input blocks and the filters are transformed (additions only),
the 16 products become 16 matrix products over channels (one BLAS ``sgemm`` each), and
the output transform (additions only) gives the 2x2 outputs. 2.25x fewer multiply-adds
go through the matrix product, which is what bounds a convolution here.

:class:`Winograd3x3` computes ``correlate(x, F, pad)`` where ``F`` is built from
a layer's weights ``W (K, C, 3, 3)``:

* ``transposed=False``: ``F = W`` (flipped if ``flip``), ``x`` has C channels, the
  output K; a layer's forward convolution;
* ``transposed=True``: ``F[c, k] = W[k, c]`` (flipped if ``flip``), ``x`` has K
  channels, the output C, and the padding is ``2 - pad``: the **transposed**
  convolution of a stride-1 layer with padding ``pad``, the deconvnet's step down.

The work is split into chunks of 2x2 output blocks, small enough that a chunk's
transformed inputs and products stay in cache; the chunks run in parallel with OpenMP,
each with a single-threaded ``sgemm``.

The rewrite :func:`local_winograd_conv` replaces Theano's ``AbstractConv2d`` and
``AbstractConv2d_gradInputs`` nodes of 3x3 filters, stride 1, no dilation and no groups
by this op. It is registered under the tag ``zfnet_winograd`` only, so it applies where a
function is compiled with ``mode.including('zfnet_winograd')`` (:data:`TAG`): the
deconvnet's projections (:mod:`zfnet.vis.deconv`). The projection graph is still built
with ``conv2d_grad_wrt_inputs``; the op is how it is computed. Training and evaluation
keep Theano's own convolutions. The results differ from the direct convolution's by
float32 rounding only (relative 1e-6; ``tests/nn/test_winograd.py`` checks them against
float64 references).
"""
import numpy as np

from ..backend import T, theano
from . import csource
from .blas_op import BlasOp
from .shapes import border_padding
from theano.gof import Apply
from theano.tensor.blas import blas_header_version

TAG = "zfnet_winograd"
#: also rewrite forward convolutions (off: a projection's forward pass, hence its
#: activations, top-k choice and switches, stays bit-identical to the rest of the package)
FORWARD = False


def reference_correlate(x, F, pad):
    """float64 numpy: ``x (N, C, H, W)`` correlated with ``F (K, C, 3, 3)``, zero padding ``pad``."""
    x = np.pad(np.asarray(x, np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, C, H, W = x.shape
    Ho, Wo = H - 2, W - 2
    out = np.zeros((N, F.shape[0], Ho, Wo))
    for i in range(3):
        for j in range(3):
            out += np.einsum("nchw,kc->nkhw", x[:, :, i:i + Ho, j:j + Wo], F[:, :, i, j])
    return out


class Winograd3x3(BlasOp):
    """See the module docstring. Inputs ``x (N, Cin, H, W)``, ``W (K, C, 3, 3)``, float32."""

    __props__ = ("pad", "transposed", "flip")

    def __init__(self, pad, transposed, flip, openmp=None):
        super(Winograd3x3, self).__init__(openmp=openmp)
        self.pad, self.transposed, self.flip = int(pad), bool(transposed), bool(flip)
        if not 0 <= self.pad <= 2:
            raise ValueError("Winograd3x3: pad %r, expected 0, 1 or 2" % (pad,))

    @property
    def corr_pad(self):
        """The padding of the correlation the op computes (a transposed pad p is a full 2 - p)."""
        return 2 - self.pad if self.transposed else self.pad

    def make_node(self, *inputs):
        """``op(x, w)``: x 4D (N, Cin, H, W) -> (N, Cout, Ho, Wo). ``op(x1, ..., xm, w)``: each
        x 5D (B, R_i, Cin, H, W) -> (B, R_1 + ... + R_m, Cout, Ho, Wo), the result on the
        concatenation of the parts along axis 1, without making it (the deconvnet's signals
        of several layers joining the batch)."""
        if len(inputs) < 2:
            raise TypeError("Winograd3x3 takes one or more inputs and the filters")
        xs, w = [T.as_tensor_variable(v) for v in inputs[:-1]], T.as_tensor_variable(inputs[-1])
        nd = xs[0].ndim
        if w.ndim != 4 or w.dtype != "float32" or nd not in (4, 5) or (nd == 4 and len(xs) > 1) \
                or any(x.ndim != nd or x.dtype != "float32" for x in xs):
            raise TypeError("Winograd3x3 takes float32 filters and one 4D float32 input or 5D float32 "
                            "parts, got %s" % ", ".join(str(v.type) for v in inputs))
        bc = (xs[0].broadcastable[0],) + (False,) * (nd - 1)
        return Apply(self, xs + [w], [T.TensorType("float32", bc)()])
    def filters(self, w):
        """The correlation filters (Cout, Cin, 3, 3) this op applies, from the weights ``w``."""
        F = np.swapaxes(w, 0, 1) if self.transposed else w
        return F[:, :, ::-1, ::-1] if self.flip else F

    def perform(self, node, inputs, outputs):
        xs, w = inputs[:-1], inputs[-1]
        F = self.filters(w)
        if any(x.shape[-3] != F.shape[1] for x in xs) or w.shape[2:] != (3, 3):
            raise ValueError("Winograd3x3: %d input channels for filters %r" % (xs[0].shape[-3], w.shape))
        if xs[0].ndim == 4:
            outputs[0][0] = reference_correlate(xs[0], F, self.corr_pad).astype(np.float32)
            return
        x = np.concatenate(xs, axis=1)
        B, R = x.shape[:2]
        y = reference_correlate(x.reshape((B * R,) + x.shape[2:]), F, self.corr_pad)
        outputs[0][0] = y.reshape((B, R) + y.shape[1:]).astype(np.float32)

    def infer_shape(self, node, shapes):
        q = self.corr_pad
        wshape = shapes[-1]
        cout = wshape[1] if self.transposed else wshape[0]
        H, W = shapes[0][-2:]
        if len(shapes[0]) == 4:
            return [(shapes[0][0], cout, H + 2 * q - 2, W + 2 * q - 2)]
        R = shapes[0][1]
        for sh in shapes[1:-1]:
            R = R + sh[1]
        return [(shapes[0][0], R, cout, H + 2 * q - 2, W + 2 * q - 2)]

    def grad(self, inputs, grads):
        return [theano.gradient.grad_not_implemented(self, i, v) for i, v in enumerate(inputs)]

    # ---------------------------------------------------------------- C
    def c_code_cache_version(self):
        return (csource.source_version("winograd.c"), self.openmp, blas_header_version())

    def c_code(self, node, name, inp, out, sub):
        xs, w = inp[:-1], inp[-1]
        o, = out
        fail = sub["fail"]
        m = len(xs)
        nd = node.inputs[0].ndim
        q = self.corr_pad
        transposed = int(self.transposed)
        flip = int(self.flip)
        omp_parallel = "#pragma omp parallel" if self.openmp else ""
        omp_for = "#pragma omp for schedule(dynamic, 1)" if self.openmp else ""
        omp_for_static = "#pragma omp parallel for schedule(static)" if self.openmp else ""
        take = "\n".join("xc[%d] = PyArray_GETCONTIGUOUS(%s);" % (i, x) for i, x in enumerate(xs))
        return csource.render("winograd.c", dict(locals(), **self.blas_thread_values()))


def _corr_pad(border_mode):
    """Padding of a 3x3 layer as an int, or None if it is not one padding on all sides."""
    pad = border_padding(border_mode, (3, 3))
    return pad[0] if pad is not None and pad[0] == pad[1] else None


#: fewer output channels than this: the direct convolution is faster (its output is small,
#: while Winograd's transforms still read and expand every input channel; measured 0.06 s vs
#: 0.19 s for VGG16's block1_conv1 transposed to its 3 channels, break-even near 16)
MIN_OUT_CHANNELS = 16


def takes(filter_shape, stride, pad, transposed=True):
    """Whether :class:`Winograd3x3` computes a layer's (transposed, by default) convolution:
    filters ``(K, C, 3, 3)``, stride 1, one padding ``pad`` of 0-2 on all sides (None: not
    one), and at least :data:`MIN_OUT_CHANNELS` output channels (C when transposed, else K).
    The one rule for the graph rewrite and the deconvnet's walk."""
    if filter_shape is None or len(filter_shape) != 4 or tuple(filter_shape[2:]) != (3, 3):
        return False
    out_channels = filter_shape[1] if transposed else filter_shape[0]
    return (tuple(stride) == (1, 1) and pad is not None and 0 <= pad <= 2
            and out_channels is not None and out_channels >= MIN_OUT_CHANNELS)


def _eligible(op, transposed):
    return (tuple(op.filter_dilation) == (1, 1) and getattr(op, "num_groups", 1) == 1
            and not getattr(op, "unshared", False)
            and takes(getattr(op, "kshp", None), op.subsample, _corr_pad(op.border_mode), transposed))


def local_winograd_conv(node, forward=None):
    """Theano local rewrite: a 3x3 stride-1 ``AbstractConv2d`` (forward; only when ``forward``,
    default :data:`FORWARD`) or ``AbstractConv2d_gradInputs`` (transposed) -> :class:`Winograd3x3`."""
    from theano.tensor.nnet.abstract_conv import AbstractConv2d, AbstractConv2d_gradInputs
    op = node.op
    if not isinstance(op, (AbstractConv2d, AbstractConv2d_gradInputs)) \
            or not _eligible(op, isinstance(op, AbstractConv2d_gradInputs)):
        return False
    if node.outputs[0].dtype != "float32" or any(i.dtype != "float32" for i in node.inputs[:2]):
        return False
    pad = _corr_pad(op.border_mode)
    if isinstance(op, AbstractConv2d) and not (FORWARD if forward is None else forward):
        return False
    if isinstance(op, AbstractConv2d):
        img, kern = node.inputs
        # filter_flip: a true convolution, i.e. the correlation with the flipped filters
        return [Winograd3x3(pad, False, bool(op.filter_flip))(img, kern)]
    kern, top = node.inputs[:2]
    # the transpose of a correlation correlates with the flipped, channel-swapped filters;
    # of a convolution (filter_flip) with the unflipped ones
    return [Winograd3x3(pad, True, not op.filter_flip)(top, kern)]


#: the tag of the rewrite that also takes forward convolutions (training: the forward pass and
#: the input gradient; the weight gradient stays Theano's)
TAG_ALL = TAG + "_all"


def register():
    """Register :func:`local_winograd_conv` under :data:`TAG` (transposed convolutions, and
    forward ones if :data:`FORWARD`) and under :data:`TAG_ALL` (both), idempotent, before
    Theano's own conversion of abstract convolutions to CorrMM."""
    from theano.compile import optdb
    from theano.gof.opt import TopoOptimizer, local_optimizer
    if TAG + "_rewrite" in optdb.__db__:
        return
    from theano.tensor.nnet.abstract_conv import AbstractConv2d, AbstractConv2d_gradInputs
    ops = [AbstractConv2d, AbstractConv2d_gradInputs]
    lopt = local_optimizer(ops)(local_winograd_conv)
    lopt_all = local_optimizer(ops)(lambda node: local_winograd_conv(node, forward=True))
    # specialize_device (where AbstractConv2d becomes CorrMM) is at 48.6
    optdb.register(TAG + "_rewrite", TopoOptimizer(lopt), 48.55, TAG)
    optdb.register(TAG_ALL + "_rewrite", TopoOptimizer(lopt_all), 48.56, TAG_ALL)


def mode_with_winograd(mode=None, forward=False):
    """``mode`` (default: Theano's) with the Winograd rewrite included: transposed
    convolutions, and with ``forward`` the forward ones too."""
    register()
    mode = mode or theano.compile.mode.get_default_mode()
    return mode.including(TAG_ALL if forward else TAG)
