import json
import os

import numpy as np
import pytest

from zfnet import files
from zfnet.errors import CheckpointError
from zfnet.io.checkpoint import load_model, model_json, read_checkpoint, write_checkpoint
from zfnet.nn import model
from zfnet.backend import lasagne, theano
from ref import tiny_config, xcorr2d


def _save(net, cfg, path):
    doc = model_json(cfg, net, {"mean": [10.0], "std": [20.0], "units": "pixel values 0-255"},
                     ["a", "b", "c"])
    write_checkpoint(path, {"model.json": doc, "model.npz": model.get_weights(net)})
    return doc


def test_round_trip_and_readable_without_zfnet(tmp_path):
    cfg = tiny_config()
    net = model.build(cfg)
    path = str(tmp_path / "ck")
    _save(net, cfg, path)
    loaded = load_model(path)
    net2 = loaded.net
    for k, v in model.get_weights(net).items():
        np.testing.assert_array_equal(model.get_weights(net2)[k], v)
    # Read with json + numpy only, and recompute conv1 as a plain cross-correlation.
    with open(os.path.join(path, "model.json")) as f:
        raw = json.load(f)
    layers = {l["name"]: l for l in raw["config"]["layers"]}
    assert layers["conv1"]["W_shape"] == [4, 1, 3, 3]
    assert layers["fc6"]["filter_size"] == [3, 3] and raw["class_names"] == ["a", "b", "c"]
    assert raw["preprocessing"]["mean"] == [10.0]
    z = np.load(os.path.join(path, "model.npz"))
    x = np.random.RandomState(0).rand(1, 1, 12, 12).astype("float32")
    f = theano.function([net2["input"].input_var], lasagne.layers.get_output(net2["conv1"]))
    np.testing.assert_allclose(f(x), xcorr2d(x, z["conv1.W"], z["conv1.b"], 1, 1), rtol=1e-4, atol=1e-5)
    assert oct(os.stat(os.path.join(path, "model.npz")).st_mode & 0o044) == oct(0o044)


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    cfg = tiny_config()
    net = model.build(cfg)
    path = str(tmp_path / "ck")
    _save(net, cfg, path)
    before = open(os.path.join(path, "model.npz"), "rb").read()

    def crash(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(files, "atomic_write_npz", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        _save(net, cfg, path)
    assert open(os.path.join(path, "model.npz"), "rb").read() == before
    assert sorted(os.listdir(str(tmp_path))) == ["ck"]  # no temporary left behind


def test_loading_into_other_config_names_layer(tmp_path):
    cfg = tiny_config()
    path = str(tmp_path / "ck")
    _save(model.build(cfg), cfg, path)
    doc, arrays = read_checkpoint(path)
    other = tiny_config()
    other["layers"][4]["num_filters"] = 8
    net = model.build(other)
    with pytest.raises(ValueError, match=r"Layer 'conv2'.*\(6, 4, 3, 3\).*\(8, 4, 3, 3\)"):
        model.set_weights(net, arrays, source=path)


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="model.json is missing"):
        read_checkpoint(str(tmp_path))
    (tmp_path / "model.json").write_text("{not json")
    (tmp_path / "model.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_checkpoint(str(tmp_path))


def test_model_handle_carries_what_callers_need(tmp_path):
    from PIL import Image
    cfg = tiny_config()
    net = model.build(cfg)
    path = str(tmp_path / "ck")
    doc = _save(net, cfg, path)
    m = load_model(path)
    assert m.input_shape == (1, 12, 12) and m.name == "tiny" and m.classes == ["a", "b", "c"]
    assert m.preprocessing == doc["preprocessing"] and m.config == doc["config"] and m.dataset is None
    # a checkpoint without class names gets indices, once, here
    doc2 = dict(doc, class_names=[])
    write_checkpoint(str(tmp_path / "nonames"), {"model.json": doc2, "model.npz": model.get_weights(net)})
    assert load_model(str(tmp_path / "nonames")).classes == ["0", "1", "2"]
    # images: read, converted to grey, short side to 12, centre crop; then (x - 10) / 20
    rgb = np.random.RandomState(0).randint(0, 255, (16, 24, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(str(tmp_path / "a.png"))
    u8 = m.load_images([str(tmp_path / "a.png")])
    want = np.asarray(Image.fromarray(rgb).convert("L").resize((18, 12), Image.BILINEAR))[:, 3:15]
    np.testing.assert_array_equal(u8[0, 0], want)
    np.testing.assert_allclose(m.preprocess(u8), (u8.astype(np.float32) - 10) / 20)
    np.testing.assert_allclose(m.preprocess(u8[0]), m.preprocess(u8))  # one image gets a batch axis
    with pytest.raises(ValueError, match="Image .*missing.png does not exist"):
        m.load_images([str(tmp_path / "missing.png")])
