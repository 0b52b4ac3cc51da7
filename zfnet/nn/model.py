"""Build a ZF-style network from a configuration (see :mod:`zfnet.nn.configs`).

``build(cfg)`` returns an ``OrderedDict`` of named Lasagne layers — ``input``,
``conv1``, ``relu1``, ``pool1``, ``norm1``, ..., ``fc8``, ``prob`` — so every
layer is reachable by name. fc layers are convolutions (fc6's filter spans the
whole map it receives at the training size), so the same weights run on a
larger input and return a spatial class-score map.
"""
from collections import OrderedDict

import numpy as np

from ..backend import lasagne, floatX
from .configs import validate
from .shapes import conv_output_hw, pool_output_length
from .layers import ChannelSoftmaxLayer, Conv2DLayer, MaxPool2DLayer
from .lrn import LRNLayer
from ..errors import CheckpointError, ConfigError
from .configs import INITS  # the one list, Theano-free for the command line


def initializer(name, relu_follows=True, first=False):
    """``he`` (He-uniform), ``gauss`` (N(0, 0.01^2) everywhere, the paper's) or
    ``gauss-conv1`` (N(0, 0.01^2) for the first layer, He for the others).

    He's gain sqrt(2) compensates for a following ReLU; a layer with no ReLU
    after it (fc8, the logits) gets gain 1. ``gauss-conv1`` exists because a network
    as shallow and narrow as ``small`` does not learn from N(0, 0.01^2) everywhere (the
    signal shrinks ~1e-6 times through its 8 layers), while the paper's point about feature
    scale clipping concerns the first layer starting well below the clipping radius.
    """
    if name == "gauss-conv1":
        name = "gauss" if first else "he"
    if name == "he":
        return lasagne.init.HeUniform(gain="relu" if relu_follows else 1.0)
    if name in ("gauss", "gaussian", "normal"):
        return lasagne.init.Normal(std=0.01)
    raise ConfigError("Unknown init %r: expected one of %s" % (name, ", ".join(INITS)))


def build(cfg, input_shape=None, batch_size=None, input_var=None, init="he"):
    """Build the network of configuration ``cfg``.

    Parameters
    ----------
    cfg : dict, a configuration (``configs.get_config``)
    input_shape : (C, H, W) or None — defaults to the training size
        ``cfg['input_shape']``; a larger size gives spatial score maps.
    batch_size : int or None
    input_var : Theano 4D tensor or None
    init : 'he', 'gauss' or 'gauss-conv1' (see :func:`initializer`)

    Returns
    -------
    OrderedDict name -> Layer, ending with ``prob``.
    """
    validate(cfg)
    train_shape = tuple(cfg["input_shape"])
    shape = tuple(input_shape or train_shape)
    if shape[0] != train_shape[0]:
        raise ConfigError("Model %r takes %d-channel input, got input shape %r"
                          % (cfg["name"], train_shape[0], shape))
    initializer(init)  # fail early on an unknown name
    kinds = [spec["type"] for spec in cfg["layers"]]
    # fc filter sizes are fixed by the training size; trace it alongside.
    train_hw = train_shape[1:]
    net = OrderedDict()
    layer = net["input"] = lasagne.layers.InputLayer((batch_size,) + shape, input_var,
                                                     name="input")
    first_conv = kinds.index("conv") if "conv" in kinds else -1
    for i, spec in enumerate(cfg["layers"]):
        kind, name = spec["type"], spec["name"]
        W_init = initializer(init, relu_follows=kinds[i + 1:i + 2] == ["relu"], first=i == first_conv)
        if kind == "conv":
            layer = Conv2DLayer(layer, spec["num_filters"], spec["filter_size"],
                                spec["stride"], spec["pad"], W=W_init, name=name)
            train_hw = conv_output_hw(train_hw, spec["filter_size"], spec["stride"], spec["pad"])
        elif kind == "fc":
            layer = Conv2DLayer(layer, spec["num_units"], train_hw, 1, 0,
                                W=W_init, name=name)
            train_hw = (1, 1)
        elif kind == "relu":
            layer = lasagne.layers.NonlinearityLayer(
                layer, lasagne.nonlinearities.rectify, name=name)
        elif kind == "maxpool":
            layer = MaxPool2DLayer(
                layer, spec["pool_size"], stride=spec["stride"],
                ignore_border=spec["ignore_border"], name=name)
            train_hw = tuple(pool_output_length(n, spec["pool_size"], spec["stride"], 0,
                                                spec["ignore_border"]) for n in train_hw)
        elif kind == "lrn":
            layer = LRNLayer(layer, alpha=spec["alpha"], k=spec["k"], beta=spec["beta"],
                             n=spec["n"], name=name)
        elif kind == "dropout":
            layer = lasagne.layers.DropoutLayer(layer, p=spec["p"], name=name)
        elif kind == "softmax":
            layer = ChannelSoftmaxLayer(layer, name=name)
        net[name] = layer
    return net


def param_layers(net):
    """Names of the layers with weights (conv and fc), in order."""
    return [n for n, l in net.items() if isinstance(l, Conv2DLayer)]


def count_params(net):
    """Total number of weights and biases."""
    return int(sum(np.prod(p.get_value().shape)
                   for p in lasagne.layers.get_all_params(net[next(reversed(net))])))


def get_weights(net):
    """``{'<layer>.W': array, '<layer>.b': array}`` in cross-correlation orientation."""
    out = OrderedDict()
    for name in param_layers(net):
        out[name + ".W"] = net[name].W.get_value()
        if net[name].b is not None:
            out[name + ".b"] = net[name].b.get_value()
    return out


def set_weights(net, arrays, source="weights"):
    """Load ``{'<layer>.W', '<layer>.b'}`` arrays into ``net``.

    Raises ValueError naming the first layer whose array is missing or whose
    shape differs, with both shapes.
    """
    for name in param_layers(net):
        for p in ("W", "b"):
            var = getattr(net[name], p)
            if var is None:
                continue
            key = "%s.%s" % (name, p)
            if key not in arrays:
                raise CheckpointError("%s has no array %r for layer %r (it has: %s)"
                                      % (source, key, name, ", ".join(sorted(arrays))[:400]))
            value = np.asarray(arrays[key])
            if value.dtype.kind not in "biuf" or not np.isfinite(value).all():
                raise CheckpointError("%s: %r holds %s; weights must be finite numbers"
                                      % (source, key, "NaN or infinite values" if value.dtype.kind == "f"
                                         else "dtype %s" % value.dtype))
            expected = var.get_value(borrow=True).shape
            if value.shape != expected:
                raise CheckpointError(
                    "Layer %r does not match: %s has %s with shape %s, the model "
                    "expects %s." % (name, source, key, value.shape, expected))
            var.set_value(value.astype(floatX))


def output_shapes(net):
    """``{name: output shape}`` for every layer."""
    return OrderedDict((n, l.output_shape) for n, l in net.items())
