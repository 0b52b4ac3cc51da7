"""Lasagne layers the project writes itself.

Lasagne 0.1's ``Conv2DLayer`` emulates padding by zero-padding the input
explicitly and always flips filters (true convolution). Ours passes the padding
to Theano's ``conv2d`` and uses **cross-correlation** (``filter_flip=False``),
so ``W`` is stored as Caffe/PyTorch/Keras-th store it:
``(out_channels, in_channels, h, w)``, no flip when importing or exporting.
"""
import numpy as np

from .backend import T, lasagne, theano


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
        if len(self.input_shape) != 4:
            raise ValueError(
                "Tried to create a 2D convolution layer %r with input shape %r. "
                "Expected 4 input dimensions (batch, channels, height, width)."
                % (self.name, self.input_shape))
        self.num_filters = int(num_filters)
        self.filter_size = _pair(filter_size, "filter_size")
        self.stride = _pair(stride, "stride")
        self.pad = _pair(pad, "pad", minimum=0)
        self.nonlinearity = nonlinearity or (lambda x: x)
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
                raise ValueError(
                    "Layer %r: input %s is %d (+2x%d padding) but the filter is %d; "
                    "input shape %r is too small for filter_size %r."
                    % (self.name, "height" if axis == 2 else "width", n, p, f,
                       self.input_shape, self.filter_size))

    def get_output_shape_for(self, input_shape):
        b, _, h, w = input_shape
        return (b, self.num_filters,
                conv_output_length(h, self.filter_size[0], self.stride[0], self.pad[0]),
                conv_output_length(w, self.filter_size[1], self.stride[1], self.pad[1]))

    def get_output_for(self, input, **kwargs):
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


def _pair(v, what, minimum=1):
    if isinstance(v, (int, np.integer)):
        v = (int(v), int(v))
    try:
        v = tuple(int(x) for x in v)
    except TypeError:
        raise ValueError("%s must be an int or a pair of ints, got %r" % (what, v))
    if len(v) != 2 or min(v) < minimum:
        raise ValueError("%s must be an int or a pair of ints >= %d, got %r"
                         % (what, minimum, v))
    return v


__all__ = ["Conv2DLayer", "ChannelSoftmaxLayer", "log_softmax_channels",
           "conv_output_length", "theano"]
