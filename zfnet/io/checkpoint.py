"""Checkpoints anyone can read, written so a crash never leaves a broken one.

A checkpoint is a folder with

``model.json``
    ``{"format": "zfnet-checkpoint", "version": 1, "config": {name, input_shape
    (C, H, W), num_classes, layers: [{name, type, hyper-parameters...,
    "W_shape", "output_shape"}]}, "preprocessing": {"mean": [...], "std":
    [...], "units": "pixel values 0-255"}, "class_names": [...], ...}``
``model.npz``
    ``<layer>.W`` ``(out_channels, in_channels, h, w)`` float32 in
    cross-correlation orientation (as Caffe, PyTorch and Keras-th store them:
    ``y[o] = sum_c,i,j W[o,c,i,j] * x[c, y*s+i-p, x*s+j-p] + b[o]``) and
    ``<layer>.b`` ``(out_channels,)``.

plus, in training checkpoints, ``state.json``/``state.npz`` (optimizer
velocities, schedule, history) for ``--resume``.

Every file is written to a temporary name, flushed to disk and renamed into
place; a checkpoint folder is assembled under a temporary name and renamed
whole, so it either exists complete or not at all.
"""
import json
import os

import numpy as np

from ..errors import CheckpointError, CheckpointNotFound, UsageError
from ..files import write_folder

FORMAT = "zfnet-checkpoint"
VERSION = 1
#: the ``model.json`` versions this release reads (a newer file may mean other units or layouts)
READ_VERSIONS = (1,)


def model_json(cfg, net=None, preprocessing=None, class_names=None, **extra):
    """The ``model.json`` dictionary for a configuration (and its built net)."""
    cfg = json.loads(json.dumps(cfg))
    if net is not None:
        for spec in cfg["layers"]:
            layer = net[spec["name"]]
            spec["output_shape"] = list(layer.output_shape[1:])
            if hasattr(layer, "W"):
                spec["W_shape"] = list(layer.W.get_value(borrow=True).shape)
                if spec["type"] == "fc":
                    spec["filter_size"] = spec["W_shape"][2:]
    doc = {"format": FORMAT, "version": VERSION, "config": cfg,
           "preprocessing": preprocessing or {"mean": [0.0] * cfg["input_shape"][0],
                                              "std": [1.0] * cfg["input_shape"][0],
                                              "units": "pixel values 0-255"},
           "class_names": list(class_names or [str(i) for i in range(cfg["num_classes"])])}
    doc.update(extra)
    return doc


def write_checkpoint(path, files):
    """Write a checkpoint folder atomically (:func:`zfnet.files.write_folder`)."""
    write_folder(path, files)


def validate_doc(doc, where="model.json"):
    """Check a ``model.json`` document once, on load: its shape and types, the configuration
    (:func:`zfnet.nn.configs.validate`: ranges, map sizes, parameter count), preprocessing
    with one finite mean and one positive std per input channel, and class names (none, or
    one string per class). Raises :class:`~zfnet.errors.CheckpointError` naming ``where``."""
    import math
    from ..errors import ConfigError
    from ..nn.configs import validate
    if not isinstance(doc, dict):
        raise CheckpointError("%s holds a %s; expected a JSON object with format, config, "
                              "preprocessing and class_names" % (where, type(doc).__name__))
    if doc.get("format") != FORMAT:
        raise CheckpointError("%s has format %r, expected %r" % (where, doc.get("format"), FORMAT))
    version = doc.get("version", 1)  # files written before the field existed are version 1
    if isinstance(version, bool) or version not in READ_VERSIONS:
        raise CheckpointError("%s has format version %r; this release of zfnet reads version%s %s "
                              "(a newer zfnet wrote it? upgrade zfnet)" % (
                                  where, version, "s" if len(READ_VERSIONS) > 1 else "",
                                  ", ".join(map(str, READ_VERSIONS))))
    for key in ("config", "preprocessing"):
        if key not in doc:
            raise CheckpointError("%s has no %r (it has %s)" % (where, key, ", ".join(sorted(doc))))
    try:
        validate(doc["config"])
    except ConfigError as e:
        raise CheckpointError("%s: %s" % (where, e))
    channels = doc["config"]["input_shape"][0]
    pre = doc["preprocessing"]
    if not isinstance(pre, dict):
        raise CheckpointError("%s: preprocessing is a %s; expected {mean: [...], std: [...]}"
                              % (where, type(pre).__name__))
    for key in ("mean", "std"):
        v = pre.get(key)
        ok = isinstance(v, list) and len(v) == channels and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
        if not ok or (key == "std" and min(v) <= 0):
            raise CheckpointError("%s: preprocessing %s is %r; expected %d finite number(s)%s, one per "
                                  "input channel" % (where, key, v if not isinstance(v, list) else v[:8],
                                                     channels, " > 0" if key == "std" else ""))
    names = doc.get("class_names")
    if names not in (None, []):
        n = doc["config"]["num_classes"]
        if not isinstance(names, list) or len(names) != n or not all(isinstance(x, str) for x in names):
            raise CheckpointError("%s: class_names has %s; expected %d strings (one per class) or none"
                                  % (where, "%d entries" % len(names) if isinstance(names, list)
                                     else "a %s" % type(names).__name__, n))
    return doc


def is_checkpoint(path):
    """True when ``path`` is a folder holding ``model.json`` and ``model.npz``."""
    return all(os.path.isfile(os.path.join(path, f)) for f in ("model.json", "model.npz"))


def check_output(path, force=False):
    """Refuse to write a checkpoint over anything at ``path`` but a checkpoint, and over a
    checkpoint unless ``force``: nothing a user did not name as the target is replaced."""
    if not os.path.lexists(path):
        return path
    if os.path.isdir(path) and not os.path.islink(path) and is_checkpoint(path):
        if force:
            return path
        raise UsageError("%s is already a checkpoint; pass --force to replace it, or choose another "
                         "--out (nothing was written)" % path)
    kind = "folder" if os.path.isdir(path) else "file"
    raise UsageError("%s exists and is a %s that is not a checkpoint; choose a new --out folder "
                     "(nothing was written, nothing was removed)" % (path, kind))


def _folder_and_doc(path):
    """The checkpoint folder of ``path`` and its validated ``model.json``."""
    if os.path.isfile(path) and os.path.basename(path) in ("model.json", "model.npz"):
        path = os.path.dirname(path)
    mj = os.path.join(path, "model.json")
    for f in (mj, os.path.join(path, "model.npz")):
        if not os.path.isfile(f):
            raise CheckpointNotFound("%s is not a checkpoint: %s is missing (a checkpoint folder "
                                     "holds model.json and model.npz)" % (path, os.path.basename(f)))
    try:
        with open(mj) as f:
            doc = json.load(f)
    except (ValueError, RecursionError) as e:
        raise CheckpointError("%s is not valid JSON: %s" % (mj, str(e)[:200]))
    return path, validate_doc(doc, mj)


def read_model_json(path):
    """A checkpoint's validated ``model.json`` alone (its weights are not read)."""
    return _folder_and_doc(path)[1]


def read_checkpoint(path):
    """Return ``(model_json_dict, {name: array})`` of a checkpoint folder, both checked: the
    document by :func:`validate_doc`, the arrays finite and numeric. Arrays are read with
    pickling disabled, so a weight file cannot run code."""
    path, doc = _folder_and_doc(path)
    mz = os.path.join(path, "model.npz")
    with open(mz, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and head != b"PK\x05\x06":  # an .npz is a zip archive
        raise CheckpointError("%s is not a weights archive: a model.npz is a zip of .npy arrays "
                              "(numpy.savez), this file %s" % (
                                  mz, "is empty" if not head else "starts with %r" % head))
    try:
        with np.load(mz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        reason = "it holds pickled objects, which are never loaded" if "pickle" in str(e) else str(e)
        raise CheckpointError("%s is not a readable weights archive: %s" % (mz, reason))
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise CheckpointError("%s: array %r has dtype %s; expected numbers" % (mz, k, a.dtype))
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise CheckpointError("%s: array %r holds %d NaN or infinite value(s); the weights are "
                                  "broken (a diverged run?)" % (mz, k, int((~np.isfinite(a)).sum())))
    return doc, arrays


class Model(object):
    """A loaded checkpoint: the network and everything a caller needs to feed it.

    Attributes
    ----------
    path : str — the checkpoint folder
    net : OrderedDict name -> Lasagne layer (``net['input']`` ... the last layer)
    doc : dict — ``model.json`` as read
    config : dict — the network configuration (``doc['config']``)
    input_shape : tuple (C, H, W) — the built network's input
    classes : list of str — class names (indices as strings when the file has none)
    preprocessing : dict — ``mean``, ``std`` per channel, in pixel units 0-255
    dataset : str or None — the dataset the checkpoint was trained on, if recorded

    Examples
    --------
    >>> m = load_model("runs/demo/final")                    # doctest: +SKIP
    >>> x = m.preprocess(m.load_images(["shirt.png"]))      # (1, 1, 28, 28) float32
    """

    def __init__(self, path, net, doc):
        self.path, self.net, self.doc = path, net, doc
        self.config = doc["config"]
        self.input_shape = tuple(int(s) for s in net["input"].shape[1:])
        n = int(self.config["num_classes"])
        self.classes = list(doc.get("class_names") or [str(i) for i in range(n)])
        self.preprocessing = doc["preprocessing"]
        self.dataset = doc.get("dataset")

    @property
    def name(self):
        """The configuration's name (``small``, ``zf``, ``vgg16`` ...)."""
        return self.config["name"]

    def preprocess(self, images):
        """uint8 pixels (N, C, H, W) or one image (C, H, W) -> float32 (N, C, H, W) network
        input: ``(x - mean) / std`` per channel, as in training."""
        from ..data.dataset import normalize
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        return normalize(images, self.preprocessing["mean"], self.preprocessing["std"])

    def load_images(self, paths):
        """Read image files as uint8 (N, C, H, W) at the network's input: converted to its
        channel count, short side resized and centre-cropped (square inputs) or resized."""
        from ..data.images import load_image
        from ..errors import DataNotFound
        c, h, w = self.input_shape
        out = []
        for p in paths:
            if not os.path.isfile(p):
                raise DataNotFound("Image %s does not exist" % p)
            out.append(load_image(p, size=h if h == w else (h, w), channels=c))
        return np.stack(out)

    def __repr__(self):
        return "Model(%r, %s, input %r, %d classes)" % (self.path, self.name, self.input_shape,
                                                          len(self.classes))


def load_model(path, input_shape=None, batch_size=None, input_var=None):
    """Build the network of a checkpoint and load its weights.

    Returns a :class:`Model`. ``input_shape`` (C, H, W) may differ from the
    training size (fully convolutional: larger inputs give score maps).
    """
    from ..nn import model
    doc, arrays = read_checkpoint(path)
    net = model.build(doc["config"], input_shape=input_shape, batch_size=batch_size,
                      input_var=input_var)
    model.set_weights(net, arrays, source=os.path.join(path, "model.npz"))
    return Model(path, net, doc)
