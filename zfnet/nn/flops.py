"""The one FLOP count of the project: multiply-adds (2 FLOPs each) per image of each
convolution and fully connected layer's forward pass, for the benchmarks' GFLOP/s and the
projector's work estimate (which picks how hard Theano optimises a graph). No Theano here."""
from collections import OrderedDict

import numpy as np


def conv_flops(filter_shape, output_hw):
    """FLOPs of a convolution with filters (K, C, h, w) producing an (Ho, Wo) map."""
    k, c, h, w = filter_shape
    return 2.0 * k * c * h * w * int(np.prod(output_hw))


def dense_flops(inputs, units):
    """FLOPs of a fully connected layer from ``inputs`` values to ``units`` outputs."""
    return 2.0 * int(inputs) * int(units)


def layer_flops(layers):
    """{name: forward FLOPs per image} of the conv and fc layers of ``layers`` (name -> an
    object with ``filter_shape`` and ``output_shape`` (a convolution) or ``kind == 'dense'``
    with ``input_shape``/``output_shape``; Lasagne layers and the projector's chain steps
    both qualify). Layers without weights count 0."""
    out = OrderedDict()
    for name, l in layers.items():
        kind = getattr(l, "kind", None)
        shape = getattr(l, "filter_shape", None)
        W = getattr(l, "W", None)
        if shape is None and W is not None and hasattr(W, "get_value"):  # a Lasagne layer
            shape = W.get_value(borrow=True).shape
        if kind == "dense" or (kind is None and shape is not None and len(shape) == 2):
            out[name] = dense_flops(np.prod(l.input_shape[1:]), l.output_shape[1])
        elif kind in (None, "conv") and shape is not None and len(shape) == 4 and len(l.output_shape) == 4:
            out[name] = conv_flops(shape, l.output_shape[2:])
        else:
            out[name] = 0.0
    return out
