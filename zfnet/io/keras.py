"""Import Keras HDF5 weights (VGG16 and VGG-like models) into a zfnet checkpoint.

``python -m zfnet import-keras FILE.h5 --out CHECKPOINT_DIR``

Two layouts are read (with h5py), from a weights file or a whole saved model
(whose weights sit under ``model_weights``):

* **Keras 2** (``vgg16_weights_tf_dim_ordering_tf_kernels.h5``): weights named
  ``<layer>/kernel:0`` and ``<layer>/bias:0``; convolution kernels ``(h, w, in, out)``
  applied as cross-correlation; dense kernels ``(in, out)``; the flatten before
  ``fc1`` runs over a channels-last ``(h, w, c)`` map.
* **Keras 1 / Theano** (``vgg16_weights_th_dim_ordering_th_kernels.h5``): weights named
  ``<layer>_W_1:0``/``<layer>_W:0`` and ``<layer>_b_1:0``; convolution kernels
  ``(out, in, h, w)`` stored flipped (Theano convolves, it does not cross-correlate);
  the flatten runs over a channels-first ``(c, h, w)`` map.

Both become this project's layout: cross-correlation filters ``(out, in, h, w)``;
``fc1`` a convolution whose filter spans block5's 7x7 map; ``fc2`` and
``predictions`` 1x1 convolutions.

Keras's VGG preprocessing ("caffe" mode) takes RGB pixels 0-255, reverses them to BGR
and subtracts the ImageNet mean (B 103.939, G 116.779, R 123.68), with no scaling.
The checkpoint folds the channel reversal into ``block1_conv1`` (its input channels
are reordered), so it takes RGB pixels like every other checkpoint here, with
``mean = [123.68, 116.779, 103.939]`` (R, G, B) and ``std = [1, 1, 1]``: the same
numbers reach the same filters.
"""
import os

import numpy as np

from . import checkpoint as ckpt
from ..data.classes import imagenet_class_names
from ..errors import FileMissing, ImportFormatError
from ..nn import configs
from ..report import info

KERAS_MEAN_RGB = [123.68, 116.779, 103.939]


class KerasImportError(ImportFormatError):
    """The file is not a Keras HDF5 file this importer can read."""


def _group(f):
    return f["model_weights"] if "model_weights" in f else f


def _names(attr):
    return [n.decode() if isinstance(n, bytes) else str(n) for n in attr]


def read_keras_weights(path):
    """{layer: {'kernel': array, 'bias': array}} and the layout ('keras2' or 'keras1')."""
    import h5py
    if not os.path.isfile(path):
        raise FileMissing("%s does not exist" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise KerasImportError("%s is not an HDF5 file (%s)" % (path, e))
    with f:
        try:
            out, layouts = _read_groups(path, f)
        except ImportFormatError:
            raise
        except (KeyError, ValueError, TypeError, OSError, AttributeError) as e:
            raise KerasImportError("%s: cannot read its weights (%s: %s); expected a Keras HDF5 "
                                   "weights file" % (path, type(e).__name__, e))
    if len(layouts) != 1:
        raise KerasImportError("%s mixes or lacks weight layouts (%s)" % (path, sorted(layouts) or "none"))
    return out, layouts.pop()


def _read_groups(path, f):
    import h5py
    g = _group(f)
    if "layer_names" not in g.attrs:
        raise KerasImportError("%s has no 'layer_names' attribute: not a Keras weights file "
                               "(expected the output of model.save_weights or model.save)" % path)
    out, layouts = {}, set()
    for layer in _names(g.attrs["layer_names"]):
        if layer not in g or not isinstance(g[layer], h5py.Group):
            raise KerasImportError("%s: layer_names lists %r, but the file has no group %r"
                                   % (path, layer, layer))
        names = _names(g[layer].attrs.get("weight_names", []))
        if not names:
            continue
        arrays = {}
        for wn in names:
            base = wn.split("/")[-1].split(":")[0]
            if wn not in g[layer] or not isinstance(g[layer][wn], h5py.Dataset):
                raise KerasImportError("%s: layer %r names the weight %r, which the file does not hold"
                                       % (path, layer, wn))
            a = np.asarray(g[layer][wn])
            if a.dtype.kind not in "fiu":
                raise KerasImportError("%s: weight %r of layer %r has dtype %s; expected numbers"
                                       % (path, wn, layer, a.dtype))
            if base in ("kernel", "bias"):
                layouts.add("keras2"); arrays[base] = a
            elif base.startswith(layer + "_W") or base in ("W",):
                layouts.add("keras1"); arrays["kernel"] = a
            elif base.startswith(layer + "_b") or base in ("b",):
                layouts.add("keras1"); arrays["bias"] = a
            else:
                raise KerasImportError("%s: layer %r has a weight %r; expected kernel/bias (Keras 2) or "
                                       "%s_W/%s_b (Keras 1)" % (path, layer, wn, layer, layer))
        out[layer] = arrays
    return out, layouts


def convert(cfg, weights, layout):
    """Keras arrays -> this project's ``<layer>.W`` / ``<layer>.b`` for configuration ``cfg``
    (input channels of the first convolution reversed: the checkpoint takes RGB)."""
    from ..nn import model as modelmod
    net = modelmod.build(cfg)
    arrays, first_conv = {}, True
    for spec in cfg["layers"]:
        if spec["type"] not in ("conv", "fc"):
            continue
        name = spec["name"]
        if name not in weights:
            raise KerasImportError("the file has no weights for layer %r (it has %s)"
                                   % (name, ", ".join(sorted(weights))))
        missing = [x for x in ("kernel", "bias") if x not in weights[name]]
        if missing:
            raise KerasImportError("the file's layer %r has no %s (it has %s); a Keras layer stores "
                                   "a kernel and a bias" % (name, " and no ".join(missing),
                                                            ", ".join(sorted(weights[name])) or "nothing"))
        k, b = weights[name]["kernel"], weights[name]["bias"]
        want = net[name].W.get_value(borrow=True).shape  # (out, in, h, w)
        if spec["type"] == "conv":
            if k.ndim != 4:
                raise KerasImportError("layer %r: convolution kernel of shape %r has %d dimensions; "
                                       "expected 4 (%s)" % (name, k.shape, k.ndim,
                                                            "h, w, in, out" if layout == "keras2"
                                                            else "out, in, h, w"))
            if layout == "keras2":
                W = k.transpose(3, 2, 0, 1)
            else:
                W = k[:, :, ::-1, ::-1]
        else:
            out_c, in_c, h, w = want
            if k.ndim != 2 or k.shape != (in_c * h * w, out_c):
                raise KerasImportError("layer %r: dense kernel %r, expected (%d, %d) to feed a %dx%dx%d map"
                                       % (name, k.shape, in_c * h * w, out_c, in_c, h, w))
            if layout == "keras2":   # flatten over (h, w, c)
                W = k.reshape(h, w, in_c, out_c).transpose(3, 2, 0, 1)
            else:                    # flatten over (c, h, w)
                W = k.reshape(in_c, h, w, out_c).transpose(3, 0, 1, 2)
        if W.shape != want or b.shape != (want[0],):
            raise KerasImportError("layer %r: converted weights %r / bias %r do not fit the configuration's "
                                   "%r / (%d,)" % (name, W.shape, b.shape, want, want[0]))
        if first_conv:
            W = W[:, ::-1]  # BGR filters -> RGB input
            first_conv = False
        arrays[name + ".W"] = np.ascontiguousarray(W, np.float32)
        arrays[name + ".b"] = np.asarray(b, np.float32)
    return net, arrays


def import_keras(path, out, cfg=None, include_top=None, log=info, force=False):
    """Convert the Keras HDF5 file ``path`` into the checkpoint folder ``out``.

    ``cfg``: the configuration the file holds (default: ``vgg16``, or ``vgg16-notop`` when
    the file has no ``fc1``); ``include_top``: force with/without the top. ``out`` must not
    exist, or be a checkpoint and ``force`` true (:func:`zfnet.io.checkpoint.check_output`).
    """
    from ..nn import model as modelmod
    ckpt.check_output(out, force)
    weights, layout = read_keras_weights(path)
    if cfg is None:
        top = ("fc1" in weights) if include_top is None else include_top
        cfg = configs.get_config("vgg16" if top else "vgg16-notop")
    net, arrays = convert(cfg, weights, layout)
    modelmod.set_weights(net, arrays, source=path)
    pre = {"mean": KERAS_MEAN_RGB if cfg["input_shape"][0] == 3 else [0.0],
           "std": [1.0] * cfg["input_shape"][0], "units": "pixel values 0-255, RGB",
           "source": "Keras 'caffe' preprocessing (BGR, mean subtraction); the channel reversal is "
                     "folded into the first convolution"}
    doc = ckpt.model_json(cfg, net, pre, imagenet_class_names(cfg["num_classes"]),
                          imported_from={"file": os.path.basename(path), "format": layout})
    ckpt.write_checkpoint(out, {"model.json": doc, "model.npz": arrays})
    log("imported %s (%s layout, %d layers with weights) -> %s"
        % (path, layout, len(arrays) // 2, out))
    return out
