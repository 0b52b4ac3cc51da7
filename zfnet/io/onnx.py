"""Import a chain-shaped ONNX classifier (ZFNet-512, AlexNet-like) into a zfnet checkpoint.

``python -m zfnet import-onnx MODEL.onnx --out CHECKPOINT_DIR``

The graph must be a chain from its image input to its output made of:

=========  =====================================================================
ONNX       becomes
=========  =====================================================================
Conv       ``conv`` (cross-correlation, as ONNX defines it); square kernel,
           equal strides, symmetric equal pads, group 1, dilation 1
Relu       ``relu``
LRN        ``lrn`` with ``alpha / size`` (ONNX divides alpha by the window size,
           Lasagne does not), ``beta``, ``k = bias``, ``n = size``
MaxPool    ``maxpool``; no pads; ``ceil_mode`` 0 -> floor (``ignore_border``)
Reshape,   mark the flatten before the first Gemm
Flatten
Gemm       ``fc`` (a convolution spanning the map it receives; the first one's
           weights are un-flattened channels-first); alpha = beta = 1
Softmax    ``softmax`` (``prob``), last
Dropout    nothing (inference)
=========  =====================================================================

Weights may be initializers, ``Constant`` or ``ConstantOfShape`` nodes. Anything else
raises an error naming the node and what is supported. Layers are named like this
project's ZF configuration: ``conv1``.., ``relu1``.., ``pool1``.., ``norm1``.., then
``fc<k>`` numbered on from the last convolution (ZF: ``fc6``, ``fc7``, ``fc8``).

Preprocessing (``--preprocess``; the model zoo does not state ZFNet-512's, so it is a choice):

* ``caffe`` (default): the graph takes BGR pixels 0-255 minus the ImageNet mean B 104,
  G 117, R 123, the convention of the Caffe/Caffe2 models ZFNet-512 comes from. The
  channel reversal is folded into ``conv1`` (its input channels are reordered), so the
  checkpoint takes RGB pixels with ``mean = [123, 117, 104]``, ``std = 1``, and
  projections come back in RGB;
* ``torch``: RGB, pixels / 255, minus mean [0.485, 0.456, 0.406], over std
  [0.229, 0.224, 0.225] (torchvision's exports);
* ``none``: the graph's raw input values are the pixel values 0-255.
"""
import json
import os

import numpy as np

from . import checkpoint as ckpt
from ..errors import FileMissing, ImportFormatError, ZfnetError
from ..nn.shapes import conv_output_hw, pool_output_length
from ..report import info

PREPROCESSING = {
    # name: (reverse the channels (BGR graph), mean and std in RGB pixel units 0-255, description)
    "caffe": (True, [123.0, 117.0, 104.0], [1.0, 1.0, 1.0],
              "assumed Caffe convention (the model zoo does not state ZFNet-512's): the graph takes "
              "BGR 0-255 minus B 104 G 117 R 123; the channel reversal is folded into conv1"),
    "torch": (False, [0.485 * 255, 0.456 * 255, 0.406 * 255], [0.229 * 255, 0.224 * 255, 0.225 * 255],
              "torchvision convention: RGB / 255, minus [0.485, 0.456, 0.406], over [0.229, 0.224, 0.225]"),
    "none": (False, [0.0, 0.0, 0.0], [1.0, 1.0, 1.0], "none: the graph takes pixel values 0-255 as they are"),
}

SUPPORTED = ("Conv", "Relu", "LRN", "MaxPool", "Reshape", "Flatten", "Gemm", "Softmax", "Dropout",
             "Constant", "ConstantOfShape")


class OnnxImportError(ImportFormatError):
    """An ONNX file this importer cannot read, with the node and the reason."""


def _attrs(node):
    from onnx import helper
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _node_name(node):
    return "%s node %r (outputs %s)" % (node.op_type, node.name or "", list(node.output))


def _constants(graph):
    from onnx import numpy_helper
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
        elif node.op_type == "ConstantOfShape":
            shape = consts.get(node.input[0])
            if shape is None:
                raise OnnxImportError("%s: its shape input %r is not a constant" % (_node_name(node), node.input[0]))
            value = _attrs(node).get("value")
            v = numpy_helper.to_array(value).ravel()[0] if value is not None else 0.0
            consts[node.output[0]] = np.full(tuple(int(s) for s in shape), v, np.float32)
    return consts


def graph_to_config(model, name="onnx"):
    """(configuration, weights) of an ONNX ModelProto. A malformed graph (a node without
    the inputs its operator needs, a tensor of the wrong rank or that does not decode) raises
    :class:`OnnxImportError` naming it."""
    try:
        return _graph_to_config(model, name)
    except ImportFormatError:
        raise
    except (IndexError, KeyError, ValueError, TypeError, AttributeError, ArithmeticError) as e:
        raise OnnxImportError("the graph cannot be read (%s: %s); expected a chain of Conv, Relu, "
                              "LRN, MaxPool, Flatten/Reshape, Gemm and Softmax nodes"
                              % (type(e).__name__, str(e).split("\n")[0]))


def _weights(node, consts, what, ndims):
    """The constant weight input ``node.input[1]`` with one of ``ndims`` dimensions."""
    if len(node.input) < 2 or not node.input[1]:
        raise OnnxImportError("%s has no %s input (it has %d input(s)); a %s node needs its "
                              "weights as its second input" % (_node_name(node), what, len(node.input),
                                                               node.op_type))
    W = consts.get(node.input[1])
    if W is None:
        raise OnnxImportError("%s: weights %r are not constants" % (_node_name(node), node.input[1]))
    if W.ndim not in ndims or W.dtype.kind not in "fiu" or 0 in W.shape:
        raise OnnxImportError("%s: weights %r have shape %r and dtype %s; expected %s dimensions "
                              "of numbers" % (_node_name(node), node.input[1], W.shape, W.dtype,
                                              " or ".join(map(str, ndims))))
    return W


def _bias(node, consts, n):
    if len(node.input) < 3 or not node.input[2]:
        return np.zeros(n, np.float32)
    b = consts.get(node.input[2])
    if b is None or np.asarray(b).size != n:
        raise OnnxImportError("%s: bias %r is %s; expected %d constant values"
                              % (_node_name(node), node.input[2],
                                 "not a constant" if b is None else "of shape %r" % (b.shape,), n))
    return np.asarray(b, np.float32).reshape(-1)


def _graph_to_config(model, name):
    g = model.graph
    consts = _constants(g)
    inputs = [i for i in g.input if i.name not in consts]
    if len(inputs) != 1:
        raise OnnxImportError("the graph has %d non-constant inputs (%s); expected one image input"
                              % (len(inputs), [i.name for i in inputs]))
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) != 4 or not all(dims[1:]):
        raise OnnxImportError("input %r has shape %r; expected (N, C, H, W) with known C, H, W"
                              % (inputs[0].name, dims))
    c, h, w = dims[1:]
    cur, layers, arrays = inputs[0].name, [], {}
    counts = {"conv": 0, "relu": 0, "maxpool": 0, "lrn": 0}
    n_fc, flattened, shape = 0, False, (c, h, w)
    block = 0
    for node in g.node:
        op = node.op_type
        if op in ("Constant", "ConstantOfShape"):
            continue
        if op not in SUPPORTED:
            raise OnnxImportError("%s is not supported: the importer reads %s"
                                  % (_node_name(node), ", ".join(SUPPORTED)))
        if not node.input or node.input[0] != cur:
            raise OnnxImportError("%s does not continue the chain (its input %r, the chain is at %r): "
                                  "only sequential graphs are supported"
                                  % (_node_name(node), node.input[0] if node.input else None, cur))
        a = _attrs(node)
        if op == "Conv":
            W = _weights(node, consts, "weights", (4,))
            if W.shape[1] != shape[0]:
                raise OnnxImportError("%s: weights %r take %d input channels; the map it receives has %d"
                                      % (_node_name(node), W.shape, W.shape[1], shape[0]))
            b = _bias(node, consts, W.shape[0])
            k = list(a.get("kernel_shape", W.shape[2:]))
            s = list(a.get("strides", [1, 1])); p = list(a.get("pads", [0, 0, 0, 0]))
            if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])) \
                    or k[0] != k[1] or s[0] != s[1] or len(set(p)) != 1 or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
                raise OnnxImportError("%s: attributes %r not supported (square kernel, equal strides, "
                                      "one pad on all sides, group 1, dilation 1, no auto_pad)"
                                      % (_node_name(node), a))
            counts["conv"] += 1; block = counts["conv"]
            nm = "conv%d" % block
            layers.append(dict(name=nm, type="conv", num_filters=int(W.shape[0]), filter_size=int(k[0]),
                               stride=int(s[0]), pad=int(p[0])))
            arrays[nm + ".W"], arrays[nm + ".b"] = W.astype(np.float32), b.astype(np.float32)
            shape = (int(W.shape[0]),) + conv_output_hw(shape[1:], k[0], s[0], p[0])
        elif op == "Relu":
            nm = "relu%d" % block if n_fc == 0 else "relu%d" % (counts["conv"] + n_fc)
            layers.append(dict(name=nm, type="relu"))
        elif op == "LRN":
            if "size" not in a:
                raise OnnxImportError("%s has no 'size' attribute, which ONNX requires for LRN"
                                      % _node_name(node))
            size = int(a["size"])
            if size < 1 or size % 2 == 0:
                raise OnnxImportError("%s has size %d; LRN needs an odd size >= 1" % (_node_name(node), size))
            layers.append(dict(name="norm%d" % block, type="lrn", n=size, alpha=float(a.get("alpha", 1e-4)) / size,
                               beta=float(a.get("beta", 0.75)), k=float(a.get("bias", 1.0))))
        elif op == "MaxPool":
            if "kernel_shape" not in a:
                raise OnnxImportError("%s has no 'kernel_shape' attribute, which ONNX requires for "
                                      "MaxPool" % _node_name(node))
            k = list(a["kernel_shape"]); s = list(a.get("strides", [1, 1]))
            if any(a.get("pads", [0, 0, 0, 0])) or k[0] != k[1] or s[0] != s[1] \
                    or any(d != 1 for d in a.get("dilations", [1, 1])):
                raise OnnxImportError("%s: attributes %r not supported (square window, equal strides, "
                                      "no pads, no dilation)" % (_node_name(node), a))
            ceil = bool(a.get("ceil_mode", 0))
            layers.append(dict(name="pool%d" % block, type="maxpool", pool_size=int(k[0]), stride=int(s[0]),
                               ignore_border=not ceil))
            # the map size the built model will have (Lasagne's rule for floor/ceil pooling)
            shape = (shape[0],) + tuple(pool_output_length(n, k[0], s[0], 0, not ceil) for n in shape[1:])
        elif op in ("Reshape", "Flatten"):
            flattened = True
        elif op == "Gemm":
            if a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or a.get("transA", 0):
                raise OnnxImportError("%s: alpha/beta other than 1 or transA not supported (%r)" % (_node_name(node), a))
            B = _weights(node, consts, "weights", (2,))
            B = B.T if not a.get("transB", 0) else B     # (out, in)
            bias = _bias(node, consts, B.shape[0])
            n_fc += 1
            nm = "fc%d" % (counts["conv"] + n_fc)
            cin, hh, ww = shape
            if n_fc == 1 and not flattened and hh * ww != 1:
                raise OnnxImportError("%s: a Gemm on a %r map without a Reshape/Flatten before it" % (_node_name(node), shape))
            if B.shape[1] != cin * hh * ww:
                raise OnnxImportError("%s: weights %r do not fit the %dx%dx%d map it receives"
                                      % (_node_name(node), B.shape, cin, hh, ww))
            layers.append(dict(name=nm, type="fc", num_units=int(B.shape[0])))
            arrays[nm + ".W"] = B.reshape(B.shape[0], cin, hh, ww).astype(np.float32)
            arrays[nm + ".b"] = np.asarray(bias, np.float32).reshape(-1)
            shape = (int(B.shape[0]), 1, 1)
        elif op == "Softmax":
            layers.append(dict(name="prob", type="softmax"))
        # Dropout: nothing
        cur = node.output[0]
    if not layers:
        raise OnnxImportError("the graph has no layers this importer reads (%s)" % ", ".join(SUPPORTED))
    if not any(l["type"] in ("conv", "fc") for l in layers):
        raise OnnxImportError("the graph has no Conv or Gemm layer: nothing to import")
    if cur not in [o.name for o in g.output]:
        raise OnnxImportError("the chain ends at %r, not at a graph output (%s)" % (cur, [o.name for o in g.output]))
    fcs = [l for l in layers if l["type"] == "fc"]
    cfg = dict(name=name, input_shape=[c, h, w], num_classes=fcs[-1]["num_units"] if fcs else shape[0],
               layers=layers)
    return cfg, arrays


def _zfnet_metadata(model):
    """What ``zfnet export-onnx`` wrote into ``metadata_props`` (decoded JSON), or {}."""
    meta = {}
    for p in model.metadata_props:
        if p.key.startswith("zfnet."):
            try:
                meta[p.key[len("zfnet."):]] = json.loads(p.value)
            except ValueError:
                raise OnnxImportError("metadata %r is not valid JSON (%r...)" % (p.key, p.value[:60]))
    return meta


def _restore_names(cfg, arrays, exported):
    """``(config, arrays, why not)``: the exported configuration (its name, layer names, dropout
    layers) with the arrays renamed to it when the graph's layers are exactly it without its
    dropout layers; else the graph's own and the reason."""
    if not isinstance(exported, dict) or not isinstance(exported.get("layers"), list):
        return cfg, arrays, "the file's zfnet.config is not a configuration"
    keys = ("type", "num_filters", "filter_size", "stride", "pad", "num_units", "pool_size", "n", "beta", "k")
    kept = [l for l in exported["layers"] if isinstance(l, dict) and l.get("type") != "dropout"]

    def same(a, b):
        for k in keys:
            va, vb = a.get(k), b.get(k)
            if k == "filter_size" and a.get("type") == "fc":
                continue
            if isinstance(va, float) or isinstance(vb, float):
                if va is None or vb is None or abs(va - vb) > 1e-6 * max(1.0, abs(vb)):
                    return False
            elif va != vb:
                return False
        return True
    if len(kept) != len(cfg["layers"]) or not all(same(a, b) for a, b in zip(cfg["layers"], kept)):
        return cfg, arrays, "the graph's layers differ from the file's zfnet.config"
    rename = {a["name"]: b["name"] for a, b in zip(cfg["layers"], kept)}
    arrays = {rename[k.rsplit(".", 1)[0]] + "." + k.rsplit(".", 1)[1]: v for k, v in arrays.items()}
    n = exported.get("num_classes")
    restored = dict(cfg, name=exported.get("name", cfg["name"]),
                    num_classes=n if isinstance(n, int) and not isinstance(n, bool) else cfg["num_classes"],
                    layers=[{k: v for k, v in l.items() if k not in ("output_shape", "W_shape")}
                            for l in exported["layers"]])
    return restored, arrays, None


def import_onnx(path, out, preprocess=None, random_weights=None, log=info, force=False):
    """Convert the ONNX file ``path`` into the checkpoint folder ``out``; returns ``out``.
    ``out`` must not exist, or be a checkpoint and ``force`` true
    (:func:`zfnet.io.checkpoint.check_output`).

    ``preprocess``: one of :data:`PREPROCESSING` (see the module's docstring); by default the
    preprocessing a ``zfnet export-onnx`` file states in its metadata (with its class names and
    layer names), else ``caffe``.
    ``random_weights``: a seed: keep the graph's architecture but give it He-initialised
    weights (e.g. for ``light_zfnet512.onnx``, whose weights are a constant placeholder).
    """
    import onnx
    from ..nn import configs
    from ..nn import model as modelmod
    from ..backend import lasagne
    from ..data.classes import imagenet_class_names
    ckpt.check_output(out, force)
    if preprocess is not None and preprocess not in PREPROCESSING:
        raise OnnxImportError("unknown preprocessing %r: expected one of %s"
                              % (preprocess, ", ".join(sorted(PREPROCESSING))))
    if not os.path.isfile(path):
        raise FileMissing("%s does not exist" % path)
    try:
        m = onnx.load(path)
    except Exception as e:  # onnx raises DecodeError and others
        raise OnnxImportError("%s is not an ONNX model (%s)" % (path, str(e).split("\n")[0]))
    if not m.ir_version or not m.HasField("graph"):  # an empty file parses as an empty message
        raise OnnxImportError("%s is not an ONNX model: it holds no graph (ir_version %d, %d bytes)"
                              % (path, m.ir_version, os.path.getsize(path)))
    name = os.path.splitext(os.path.basename(path))[0]
    cfg, arrays = graph_to_config(m, name=name)
    meta = _zfnet_metadata(m)
    exported = preprocess is None and "preprocessing" in meta
    if "config" in meta:
        cfg, arrays, why = _restore_names(cfg, arrays, meta["config"])
        if why:
            log("%s: layer names from the graph (%s)" % (path, why))
    configs.validate(cfg)
    c = cfg["input_shape"][0]
    if exported:
        pre = meta["preprocessing"]
        if not isinstance(pre, dict):
            raise OnnxImportError("metadata zfnet.preprocessing is not an object: %r" % (pre,))
        reverse, mean, std, description = False, pre.get("mean"), pre.get("std"), "as stated by the zfnet export"
        preprocess = "zfnet export"
    else:
        preprocess = preprocess or "caffe"
        reverse, mean, std, description = PREPROCESSING[preprocess]
    if not exported and c != 3 and preprocess != "none":
        raise OnnxImportError("preprocessing %r needs a 3-channel input; the graph takes %d channels: "
                              "use --preprocess none" % (preprocess, c))
    if random_weights is not None:
        lasagne.random.set_rng(np.random.RandomState(int(random_weights)))
        net = modelmod.build(cfg)
        arrays = modelmod.get_weights(net)
        description += "; weights: He initialisation (seed %d), not the file's" % int(random_weights)
    else:
        if reverse:  # the graph's conv1 reads BGR; the checkpoint is fed RGB
            first = [l["name"] for l in cfg["layers"] if l["type"] == "conv"][0]
            arrays[first + ".W"] = np.ascontiguousarray(arrays[first + ".W"][:, ::-1])
        net = modelmod.build(cfg)
        modelmod.set_weights(net, arrays, source=path)
    if exported:
        pre = dict(meta["preprocessing"], source=description)
    else:
        pre = {"mean": mean if c == 3 else [0.0] * c, "std": std if c == 3 else [1.0] * c,  # c != 3: 'none'
               "units": "pixel values 0-255, RGB", "source": description, "name": preprocess}
    names = meta.get("class_names")
    if not (isinstance(names, list) and len(names) == cfg["num_classes"] and all(isinstance(n, str) for n in names)):
        names = imagenet_class_names(cfg["num_classes"])
    doc = ckpt.model_json(cfg, net, pre, names,
                          imported_from={"file": os.path.basename(path), "format": "onnx",
                                         "opset": [o.version for o in m.opset_import],
                                         "random_weights": random_weights})
    if exported:  # numbers from the file's metadata: checked as any model.json is
        try:
            ckpt.validate_doc(doc, "%s's zfnet metadata" % path)
        except ZfnetError as e:
            raise OnnxImportError(str(e))
    ckpt.write_checkpoint(out, {"model.json": doc, "model.npz": arrays})
    log("imported %s (%d layers, %d parameters, preprocessing %s%s) -> %s"
        % (path, len(cfg["layers"]), modelmod.count_params(net), preprocess,
           ", random weights" if random_weights is not None else "", out))
    return out
