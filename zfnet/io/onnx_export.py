"""Export a checkpoint as a standard ONNX graph (``zfnet export-onnx CHECKPOINT --out model.onnx``).

Every configuration here is a chain, and each layer has an ONNX operator:

=========  =====================================================================
zfnet      ONNX (opset :data:`OPSET` by default)
=========  =====================================================================
conv       ``Conv`` (cross-correlation in both; pads on all four sides)
relu       ``Relu``
lrn        ``LRN`` with ``alpha = alpha * n`` (ONNX divides alpha by the window
           size, Lasagne does not), ``beta``, ``bias = k``, ``size = n``
maxpool    ``MaxPool``; ``ignore_border`` False -> ``ceil_mode`` 1
fc         ``Flatten`` before the first one, then ``Gemm`` (``transB`` 1) with the
           filter flattened channels-first, as the map is
dropout    nothing (inference)
softmax    ``Softmax`` over the classes, last
=========  =====================================================================

The graph's input ``input`` is ``(N, C, H, W)`` float32 at the training size, already
preprocessed; its outputs are ``logits`` ``(N, classes)`` (before the softmax) and, when the
network ends with one, ``prob``. A network without fc layers (e.g. ``vgg16-notop``) outputs
``features``, the last layer's map. The preprocessing is stated in the model's metadata
(``metadata_props``: ``zfnet.preprocessing``, JSON ``{mean, std, units, crop, ...}``: feed
``(pixels - mean) / std`` per channel, RGB), with the class names (``zfnet.class_names``) and
the configuration (``zfnet.config``); ``zfnet import-onnx`` reads them back, so a round trip
gives the same weights, preprocessing and class names.
"""
import json
import os

import numpy as np

from . import checkpoint as ckpt
from ..errors import UsageError, ZfnetError
from ..files import atomic_write_bytes
from ..nn.shapes import conv_output_hw, pool_output_length
from ..report import info

#: the default opset: LRN, MaxPool's ceil_mode and Flatten's axis all as used here since opset 10
OPSET = 13
OPSETS = tuple(range(10, 19))  # the range the tests check with onnxruntime
KINDS = ("conv", "relu", "lrn", "maxpool", "fc", "dropout", "softmax")


class OnnxExportError(ZfnetError):
    """A checkpoint that ONNX cannot express as this exporter writes it (names the layer)."""


def _layer_error(spec, why):
    return OnnxExportError("layer %r (%s): %s" % (spec.get("name"), spec.get("type"), why))


def checkpoint_to_onnx(doc, arrays, opset=OPSET, producer_version=""):
    """The ONNX ``ModelProto`` of a checkpoint's ``model.json`` dict and weight arrays."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    if opset not in OPSETS:
        raise UsageError("opset %r: expected one of %d-%d" % (opset, OPSETS[0], OPSETS[-1]))
    cfg = doc["config"]
    c, h, w = [int(v) for v in cfg["input_shape"]]
    nodes, inits = [], []
    cur, shape = "input", (c, h, w)
    flattened, has_prob = False, False
    specs = cfg["layers"]
    # the network's result gets its output name when its node is made: the logits when fc
    # layers flatten the map (a softmax then reads them), else the last map, the features
    has_fc = any(spec.get("type") == "fc" for spec in specs)
    final = max([i for i, spec in enumerate(specs) if spec.get("type") not in ("dropout", "softmax")] or [None])
    for i, spec in enumerate(specs):
        kind, name = spec.get("type"), spec.get("name")
        if kind not in KINDS:
            raise _layer_error(spec, "no ONNX operator in this exporter; it writes %s" % ", ".join(KINDS))
        out = ("logits" if has_fc else "features") if i == final else name
        if kind in ("conv", "fc"):
            W, b = arrays.get(name + ".W"), arrays.get(name + ".b")
            if W is None:
                raise _layer_error(spec, "model.npz has no %s.W" % name)
            if W.ndim != 4 or W.shape[1] != shape[0]:
                raise _layer_error(spec, "weights of shape %r do not take the %d-channel map it receives"
                                   % (W.shape, shape[0]))
            b = np.zeros(W.shape[0], np.float32) if b is None else b
        if kind == "conv":
            if flattened:
                raise _layer_error(spec, "a convolution after an fc layer is not a chain this exporter "
                                   "writes (fc layers end the network)")
            f, s, p = int(spec["filter_size"]), int(spec.get("stride", 1)), int(spec.get("pad", 0))
            inits += [numpy_helper.from_array(W.astype(np.float32), name + ".W"),
                      numpy_helper.from_array(b.astype(np.float32), name + ".b")]
            nodes.append(helper.make_node("Conv", [cur, name + ".W", name + ".b"], [out], name=name,
                                          kernel_shape=[f, f], strides=[s, s], pads=[p, p, p, p]))
            shape = (int(W.shape[0]),) + tuple(conv_output_hw(shape[1:], f, s, p))
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [cur], [out], name=name))
        elif kind == "lrn":
            n = int(spec["n"])
            if n < 1 or n % 2 == 0:
                raise _layer_error(spec, "window n=%d; ONNX's LRN sums a centred window only for an odd size" % n)
            nodes.append(helper.make_node("LRN", [cur], [out], name=name, size=n,
                                          alpha=float(spec["alpha"]) * n, beta=float(spec["beta"]),
                                          bias=float(spec["k"])))
        elif kind == "maxpool":
            k, s = int(spec["pool_size"]), int(spec.get("stride", spec["pool_size"]))
            ceil = not spec.get("ignore_border", True)
            if ceil and s > k:
                raise _layer_error(spec, "ceil-mode pooling with a stride (%d) above the window (%d) "
                                   "counts its windows differently in ONNX" % (s, k))
            if flattened:
                raise _layer_error(spec, "pooling after an fc layer is not a chain this exporter writes")
            nodes.append(helper.make_node("MaxPool", [cur], [out], name=name, kernel_shape=[k, k],
                                          strides=[s, s], ceil_mode=int(ceil)))
            shape = (shape[0],) + tuple(pool_output_length(L, k, s, 0, not ceil) for L in shape[1:])
        elif kind == "fc":
            if tuple(W.shape[2:]) != tuple(shape[1:]):
                raise _layer_error(spec, "its filter spans %r but the map it receives is %r at the "
                                   "training size" % (W.shape[2:], shape[1:]))
            if not flattened:
                nodes.append(helper.make_node("Flatten", [cur], [name + ".flat"], name=name + ".flatten",
                                              axis=1))
                cur, flattened = name + ".flat", True
            inits += [numpy_helper.from_array(W.reshape(W.shape[0], -1).astype(np.float32), name + ".W"),
                      numpy_helper.from_array(b.astype(np.float32).reshape(-1), name + ".b")]
            nodes.append(helper.make_node("Gemm", [cur, name + ".W", name + ".b"], [out], name=name,
                                          transB=1))
            shape = (int(W.shape[0]), 1, 1)
        elif kind == "dropout":
            continue
        elif kind == "softmax":
            if i != len(specs) - 1:
                raise _layer_error(spec, "a softmax must end the network")
            if not flattened:
                raise _layer_error(spec, "a softmax over a map (no fc layer before it) is not exported")
            nodes.append(helper.make_node("Softmax", [cur], ["prob"], name=name, axis=1))
            out, has_prob = "prob", True
        cur = out
    if not nodes:
        raise OnnxExportError("the checkpoint's configuration has no layers")
    if has_fc:
        outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", shape[0]])
                   for o in (("logits", "prob") if has_prob else ("logits",))]
    else:
        outputs = [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N"] + list(shape))]
    graph = helper.make_graph(nodes, cfg.get("name", "zfnet"),
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, w])],
                              outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="zfnet", producer_version=producer_version)
    pre = doc.get("preprocessing", {})
    mean = [round(float(v), 4) for v in pre.get("mean", [])]
    std = [round(float(v), 4) for v in pre.get("std", [])]
    model.doc_string = ("%s exported by zfnet. Input 'input' (N, %d, %d, %d) float32: (pixels - mean) / std per "
                        "channel, pixels in %s, mean %s, std %s%s. Outputs: %s." % (
                            cfg.get("name", "network"), c, h, w, pre.get("units", "pixel values 0-255"), mean, std,
                            "; images stored at %s, centre crop %s" % (pre["stored_size"], pre["crop"])
                            if "crop" in pre and "stored_size" in pre else "",
                            ", ".join(o.name for o in outputs)))
    meta = {"zfnet.preprocessing": json.dumps(pre), "zfnet.class_names": json.dumps(doc.get("class_names", [])),
            "zfnet.config": json.dumps(cfg)}
    for k in ("dataset", "epoch"):
        if doc.get(k) is not None:
            meta["zfnet." + k] = json.dumps(doc[k])
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def export_onnx(checkpoint, out, opset=OPSET, force=False, log=info):
    """Write ``checkpoint`` (a folder) as the ONNX file ``out``; returns ``out``. An existing
    ``out`` is replaced only with ``force`` and only when it is a file (never a folder)."""
    if os.path.isdir(out):
        raise UsageError("--out %s is a folder; give a file name such as model.onnx (nothing was written)" % out)
    if os.path.lexists(out) and not force:
        raise UsageError("%s exists; pass --force to replace it, or choose another --out (nothing was "
                         "written)" % out)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise UsageError("--out %s: the folder %s does not exist" % (out, parent))
    doc, arrays = ckpt.read_checkpoint(checkpoint)
    from .. import __version__
    model = checkpoint_to_onnx(doc, arrays, opset=opset, producer_version=__version__)
    atomic_write_bytes(out, model.SerializeToString())
    log("exported %s (%s, %d nodes, opset %d) -> %s" % (
        checkpoint, doc["config"].get("name"), len(model.graph.node), opset, out))
    return out
