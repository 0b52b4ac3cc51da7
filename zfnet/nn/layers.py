"""Lasagne layers the project writes itself.

Lasagne 0.1's ``Conv2DLayer`` emulates padding by zero-padding the input
explicitly and always flips filters (true convolution). Ours passes the padding
to Theano's ``conv2d`` and uses **cross-correlation** (``filter_flip=False``),
so ``W`` is stored as Caffe/PyTorch/Keras-th store it:
``(out_channels, in_channels, h, w)``, no flip when importing or exporting.
"""
import numpy as np

from ..backend import T, lasagne
from ..errors import ConfigError


def conv_output_length(length, filter_size, stride, pad):
    """Output length of a convolution: ``(length + 2*pad - filter_size)//stride + 1``."""
    if length is None:
        return None
    return (length + 2 * pad - filter_size) // stride + 1


class Conv2DLayer(lasagne.layers.Layer):
    """2D cross-correlation with native padding and explicit shapes.

    Parameters
    ----------
    incoming : Layer or shape tuple, input ``(B, C, H, W)``
    num_filters : int
    filter_size : int or (int, int)
    stride : int or (int, int), default 1
    pad : int or (int, int), default 0 — zeros added on every side
    W, b : initialisers, arrays or shared variables. ``W`` is
        ``(num_filters, C, fh, fw)``; ``b`` is ``(num_filters,)`` or None.
    nonlinearity : callable or None (identity). The ZF models keep ReLUs as
        separate layers so backward rules can target them.

    Notes
    -----
    Output size per axis: ``(n + 2*pad - f) // stride + 1``.
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0,
                 W=None, b=None, nonlinearity=None, **kwargs):
        super(Conv2DLayer, self).__init__(incoming, **kwargs)
        _set_conv_hyperparameters(self, "2D convolution", num_filters, filter_size, stride, pad,
                                  nonlinearity)
        c = self.input_shape[1]
        self.W = self.add_param(
            W if W is not None else lasagne.init.HeUniform(gain="relu"),
            (self.num_filters, c) + self.filter_size, name="W")
        if b is False:
            self.b = None
        else:
            self.b = self.add_param(
                b if b is not None else lasagne.init.Constant(0.0),
                (self.num_filters,), name="b", regularizable=False)
        for axis, n in zip((2, 3), self.input_shape[2:]):
            f, p = self.filter_size[axis - 2], self.pad[axis - 2]
            if n is not None and n + 2 * p < f:
                raise ConfigError(
                    "Layer %r: input %s is %d (+2x%d padding) but the filter is %d; "
                    "input shape %r is too small for filter_size %r."
                    % (self.name, "height" if axis == 2 else "width", n, p, f,
                       self.input_shape, self.filter_size))

    def get_output_shape_for(self, input_shape):
        b, _, h, w = input_shape
        return (b, self.num_filters,
                conv_output_length(h, self.filter_size[0], self.stride[0], self.pad[0]),
                conv_output_length(w, self.filter_size[1], self.stride[1], self.pad[1]))

    def covers_input(self):
        """True when the filter spans the whole unpadded input, giving a 1x1 output
        (fc layers at the training size): then the layer is a plain matrix product."""
        return (tuple(self.input_shape[2:]) == self.filter_size and self.pad == (0, 0))

    def get_output_for(self, input, **kwargs):
        if self.covers_input():
            # (B, C*h*w) . (C*h*w, K): one GEMM over the batch. CorrMM would do B
            # rank-1 updates for the weight gradient (measured: fc6 of zf, batch 32,
            # 1.28 s per step that way).
            conved = T.dot(input.flatten(2), self.W.flatten(2).T).dimshuffle(0, 1, "x", "x")
        else:
            conved = T.nnet.conv2d(
                input, self.W, input_shape=self.input_shape,
                filter_shape=(self.num_filters, self.input_shape[1]) + self.filter_size,
                border_mode=self.pad, subsample=self.stride, filter_flip=False)
        if self.b is not None:
            conved = conved + self.b.dimshuffle("x", 0, "x", "x")
        return self.nonlinearity(conved)


class ChannelSoftmaxLayer(lasagne.layers.Layer):
    """Softmax over the channel axis at every spatial position.

    ``(B, K, H, W) -> (B, K, H, W)``; with a 1x1 map (the training input size)
    this is the ordinary class softmax, with a larger input a class-probability
    map.
    """

    def get_output_for(self, input, **kwargs):
        e = T.exp(input - input.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def log_softmax_channels(x):
    """Numerically stable log-softmax over axis 1 of a 4D tensor."""
    m = x.max(axis=1, keepdims=True)
    return x - m - T.log(T.exp(x - m).sum(axis=1, keepdims=True))


def _set_conv_hyperparameters(layer, what, num_filters, filter_size, stride, pad, nonlinearity):
    """Check the input is 4D and store the (parsed) hyper-parameters on ``layer``."""
    if len(layer.input_shape) != 4:
        raise ConfigError("Tried to create a %s layer %r with input shape %r. Expected 4 input "
                          "dimensions (batch, channels, height, width)."
                          % (what, layer.name, layer.input_shape))
    layer.num_filters = int(num_filters)
    layer.filter_size = _pair(filter_size, "filter_size")
    layer.stride = _pair(stride, "stride")
    layer.pad = _pair(pad, "pad", minimum=0)
    layer.nonlinearity = nonlinearity or (lambda x: x)


def _pair(v, what, minimum=1):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    try:
        v = tuple(int(x) for x in v)
    except TypeError:
        raise ConfigError("%s must be an int or a pair of ints, got %r" % (what, v))
    if len(v) != 2 or min(v) < minimum:
        raise ConfigError("%s must be an int or a pair of ints >= %d, got %r"
                          % (what, minimum, v))
    return v




class MaxPool2DLayer(lasagne.layers.MaxPool2DLayer):
    """Lasagne's max-pooling layer computed by :class:`zfnet.nn.pool_ops.MaxPoolSwitches`.

    Same output as Lasagne's (square windows, no padding); runs in parallel, and
    its gradient goes to the first maximum of each window (Caffe/PyTorch) instead
    of to every tied maximum. ``ignore_border=False`` is ceil mode.
    """

    def __init__(self, incoming, pool_size, stride=None, ignore_border=True, **kwargs):
        super(MaxPool2DLayer, self).__init__(incoming, pool_size, stride=stride,
                                             ignore_border=ignore_border, **kwargs)
        if self.pool_size[0] != self.pool_size[1] or self.stride[0] != self.stride[1]:
            raise ConfigError("Layer %r: pool_size %r and stride %r must be square"
                              % (self.name, self.pool_size, self.stride))

    def get_output_for(self, input, **kwargs):
        from .pool_ops import max_pool_switches
        return max_pool_switches(input, self.pool_size[0], self.stride[0], self.ignore_border)[0]


def check_transposed_shapes(name, signal_shape, filter_shape, input_shape, stride, pad):
    """Raise ValueError (naming the layer, the shapes received and expected) unless a
    convolution of ``input_shape`` with ``filter_shape`` gives ``signal_shape``.

    Shapes are (B, C, H, W) with None for unknown entries; ``filter_shape`` is
    (out_channels, in_channels, h, w) of the *forward* convolution.
    """
    k, c, fh, fw = filter_shape
    if signal_shape[1] is not None and signal_shape[1] != k:
        raise ConfigError(
            "Layer %r: transposed convolution of a signal with %d channels (shape %r) by filters "
            "of shape %r: the signal must have %d channels (the forward layer's outputs)."
            % (name, signal_shape[1], tuple(signal_shape), tuple(filter_shape), k))
    if input_shape[1] is not None and input_shape[1] != c:
        raise ConfigError("Layer %r: output shape %r has %d channels; filters %r make %d."
                          % (name, tuple(input_shape), input_shape[1], tuple(filter_shape), c))
    for ax, f in ((2, fh), (3, fw)):
        i, o = input_shape[ax], signal_shape[ax]
        if i is None or o is None:
            continue
        s, p = stride[ax - 2], pad[ax - 2]
        if (i + 2 * p - f) // s + 1 != o:
            lo, hi = s * (o - 1) + f - 2 * p, s * (o - 1) + f - 2 * p + s - 1
            raise ConfigError(
                "Layer %r: a %s of %d cannot come from a signal %s of %d with filter %d, stride "
                "%d, pad %d (signal shape %r, requested output shape %r); the output %s must be "
                "in [%d, %d]." % (name, "height" if ax == 2 else "width", i,
                                  "height" if ax == 2 else "width", o, f, s, p,
                                  tuple(signal_shape), tuple(input_shape),
                                  "height" if ax == 2 else "width", lo, hi))


def conv_transpose(signal, W, input_shape, filter_shape, stride=(1, 1), pad=(0, 0), name=None,
                   signal_shape=None):
    """Transposed cross-correlation: the adjoint of :class:`Conv2DLayer`'s convolution.

    ``signal`` (B, K, Ho, Wo) -> (B, C, H, W) with ``input_shape`` = (B or None, C, H, W)
    given explicitly (with a stride, several input sizes give the same output
    size; seed 001). Built with ``conv2d_grad_wrt_inputs``; no bias.
    """
    stride, pad = _pair(stride, "stride"), _pair(pad, "pad", minimum=0)
    if signal_shape is not None:
        check_transposed_shapes(name, signal_shape, filter_shape, input_shape, stride, pad)
    return T.nnet.abstract_conv.conv2d_grad_wrt_inputs(
        signal, W, input_shape=tuple(input_shape), filter_shape=tuple(filter_shape),
        border_mode=pad, subsample=stride, filter_flip=False)


class DeconvolutionLayer(lasagne.layers.Layer):
    """A learnable transposed convolution ("deconvolution", FCN upsampling; seed 001).

    Output size per axis: ``stride * (input - 1) + filter_size - 2 * pad``,
    optionally cropped (centred, FCN's ``crop``) to the spatial size of a
    reference layer given as ``crop_to``.

    Parameters
    ----------
    incoming : Layer or shape (B, K, h, w)
    num_filters : int, output channels C
    filter_size, stride, pad : int or pair
    W : initialiser; shape (K, C, fh, fw), the *forward* convolution's
        orientation: this layer is the adjoint of a Conv2DLayer with the same W.
    b : initialiser or False (no bias)
    crop_to : Layer or None
    """

    def __init__(self, incoming, num_filters, filter_size, stride=1, pad=0, W=None, b=False,
                 crop_to=None, nonlinearity=None, **kwargs):
        super(DeconvolutionLayer, self).__init__(incoming, **kwargs)
        _set_conv_hyperparameters(self, "deconvolution", num_filters, filter_size, stride, pad,
                                  nonlinearity)
        self.crop_to = crop_to
        k = self.input_shape[1]
        self.W = self.add_param(W if W is not None else lasagne.init.GlorotUniform(),
                                (k, self.num_filters) + self.filter_size, name="W")
        self.b = None if b is False else self.add_param(
            b if b is not None else lasagne.init.Constant(0.0), (self.num_filters,), name="b",
            regularizable=False)
        for ax in (0, 1):
            n = self.input_shape[2 + ax]
            if n is not None and self.stride[ax] * (n - 1) + self.filter_size[ax] - 2 * self.pad[ax] < 1:
                raise ConfigError("Layer %r: input shape %r with filter %r, stride %r, pad %r gives "
                                  "an empty output" % (self.name, self.input_shape,
                                                       self.filter_size, self.stride, self.pad))
        self.get_output_shape_for(self.input_shape)  # fail now on an impossible crop

    def full_size(self, input_shape=None):
        """The (H, W) of the transposed convolution before any crop: s (i - 1) + k - 2p."""
        shape = input_shape or self.input_shape
        return tuple(None if n is None else s * (n - 1) + f - 2 * p for n, s, f, p in
                     zip(shape[2:], self.stride, self.filter_size, self.pad))

    def get_output_shape_for(self, input_shape):
        hw = self.full_size(input_shape)
        if self.crop_to is not None:
            ref = self.crop_to.output_shape[2:]
            for full, want in zip(hw, ref):
                if full is not None and want is not None and want > full:
                    raise ConfigError("Layer %r: cannot crop a %r output to the larger %r of %r"
                                      % (self.name, hw, tuple(ref), self.crop_to.name))
            hw = tuple(ref)
        return (input_shape[0], self.num_filters) + tuple(hw)

    def get_output_for(self, input, **kwargs):
        full = self.full_size()
        out = conv_transpose(input, self.W, (None, self.num_filters) + full,
                             (self.input_shape[1], self.num_filters) + self.filter_size,
                             self.stride, self.pad, self.name, self.input_shape)
        if self.crop_to is not None:
            ref = self.crop_to.output_shape[2:]
            t, l = (full[0] - ref[0]) // 2, (full[1] - ref[1]) // 2
            out = out[:, :, t:t + ref[0], l:l + ref[1]]
        if self.b is not None:
            out = out + self.b.dimshuffle("x", 0, "x", "x")
        return self.nonlinearity(out)
