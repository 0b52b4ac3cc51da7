"""Any Lasagne network as the chain of steps the deconvnet walks back down.

The projector needs, for every layer, what it does (convolution, ReLU, max-pooling,
contrast normalisation, dropout, a dense layer, a flatten) with its filters, strides and
shapes. :func:`as_chain` reads that from

* this project's networks (:func:`zfnet.nn.model.build`: cross-correlation ``Conv2DLayer``,
  separate ReLU layers), and
* plain Lasagne networks, given the Lasagne way — their output layer (as
  ``lasagne.layers.get_output`` takes it) or a dict of named layers (as the Lasagne Recipes
  model zoo builds them): ``Conv2DLayer`` with its nonlinearity built in, ``DenseLayer``,
  ``MaxPool2DLayer``, ``LocalResponseNormalization2DLayer``, ``DropoutLayer``,
  ``NonlinearityLayer``, ``FlattenLayer``.

A layer with a built-in ReLU becomes two steps: ``<name>.linear`` (before the ReLU) and
``<name>`` (after it, the layer's own output), so every backward rule reaches every ReLU.
Lasagne's convolutions flip their filters (true convolution); the steps hold the
cross-correlation view ``W[:, :, ::-1, ::-1]`` of the same shared variable. What cannot be
walked back (a non-ReLU nonlinearity inside the network, a merge of two branches, an
unknown layer type) is named with the reason.
"""
from collections import OrderedDict

from ..backend import T, lasagne
from ..errors import UsageError
from ..nn.layers import ChannelSoftmaxLayer, Conv2DLayer

SUPPORTED = ("InputLayer", "Conv2DLayer (ReLU or no nonlinearity)", "DenseLayer (ReLU, none, or "
             "softmax at the end)", "MaxPool2DLayer", "LocalResponseNormalization2DLayer",
             "DropoutLayer", "NonlinearityLayer (ReLU; softmax at the end)", "FlattenLayer")


class Step(object):
    """One step of the chain: ``kind`` is input, conv, dense, relu, maxpool, lrn, dropout,
    flatten or softmax; shapes are Lasagne's (batch first, ``None`` for the batch).

    conv: ``W`` (cross-correlation, (K, C, fh, fw)), ``filter_shape``, ``filter_size``,
    ``stride``, ``pad``; dense: ``W`` (in, units); maxpool: ``pool_size``, ``stride``,
    ``ignore_border``, ``pad``. ``forward(h)`` is the step's deterministic output."""

    def __init__(self, name, kind, input_shape, output_shape, forward=None, layer=None, **attrs):
        self.name, self.kind = name, kind
        self.input_shape, self.output_shape = tuple(input_shape or ()), tuple(output_shape)
        self.forward, self.layer = forward, layer
        self.__dict__.update(attrs)

    def __repr__(self):
        return "Step(%r, %s, %r -> %r)" % (self.name, self.kind, self.input_shape, self.output_shape)


def _is(nonlinearity, *funcs):
    return any(nonlinearity is f for f in funcs)


def _pad_of(layer):
    """Lasagne 0.1's conv padding as a pair of ints ('valid', 'full', 'same' for odd filters)."""
    pad, f = layer.pad, layer.filter_size
    if pad == "full":
        return (f[0] - 1, f[1] - 1)
    if pad == "same":
        if f[0] % 2 == 0 or f[1] % 2 == 0:
            raise UsageError("Layer %r: pad='same' with the even filter %r pads unevenly; the "
                             "transposed convolution needs the same padding on both sides"
                             % (layer.name, f))
        return (f[0] // 2, f[1] // 2)
    return tuple(int(p) for p in pad)


def _lasagne_steps(name, layer, last):
    """The steps of one plain Lasagne layer."""
    L = lasagne.layers
    nl = getattr(layer, "nonlinearity", None)
    relu, identity = lasagne.nonlinearities.rectify, lasagne.nonlinearities.identity
    softmax = lasagne.nonlinearities.softmax
    if isinstance(layer, L.Conv2DLayer):
        if getattr(layer, "untie_biases", False):
            raise UsageError("Layer %r has untied biases, which this projector does not read" % name)
        if not _is(nl, relu, identity) and nl is not None:
            raise UsageError("Layer %r uses the nonlinearity %s; the deconvnet and guided rules are "
                             "defined for ReLU (rectify) only" % (name, getattr(nl, "__name__", nl)))
        flip = getattr(layer, "flip_filters", True)  # Lasagne 0.1 always convolves (flips)
        W = layer.W[:, :, ::-1, ::-1] if flip else layer.W
        shape = layer.W.get_value(borrow=True).shape
        stride, pad = tuple(layer.stride), _pad_of(layer)

        def forward(h, W=W, b=layer.b, stride=stride, pad=pad, shape=shape, in_shape=layer.input_shape):
            out = T.nnet.conv2d(h, W, input_shape=in_shape, filter_shape=shape, border_mode=pad,
                                subsample=stride, filter_flip=False)
            return out if b is None else out + b.dimshuffle("x", 0, "x", "x")
        linear = name + ".linear" if _is(nl, relu) else name
        steps = [Step(linear, "conv", layer.input_shape, layer.output_shape, forward, layer, W=W,
                      filter_shape=shape, filter_size=tuple(shape[2:]), stride=stride, pad=pad)]
        if _is(nl, relu):
            steps.append(Step(name, "relu", layer.output_shape, layer.output_shape, T.nnet.relu, layer))
        return steps
    if isinstance(layer, L.DenseLayer):
        units = layer.num_units
        in_shape = layer.input_shape
        if not (_is(nl, relu, identity) or nl is None or (_is(nl, softmax) and last)):
            raise UsageError("Layer %r uses the nonlinearity %s; the deconvnet and guided rules are "
                             "defined for ReLU (rectify) only (softmax is accepted at the end)"
                             % (name, getattr(nl, "__name__", nl)))

        def forward(h, W=layer.W, b=layer.b):
            out = T.dot(h.flatten(2), W)
            out = out if b is None else out + b.dimshuffle("x", 0)
            return out.dimshuffle(0, 1, "x", "x")
        out_shape = (in_shape[0], units, 1, 1)
        linear = name + ".linear" if (_is(nl, relu) or _is(nl, softmax)) else name
        steps = [Step(linear, "dense", in_shape, out_shape, forward, layer, W=layer.W)]
        if _is(nl, relu):
            steps.append(Step(name, "relu", out_shape, out_shape, T.nnet.relu, layer))
        elif _is(nl, softmax):
            steps.append(Step(name, "softmax", out_shape, out_shape, None, layer))
        return steps
    if isinstance(layer, L.MaxPool2DLayer):
        return [Step(name, "maxpool", layer.input_shape, layer.output_shape, None, layer,
                     pool_size=tuple(layer.pool_size), stride=tuple(layer.stride),
                     pad=tuple(layer.pad), ignore_border=layer.ignore_border)]
    if isinstance(layer, L.FlattenLayer):
        out = layer.output_shape
        return [Step(name, "flatten", layer.input_shape, tuple(out) + (1,) * (4 - len(out)),
                     lambda h: h.flatten(2).dimshuffle(0, 1, "x", "x"), layer)]
    return None


def _own_step(name, layer):
    """The step of one of this project's layers (or of a Lasagne layer that needs no change)."""
    L = lasagne.layers
    det = lambda h, layer=layer: layer.get_output_for(h, deterministic=True)
    if isinstance(layer, Conv2DLayer):
        shape = layer.W.get_value(borrow=True).shape
        return Step(name, "conv", layer.input_shape, layer.output_shape, det, layer, W=layer.W,
                    filter_shape=shape, filter_size=tuple(layer.filter_size), stride=tuple(layer.stride),
                    pad=tuple(layer.pad))
    if isinstance(layer, L.NonlinearityLayer):
        if layer.nonlinearity is lasagne.nonlinearities.rectify:
            return Step(name, "relu", layer.input_shape, layer.output_shape, det, layer)
        if layer.nonlinearity is lasagne.nonlinearities.softmax:
            return Step(name, "softmax", layer.input_shape, layer.output_shape, det, layer)
        raise UsageError("Layer %r has a nonlinearity other than ReLU; the deconvnet handles ReLU "
                         "only" % name)
    if isinstance(layer, ChannelSoftmaxLayer):
        return Step(name, "softmax", layer.input_shape, layer.output_shape, det, layer)
    if isinstance(layer, L.LocalResponseNormalization2DLayer):
        return Step(name, "lrn", layer.input_shape, layer.output_shape, det, layer)
    if isinstance(layer, L.DropoutLayer):
        return Step(name, "dropout", layer.input_shape, layer.output_shape, det, layer)
    if isinstance(layer, L.InputLayer):
        return Step(name, "input", (), layer.shape, None, layer)
    return None


def as_chain(net):
    """``net`` (an OrderedDict of named layers, a dict of named layers, or an output
    :class:`lasagne.layers.Layer`) -> OrderedDict step name -> :class:`Step`, input first."""
    L = lasagne.layers
    if isinstance(net, L.Layer):
        layers = L.get_all_layers(net)
        names = {}
    elif isinstance(net, dict):
        consumed = set()
        for l in net.values():
            for attr in ("input_layer", "input_layers"):
                v = getattr(l, attr, None)
                for x in (v if isinstance(v, (list, tuple)) else [v]):
                    if x is not None:
                        consumed.add(id(x))
        outputs = [l for l in net.values() if id(l) not in consumed]
        if len(outputs) != 1:
            raise UsageError("the network has %d output layers (%s); pass the one to walk back from"
                             % (len(outputs), ", ".join(repr(l.name) for l in outputs)))
        layers = L.get_all_layers(outputs[0])
        names = {id(l): k for k, l in net.items()}
    else:
        raise UsageError("a network is a Lasagne output layer or a dict of named layers; got a %s"
                         % type(net).__name__)
    for layer in layers:
        if isinstance(layer, L.MergeLayer):
            raise UsageError("Layer %r (%s) merges several inputs; the deconvnet walks a chain of "
                             "layers only" % (layer.name, type(layer).__name__))
    steps, used = OrderedDict(), set()
    for i, layer in enumerate(layers):
        if i and getattr(layer, "input_layer", None) is not layers[i - 1]:
            raise UsageError("Layer %r does not take the previous layer's output; the deconvnet walks "
                             "a chain of layers only" % (layer.name,))
        name = names.get(id(layer)) or layer.name or "%s%d" % (type(layer).__name__.replace("Layer", "").lower(), i)
        if name in used:
            raise UsageError("two layers are named %r; give each layer its own name" % name)
        used.add(name)
        found = _own_step(name, layer)
        found = [found] if found is not None else _lasagne_steps(name, layer, i == len(layers) - 1)
        if found is None:
            raise UsageError("Layer %r is a %s, which the deconvnet cannot walk back; supported: %s"
                             % (name, type(layer).__name__, "; ".join(SUPPORTED)))
        for s in found:
            steps[s.name] = s
    if not steps or next(iter(steps.values())).kind != "input":
        raise UsageError("the network does not start with an InputLayer")
    return steps
