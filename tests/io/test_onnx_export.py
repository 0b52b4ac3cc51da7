"""ONNX export: every configuration's graph run by onnxruntime gives zfnet's logits on real
photos; export -> import gives back the same weights, preprocessing and names; what ONNX cannot
express is named."""
import json
import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from zfnet.backend import lasagne
from zfnet.errors import UsageError
from zfnet.io import checkpoint as ckpt
from zfnet.io import onnx as oi
from zfnet.io.onnx_export import OnnxExportError, export_onnx
from zfnet.nn import model as modelmod
from zfnet.nn.configs import get_config

QUIET = dict(log=lambda *a: None)


def _checkpoint(tmp_path, cfg, seed=0):
    """A checkpoint of ``cfg`` with He weights drawn from ``seed`` and a stated preprocessing."""
    lasagne.random.set_rng(np.random.RandomState(seed))
    net = modelmod.build(cfg)
    c = cfg["input_shape"][0]
    pre = {"mean": [120.0, 115.0, 100.0][:c], "std": [60.0, 58.0, 62.0][:c], "units": "pixel values 0-255"}
    out = str(tmp_path / cfg["name"])
    names = ["class %d" % i for i in range(cfg["num_classes"])]
    ckpt.write_checkpoint(out, {"model.json": ckpt.model_json(cfg, net, pre, names),
                                "model.npz": modelmod.get_weights(net)})
    return out


def _photos(c, size, n=3):
    """``n`` of the ImageNet photos (make test fetches them), centre ``size`` px, grey if c == 1."""
    from zfnet.data.photos import load_imagenet_photos
    x = load_imagenet_photos(size=size).x_test[:n]
    return x.mean(axis=1, keepdims=True).astype(np.uint8) if c == 1 else x


@pytest.mark.parametrize("name,kw", [("small", {}), ("zf64", {}), ("zf", {"num_classes": 1000}),
                                     ("vgg16-notop", {})])
def test_onnxruntime_gives_zfnets_outputs_on_photos_and_the_round_trip_gives_the_weights(tmp_path, name, kw):
    from zfnet.evaluate import features_function, logits_function
    cfg = get_config(name, **kw)
    src = _checkpoint(tmp_path, cfg, seed=3)
    path = export_onnx(src, str(tmp_path / (name + ".onnx")), **QUIET)
    model = ckpt.load_model(src)
    c, h, w = model.input_shape
    x = model.preprocess(_photos(c, h))
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    outs = {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, {"input": x}))}
    if "logits" in outs:
        ours = logits_function(model.net)(x)
        got = outs["logits"]
        p = np.exp(ours - ours.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
        np.testing.assert_allclose(outs["prob"], p, rtol=1e-4, atol=1e-6)
    else:
        last = cfg["layers"][-1]["name"]
        ours = features_function(model.net, [last])(x)[0]
        got = outs["features"].reshape(len(x), -1)
    assert got.shape == ours.shape and np.std(ours) > 0 and not np.allclose(ours[0], ours[1])
    np.testing.assert_allclose(got, ours, rtol=1e-4, atol=1e-4 * np.abs(ours).max())
    # the preprocessing and the names are in the metadata; the round trip restores them
    meta = {p.key: p.value for p in onnx.load(path).metadata_props}
    assert json.loads(meta["zfnet.preprocessing"])["mean"] == model.preprocessing["mean"]
    back = str(tmp_path / "back")
    oi.import_onnx(path, back, **QUIET)
    d0, a0 = ckpt.read_checkpoint(src)
    d1, a1 = ckpt.read_checkpoint(back)
    assert sorted(a0) == sorted(a1)
    for k in a0:
        np.testing.assert_array_equal(a0[k], a1[k])
    assert [l["name"] for l in d1["config"]["layers"]] == [l["name"] for l in d0["config"]["layers"]]
    assert d1["preprocessing"]["mean"] == d0["preprocessing"]["mean"] and d1["class_names"] == d0["class_names"]


def test_layers_onnx_cannot_express_are_named(tmp_path):
    cfg = get_config("small")
    pool = [l for l in cfg["layers"] if l["name"] == "pool5"][0]
    pool.update(pool_size=2, stride=3, ignore_border=False)  # ceil-mode windows counted differently
    src = _checkpoint(tmp_path, cfg)
    with pytest.raises(OnnxExportError, match=r"layer 'pool5' \(maxpool\): ceil-mode pooling with a stride"):
        export_onnx(src, str(tmp_path / "m.onnx"), **QUIET)
    assert not os.path.exists(str(tmp_path / "m.onnx"))
    (tmp_path / "b").mkdir()
    doc, arrays = ckpt.read_checkpoint(_checkpoint(tmp_path / "b", get_config("small")))
    doc["config"]["layers"].insert(3, {"name": "merge", "type": "concat"})  # not a chain layer
    from zfnet.io.onnx_export import checkpoint_to_onnx
    with pytest.raises(OnnxExportError, match=r"layer 'merge' \(concat\): no ONNX operator"):
        checkpoint_to_onnx(doc, arrays)


def test_export_refuses_to_replace_what_the_user_did_not_name(tmp_path):
    src = _checkpoint(tmp_path, get_config("small"))
    target = tmp_path / "m.onnx"
    target.write_text("notes")
    with pytest.raises(UsageError, match="exists; pass --force"):
        export_onnx(src, str(target), **QUIET)
    assert target.read_text() == "notes"
    with pytest.raises(UsageError, match="is a folder"):
        export_onnx(src, str(tmp_path), **QUIET)
    with pytest.raises(UsageError, match="opset 9: expected one of 10-18"):
        export_onnx(src, str(tmp_path / "n.onnx"), opset=9, **QUIET)
    export_onnx(src, str(target), force=True, **QUIET)
    assert onnx.load(str(target)).graph.input[0].name == "input"
