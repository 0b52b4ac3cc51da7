import json
import os

import numpy as np
import pytest

from zfnet import files
from zfnet.errors import CheckpointError, CheckpointNotFound
from zfnet.io.checkpoint import load_model, model_json, read_checkpoint, write_checkpoint
from zfnet.nn import model
from zfnet.backend import lasagne, theano
from ref import xcorr2d
from conftest import tiny_config


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


def _edited(tmp_path, name, edit=None, npz_edit=None):
    """A copy of a valid checkpoint with model.json (a dict or raw text) or the arrays edited."""
    cfg = tiny_config()
    net = model.build(cfg)
    path = str(tmp_path / name)
    doc = _save(net, cfg, path)
    if edit is not None:
        new = edit(json.loads(json.dumps(doc)))
        with open(os.path.join(path, "model.json"), "w") as f:
            f.write(new if isinstance(new, str) else json.dumps(new))
    if npz_edit is not None:
        arrays = dict(np.load(os.path.join(path, "model.npz")))
        npz_edit(arrays)
        np.savez(os.path.join(path, "model.npz"), **arrays)
    return path


def _layers(d, **change):
    return dict(d, config=dict(d["config"], layers=[dict(l, **change.get(l["name"], {}))
                                                     for l in d["config"]["layers"]]))


@pytest.mark.parametrize("what,edit,message", [
    ("a list", lambda d: "[1, 2]", "holds a list; expected a JSON object"),
    ("null", lambda d: "null", "holds a NoneType"),
    ("no config", lambda d: {k: v for k, v in d.items() if k != "config"}, "has no 'config'"),
    ("no layers", lambda d: dict(d, config={k: v for k, v in d["config"].items() if k != "layers"}),
     "Configuration is missing 'layers'"),
    ("no preprocessing", lambda d: {k: v for k, v in d.items() if k != "preprocessing"}, "has no 'preprocessing'"),
    ("short class_names", lambda d: dict(d, class_names=["a"]), "class_names has 1 entries; expected 3 strings"),
    ("deep nesting", lambda d: "[" * 100000 + "]" * 100000, "is not valid JSON"),
    ("a mean per wrong channel count", lambda d: dict(d, preprocessing=dict(d["preprocessing"], mean=[1, 2, 3])),
     r"preprocessing mean is \[1, 2, 3\]; expected 1 finite number"),
    ("std 0", lambda d: dict(d, preprocessing=dict(d["preprocessing"], std=[0.0])), r"std is \[0.0\]; expected 1 finite number.s. > 0"),
    ("pool_size 0", lambda d: _layers(d, pool1={"pool_size": 0}), "Layer 'pool1' pool_size is 0: expected an integer from 1"),
    ("num_filters 200000", lambda d: _layers(d, conv2={"num_filters": 200000}),
     "Layer 'conv2' num_filters is 200000: expected an integer from 1 to 65536"),
    ("a huge fc", lambda d: _layers(d, fc6={"num_units": 60000}, conv2={"num_filters": 60000}),
     "has 32402280040 parameters by layer 'fc6'; at most 400000000 are accepted"),
    ("a filter larger than the map", lambda d: _layers(d, conv2={"filter_size": 9, "pad": 0}),
     "Layer 'conv2' makes the 12x12 input map -2x-2"),
])
def test_malformed_model_json_is_refused_on_load_naming_the_file(tmp_path, what, edit, message):
    path = _edited(tmp_path, "ck", edit)
    with pytest.raises(CheckpointError, match=message) as e:
        load_model(path)
    assert "model.json" in str(e.value)


def test_non_finite_weights_and_folders_that_are_not_checkpoints(tmp_path):
    path = _edited(tmp_path, "nan", npz_edit=lambda a: a["conv1.W"].fill(np.nan))
    with pytest.raises(CheckpointError, match=r"array 'conv1.W' holds 36 NaN or infinite value"):
        load_model(path)
    d = _edited(tmp_path, "dir")
    os.remove(os.path.join(d, "model.json")); os.makedirs(os.path.join(d, "model.json"))
    with pytest.raises(CheckpointNotFound, match="is not a checkpoint: model.json is missing"):
        read_checkpoint(d)


def test_check_output_never_replaces_what_the_user_did_not_name(tmp_path):
    from zfnet.io.checkpoint import check_output
    user = tmp_path / "thesis"; user.mkdir(); (user / "ch1.tex").write_text("years")
    plain = tmp_path / "notes.txt"; plain.write_text("notes")
    ck = _edited(tmp_path, "ck")
    with pytest.raises(ValueError, match="exists and is a folder that is not a checkpoint"):
        check_output(str(user), force=True)
    with pytest.raises(ValueError, match="exists and is a file that is not a checkpoint"):
        check_output(str(plain), force=True)
    with pytest.raises(ValueError, match="is already a checkpoint; pass --force"):
        check_output(ck)
    assert check_output(ck, force=True) == ck and check_output(str(tmp_path / "new")) == str(tmp_path / "new")
    assert (user / "ch1.tex").read_text() == "years" and plain.read_text() == "notes"
