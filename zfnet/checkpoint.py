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
import shutil
import tempfile

import numpy as np

FORMAT = "zfnet-checkpoint"
VERSION = 1


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path, data):
    """Write ``data`` to ``path`` via a temporary file + fsync + rename."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=d)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual mode
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(path, obj):
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def atomic_write_npz(path, arrays):
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


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
    """Write a checkpoint folder atomically.

    ``files`` maps file names to dicts (written as JSON) or to
    ``{name: array}`` mappings under a ``.npz`` name. An existing folder at
    ``path`` is replaced only once the new one is complete.
    """
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".tmp-", dir=parent)
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        for name, content in files.items():
            if name.endswith(".npz"):
                atomic_write_npz(os.path.join(tmp, name), content)
            else:
                atomic_write_json(os.path.join(tmp, name), content)
        if os.path.exists(path):
            trash = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".old-", dir=parent)
            os.rename(path, os.path.join(trash, "x"))
            os.rename(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, path)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or does not fit the model."""


def read_checkpoint(path):
    """Return ``(model_json_dict, {name: array})`` of a checkpoint folder."""
    if os.path.isfile(path) and os.path.basename(path) in ("model.json", "model.npz"):
        path = os.path.dirname(path)
    mj, mz = os.path.join(path, "model.json"), os.path.join(path, "model.npz")
    for f in (mj, mz):
        if not os.path.exists(f):
            raise CheckpointError("%s is not a checkpoint: %s is missing (a checkpoint folder "
                                  "holds model.json and model.npz)" % (path, os.path.basename(f)))
    try:
        with open(mj) as f:
            doc = json.load(f)
    except ValueError as e:
        raise CheckpointError("%s is not valid JSON: %s" % (mj, e))
    if doc.get("format") != FORMAT:
        raise CheckpointError("%s has format %r, expected %r" % (mj, doc.get("format"), FORMAT))
    try:
        with np.load(mz) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise CheckpointError("Cannot read %s: %s" % (mz, e))
    return doc, arrays


def load_model(path, input_shape=None, batch_size=None, input_var=None):
    """Build the network of a checkpoint and load its weights.

    Returns ``(net, doc)``: the OrderedDict of layers and the ``model.json`` dict.
    ``input_shape`` (C, H, W) may differ from the training size (fully
    convolutional: larger inputs give score maps).
    """
    from . import model
    doc, arrays = read_checkpoint(path)
    net = model.build(doc["config"], input_shape=input_shape, batch_size=batch_size,
                      input_var=input_var)
    model.set_weights(net, arrays, source=os.path.join(path, "model.npz"))
    return net, doc
