"""Network configurations as data.

A configuration is a dict: ``name``, ``input_shape`` ``(C, H, W)`` (the training
size), ``num_classes`` and ``layers``, an ordered list of layer specs. Each spec
has a ``name``, a ``type`` and that type's hyper-parameters:

========  ==============================================================
type      keys
========  ==============================================================
conv      num_filters, filter_size, stride, pad
fc        num_units (a convolution whose filter spans its whole input map at
          the training size, so the net stays fully convolutional)
relu      —
maxpool   pool_size, stride, ignore_border (False = ceil mode, partial
          windows at the border are pooled; True = floor mode)
lrn       n, alpha, beta, k — Lasagne's cross-channel normalisation
          ``x / (k + alpha * sum_{n neighbours} x^2) ** beta`` (alpha is
          *not* divided by n, unlike Caffe/ONNX)
dropout   p
softmax   — (over channels, at every position)
========  ==============================================================

The same list is written to a checkpoint's ``model.json``. A configuration can
also be a JSON file with these keys (``python -m zfnet train --config my.json``).
"""
import copy
import json
import os
from ..errors import ConfigError

LRN_KRIZHEVSKY = dict(n=5, alpha=1e-4, beta=0.75, k=2.0)

#: weight initialisations (:func:`zfnet.nn.model.build`) and learning-rate schedules
#: (:class:`zfnet.train.TrainSettings`): the one list of each, which the command line offers
INITS = ("he", "gauss", "gauss-conv1")
#: the one training default (TrainSettings, the command line): conv1 from N(0, 0.01^2), below the
#: clipping radius, He elsewhere (see zfnet.nn.model.initializer)
DEFAULT_INIT = "gauss-conv1"
SCHEDULES = ("none", "step", "plateau")
#: how a Trainer computes convolutions (:class:`zfnet.train.Trainer`, ``train --conv``): the one
#: list, which the command line offers
CONVS = ("direct", "winograd", "batched")


def _conv(name, n, f, s=1, p=0):
    return dict(name=name, type="conv", num_filters=n, filter_size=f, stride=s, pad=p)


def _pool(name, size=3, stride=2, ignore_border=False):
    return dict(name=name, type="maxpool", pool_size=size, stride=stride,
                ignore_border=ignore_border)


def _block(i, conv, pool=False, norm=False):
    layers = [conv, dict(name="relu%d" % i, type="relu")]
    if pool:
        layers.append(_pool("pool%d" % i))
    if norm:
        layers.append(dict(name="norm%d" % i, type="lrn", **LRN_KRIZHEVSKY))
    return layers


def _head(widths, num_classes):
    layers = []
    for i, w in zip((6, 7), widths):
        layers += [dict(name="fc%d" % i, type="fc", num_units=w),
                   dict(name="relu%d" % i, type="relu"),
                   dict(name="drop%d" % i, type="dropout", p=0.5)]
    return layers + [dict(name="fc8", type="fc", num_units=num_classes),
                     dict(name="prob", type="softmax")]


def zf(num_classes=1000):
    """Zeiler & Fergus v3 (their Fig. 3) at 224x224x3.

    Unstated choices, made here: conv1 pad 1, conv2 pad 0, conv3-5 pad 1,
    3x3/2 max-pooling in ceil mode (110 -> 55, 26 -> 13, 13 -> 6), Krizhevsky's
    LRN (n=5, alpha=1e-4, beta=0.75, k=2) after pool1 and pool2. This gives the
    paper's map sizes and 62,357,608 parameters for 1000 classes.
    """
    layers = (_block(1, _conv("conv1", 96, 7, 2, 1), pool=True, norm=True)
              + _block(2, _conv("conv2", 256, 5, 2, 0), pool=True, norm=True)
              + _block(3, _conv("conv3", 384, 3, 1, 1))
              + _block(4, _conv("conv4", 384, 3, 1, 1))
              + _block(5, _conv("conv5", 256, 3, 1, 1), pool=True)
              + _head((4096, 4096), num_classes))
    return dict(name="zf", input_shape=[3, 224, 224], num_classes=num_classes,
                layers=layers)


def small(num_classes=10, channels=1, size=28):
    """A ZF-style network for 28x28 grey images (Fashion-MNIST).

    Keeps every ZF ingredient: conv -> ReLU -> overlapping 3x3/2 max-pool ->
    cross-channel contrast normalisation twice, three 3x3 convolutions in a row
    (conv3-conv5), a third pooling, two dropout fc layers as convolutions.
    Map sizes: 28 -> conv1 28 -> pool1 14 -> conv2 14 -> pool2 7 -> conv3-5 7
    -> pool5 3 -> fc6 1.
    """
    layers = (_block(1, _conv("conv1", 32, 3, 1, 1), pool=True, norm=True)
              + _block(2, _conv("conv2", 64, 3, 1, 1), pool=True, norm=True)
              + _block(3, _conv("conv3", 96, 3, 1, 1))
              + _block(4, _conv("conv4", 96, 3, 1, 1))
              + _block(5, _conv("conv5", 64, 3, 1, 1), pool=True)
              + _head((256, 256), num_classes))
    return dict(name="small", input_shape=[channels, size, size],
                num_classes=num_classes, layers=layers)


def zf64(num_classes=200, widths=(64, 128, 192, 192, 128), fc=(1024, 1024), size=56):
    """A ZF network for 64x64 colour images (Tiny ImageNet), trained on random 56x56 crops.

    The paper's pattern at a quarter of its resolution: conv1 -> ReLU -> overlapping 3x3/2
    max-pool -> LRN, conv2 -> ReLU -> pool -> LRN, three 3x3 convolutions, a third pool and
    two dropout fc layers (as convolutions). ZF's 224 input reaches conv3 at 13x13 through
    strides 2-2-2-2; 56 reaches 14x14 through the two pools alone, so conv1 and conv2 keep
    stride 1 (a stride there would leave conv3-5 3x3 maps). conv1 is 5x5 (ZF's 7x7/2 sees
    7 of 224 pixels; 5 of 56 is a wider share of the image at a quarter of the cost), conv2
    3x3. Map sizes: 56 -> conv1 56 -> pool1 28 -> conv2 28 -> pool2 14 -> conv3-5 14 ->
    pool5 7 -> fc6 1. The 56 / 64 crop is the paper's 224 / 256.
    """
    w1, w2, w3, w4, w5 = widths
    layers = (_block(1, _conv("conv1", w1, 5, 1, 2), pool=True, norm=True)
              + _block(2, _conv("conv2", w2, 3, 1, 1), pool=True, norm=True)
              + _block(3, _conv("conv3", w3, 3, 1, 1))
              + _block(4, _conv("conv4", w4, 3, 1, 1))
              + _block(5, _conv("conv5", w5, 3, 1, 1), pool=True)
              + _head(fc, num_classes))
    return dict(name="zf64", input_shape=[3, size, size], num_classes=num_classes,
                layers=layers)


VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def vgg(blocks=VGG16_BLOCKS, fc=(4096, 4096), num_classes=1000, size=224, channels=3,
        include_top=True, name="vgg16"):
    """VGG (Simonyan & Zisserman), configuration D by default (VGG16), with Keras's layer
    names: ``block1_conv1`` ... ``block5_pool``, ``fc1``, ``fc2``, ``predictions``.

    3x3 convolutions with padding 1, each followed by a ReLU (``block1_conv1_relu``);
    2x2/2 max-pooling in floor mode (Keras's 'valid') ending each block. With the top:
    ``fc1``/``fc2`` (fully convolutional, fc1's filter spans the 7x7 map at 224) with
    ReLUs, no dropout layers (Keras's model has none at inference), ``predictions``
    and the softmax ``prob``. ``include_top=False`` ends at ``block5_pool``.
    """
    layers = []
    for b, (width, n) in enumerate(blocks, 1):
        for i in range(1, n + 1):
            nm = "block%d_conv%d" % (b, i)
            layers += [_conv(nm, width, 3, 1, 1), dict(name=nm + "_relu", type="relu")]
        layers.append(_pool("block%d_pool" % b, size=2, stride=2, ignore_border=True))
    if include_top:
        for i, w in enumerate(fc, 1):
            layers += [dict(name="fc%d" % i, type="fc", num_units=w),
                       dict(name="fc%d_relu" % i, type="relu")]
        layers += [dict(name="predictions", type="fc", num_units=num_classes),
                   dict(name="prob", type="softmax")]
    return dict(name=name if include_top else name + "-notop", input_shape=[channels, size, size],
                num_classes=num_classes, layers=layers)


def vgg16(num_classes=1000):
    """VGG16 with its top (Keras's ``VGG16(include_top=True)``), 138,357,544 parameters."""
    return vgg(num_classes=num_classes)


def vgg16_notop():
    """VGG16 without the fully connected top (Keras's ``include_top=False``)."""
    return vgg(include_top=False)


CONFIGS = {"zf": zf, "small": small, "zf64": zf64, "vgg16": vgg16, "vgg16-notop": vgg16_notop}


def get_config(name_or_path, **overrides):
    """Return a configuration by name (``zf``, ``small``, ``vgg16``, ``vgg16-notop``) or
    from a JSON file.

    ``overrides`` replace top-level keys (e.g. ``num_classes``, ``input_shape``).
    """
    if name_or_path in CONFIGS:
        cfg = CONFIGS[name_or_path]()
    elif os.path.isfile(str(name_or_path)):
        try:
            with open(name_or_path, "rb") as f:
                cfg = json.loads(f.read(16 << 20).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as e:
            raise ConfigError("%s is not a JSON configuration: %s (expected a JSON object with name, "
                              "input_shape, num_classes and layers)" % (name_or_path, str(e)[:160]))
        if not isinstance(cfg, dict):
            raise ConfigError("%s holds a JSON %s; a configuration is a JSON object with name, "
                              "input_shape, num_classes and layers" % (name_or_path, type(cfg).__name__))
    else:
        raise ConfigError("Unknown configuration %r: expected one of %s or the path "
                          "of a JSON configuration file." % (name_or_path, sorted(CONFIGS)))
    cfg = copy.deepcopy(cfg)
    for k, v in overrides.items():
        if v is not None:
            cfg[k] = v
    _set_num_classes(cfg)
    validate(cfg)
    return cfg


def _set_num_classes(cfg):
    if not isinstance(cfg.get("layers"), list) or not all(isinstance(l, dict) for l in cfg["layers"]):
        return  # validate() names what is wrong
    fcs = [l for l in cfg["layers"] if l.get("type") == "fc"]
    if fcs:
        fcs[-1]["num_units"] = int(cfg["num_classes"])


REQUIRED = {"conv": ("num_filters", "filter_size", "stride", "pad"),
            "fc": ("num_units",), "relu": (), "softmax": (), "dropout": ("p",),
            "maxpool": ("pool_size", "stride", "ignore_border"),
            "lrn": ("n", "alpha", "beta", "k")}


# Bounds that no real configuration reaches and that keep a malformed file from allocating
# gigabytes before it fails: VGG16 has 138 M parameters, its widest layer 4096 units.
MAX_PARAMS = 400 * 1000 * 1000
MAX_WIDTH = 65536
MAX_SIDE = 8192


def _int(value, what, lo, hi):
    """``value`` as an int in [lo, hi], or a ConfigError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError("%s is %r: expected an integer from %d to %d" % (what, value, lo, hi))
    return value


def _number(value, what, lo=None, positive=False):
    import math
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (positive and value <= 0) or (lo is not None and value < lo):
        raise ConfigError("%s is %r: expected a finite number%s" % (
            what, value, " > 0" if positive else (" >= %g" % lo if lo is not None else "")))
    return value


def _size(value, what, lo=1, hi=MAX_SIDE):
    """An int or a pair of equal ints (square windows), as an int."""
    if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
        value = value[0]
    return _int(value, what, lo, hi)


def validate(cfg):
    """Raise :class:`~zfnet.errors.ConfigError` naming the first bad entry of a configuration:
    its keys, types and ranges, each layer's hyper-parameters, map sizes that stay >= 1 at
    the training size, and a parameter count under :data:`MAX_PARAMS` (checked before any
    array is allocated)."""
    from .shapes import conv_output_length, pool_output_length
    if not isinstance(cfg, dict):
        raise ConfigError("a configuration is a JSON object (dict); got a %s" % type(cfg).__name__)
    for key in ("name", "input_shape", "num_classes", "layers"):
        if key not in cfg:
            raise ConfigError("Configuration is missing %r (has %s)" % (key, sorted(cfg)))
    shape = cfg["input_shape"]
    if not isinstance(shape, (list, tuple)) or len(shape) != 3:
        raise ConfigError("input_shape must be (channels, height, width), got %r" % (shape,))
    c = _int(shape[0], "input_shape channels", 1, 64)
    h, w = (_int(v, "input_shape height/width", 1, MAX_SIDE) for v in shape[1:])
    _int(cfg["num_classes"], "num_classes", 1, 1000000)
    if not isinstance(cfg["layers"], list) or not cfg["layers"]:
        raise ConfigError("layers must be a non-empty list of layer specs, got %r" % (str(cfg["layers"])[:80],))
    names, params = set(), 0
    for i, spec in enumerate(cfg["layers"]):
        if not isinstance(spec, dict):
            raise ConfigError("Layer %d is a %s: expected a dict with name and type" % (i, type(spec).__name__))
        name, kind = spec.get("name"), spec.get("type")
        if kind not in REQUIRED:
            raise ConfigError("Layer %d (%r) has type %r; expected one of %s"
                              % (i, name, kind, sorted(REQUIRED)))
        missing = [k for k in REQUIRED[kind] if k not in spec]
        if missing:
            raise ConfigError("Layer %r (%s) is missing %s" % (name, kind, missing))
        if not isinstance(name, str) or name in names or not name:
            raise ConfigError("Layer %d: name %r is empty, not a string or used twice" % (i, name))
        what = "Layer %r %s" % (name, "%s")
        if kind == "conv":
            k = _int(spec["num_filters"], what % "num_filters", 1, MAX_WIDTH)
            f = _size(spec["filter_size"], what % "filter_size")
            st = _size(spec["stride"], what % "stride")
            pad = _size(spec["pad"], what % "pad", 0)
            params += k * (c * f * f + 1)
            c, h, w = k, conv_output_length(h, f, st, pad), conv_output_length(w, f, st, pad)
        elif kind == "fc":
            k = _int(spec["num_units"], what % "num_units", 1, MAX_WIDTH)
            params += k * (c * h * w + 1)
            c, h, w = k, 1, 1
        elif kind == "maxpool":
            f = _size(spec["pool_size"], what % "pool_size")
            st = _size(spec["stride"], what % "stride")
            if not isinstance(spec["ignore_border"], bool):
                raise ConfigError("Layer %r ignore_border is %r: expected true or false" % (name, spec["ignore_border"]))
            h = pool_output_length(h, f, st, 0, spec["ignore_border"])
            w = pool_output_length(w, f, st, 0, spec["ignore_border"])
        elif kind == "lrn":
            n = _int(spec["n"], what % "n", 1, MAX_WIDTH)
            if n % 2 == 0:
                raise ConfigError("Layer %r: lrn n must be odd, got %r" % (name, spec["n"]))
            _number(spec["alpha"], what % "alpha", lo=0)
            _number(spec["beta"], what % "beta", lo=0)
            _number(spec["k"], what % "k", positive=True)
        elif kind == "dropout":
            p = _number(spec["p"], what % "p", lo=0)
            if p >= 1:
                raise ConfigError("Layer %r p is %r: expected a dropout probability in [0, 1)" % (name, p))
        if h < 1 or w < 1:
            raise ConfigError("Layer %r makes the %dx%d input map %dx%d: every map must stay at least "
                              "1x1 at the training size" % (name, shape[1], shape[2], h, w))
        if params > MAX_PARAMS:
            raise ConfigError("the configuration has %d parameters by layer %r; at most %d are "
                              "accepted" % (params, name, MAX_PARAMS))
        names.add(name)
    return cfg
