"""Keras HDF5 import: small VGG-like files in both layouts, checked against an independent
numpy implementation of what Keras computes with those arrays."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from zfnet import checkpoint as ckpt
from zfnet import configs
from zfnet import keras_import as ki
from zfnet import model as modelmod
from zfnet.backend import lasagne, theano

TINY = dict(blocks=((4, 1), (6, 2)), fc=(8, 8), num_classes=3, size=8, name="tinyvgg")
MEAN_BGR = np.array([103.939, 116.779, 123.68])


def _random_keras(seed=0):
    """Keras-2-shaped random weights for TINY: conv (h, w, in, out), dense (in, out)."""
    rng = np.random.RandomState(seed)
    w, cin = {}, 3
    for b, (width, n) in enumerate(TINY["blocks"], 1):
        for i in range(1, n + 1):
            w["block%d_conv%d" % (b, i)] = (rng.randn(3, 3, cin, width) * 0.05, rng.randn(width) * 0.1)
            cin = width
    flat = 2 * 2 * cin
    for name, (a, o) in [("fc1", (flat, 8)), ("fc2", (8, 8)), ("predictions", (8, 3))]:
        w[name] = (rng.randn(a, o) * 0.3, rng.randn(o) * 0.1)
    return w


def _write(path, w, layout, saved_model=False):
    """A Keras weights file (or a whole-model file) in the Keras 2 or Keras 1/Theano layout."""
    with h5py.File(path, "w") as f:
        g = f.create_group("model_weights") if saved_model else f
        names = ["input_1"] + list(w)
        g.attrs["layer_names"] = [n.encode() for n in names]
        g.create_group("input_1").attrs["weight_names"] = []
        for n, (k, b) in w.items():
            lg = g.create_group(n)
            if layout == "keras2":
                wn = ["%s/kernel:0" % n, "%s/bias:0" % n]
                arrays = [k, b]
            else:
                wn = ["%s_W_1:0" % n, "%s_b_1:0" % n]
                if k.ndim == 4:   # (h, w, in, out) cross-correlation -> (out, in, h, w) flipped
                    kk = k.transpose(3, 2, 0, 1)[:, :, ::-1, ::-1]
                else:             # dense: rows follow a channels-first flatten
                    kk = k
                arrays = [kk, b]
            lg.attrs["weight_names"] = [x.encode() for x in wn]
            for x, a in zip(wn, arrays):
                lg.create_dataset(x, data=a.astype(np.float32))


def _keras_forward(w, rgb, layout):
    """What Keras computes: RGB 0-255 (H, W, 3) -> BGR - mean -> VGG -> logits. Numpy only."""
    x = rgb[:, :, ::-1].astype(np.float64) - MEAN_BGR          # (H, W, C), channels last
    for b, (width, n) in enumerate(TINY["blocks"], 1):
        for i in range(1, n + 1):
            k, bias = w["block%d_conv%d" % (b, i)]
            p = np.pad(x, ((1, 1), (1, 1), (0, 0)))
            H, W = x.shape[:2]
            out = np.zeros((H, W, k.shape[3]))
            for dy in range(3):
                for dx in range(3):
                    out += p[dy:dy + H, dx:dx + W].dot(k[dy, dx])
            x = np.maximum(out + bias, 0)
        H, W, C = x.shape
        x = x[:H // 2 * 2, :W // 2 * 2].reshape(H // 2, 2, W // 2, 2, C).max(axis=(1, 3))
    flat = x.reshape(-1) if layout == "keras2" else x.transpose(2, 0, 1).reshape(-1)
    k, bias = w["fc1"]
    if layout == "keras1":  # the same dense weights, rows in channels-first order
        H, W, C = x.shape
        k = k.reshape(H, W, C, -1).transpose(2, 0, 1, 3).reshape(H * W * C, -1)
    h = np.maximum(flat.dot(k) + bias, 0)
    h = np.maximum(h.dot(w["fc2"][0]) + w["fc2"][1], 0)
    return h.dot(w["predictions"][0]) + w["predictions"][1]  # the logits


def _keras1_weights(w):
    """The Keras 1 file's dense rows are in channels-first flatten order."""
    out = dict(w)
    k = w["fc1"][0]
    out["fc1"] = (k.reshape(2, 2, 6, -1).transpose(2, 0, 1, 3).reshape(24, -1), w["fc1"][1])
    return out


@pytest.mark.parametrize("layout,saved_model", [("keras2", False), ("keras1", False), ("keras2", True)])
def test_import_matches_keras_numerics(tmp_path, layout, saved_model):
    w = _random_keras()
    stored = w if layout == "keras2" else _keras1_weights(w)
    path = str(tmp_path / "w.h5")
    _write(path, stored, layout, saved_model)
    weights, got_layout = ki.read_keras_weights(path)
    assert got_layout == layout
    cfg = configs.vgg(**TINY)
    out = ki.import_keras(path, str(tmp_path / "ck"), cfg=cfg, log=lambda *a: None)
    net, doc = ckpt.load_model(out)
    assert doc["preprocessing"]["mean"] == ki.KERAS_MEAN_RGB and doc["imported_from"]["format"] == layout
    rng = np.random.RandomState(1)
    rgb = rng.randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    from zfnet.data import normalize
    x = normalize(rgb.transpose(0, 3, 1, 2), doc["preprocessing"]["mean"], doc["preprocessing"]["std"])
    f = theano.function([net["input"].input_var],
                        lasagne.layers.get_output(net["predictions"], deterministic=True))
    z = f(x)[:, :, 0, 0]
    for i in range(2):
        want = _keras_forward(w, rgb[i], "keras2")  # the Keras 2 numerics of the same model
        assert np.ptp(want) > 0.1  # logits that tell the classes apart
        np.testing.assert_allclose(z[i], want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_vgg16_configuration_has_kerass_names_and_sizes():
    cfg = configs.get_config("vgg16")
    net = modelmod.build(cfg)
    assert modelmod.count_params(net) == 138357544  # Keras's VGG16(include_top=True)
    names = [l["name"] for l in cfg["layers"] if l["type"] != "relu"]
    assert names[:3] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert names[-5:] == ["block5_pool", "fc1", "fc2", "predictions", "prob"]
    notop = modelmod.build(configs.get_config("vgg16-notop"))
    assert modelmod.count_params(notop) == 14714688 and list(notop)[-1] == "block5_pool"
    assert notop["block5_pool"].output_shape[1:] == (512, 7, 7)


def test_bad_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ki.read_keras_weights(str(tmp_path / "none.h5"))
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        ki.read_keras_weights(str(tmp_path / "x.h5"))
    with h5py.File(str(tmp_path / "empty.h5"), "w") as f:
        f.create_group("a")
    with pytest.raises(ValueError, match="no 'layer_names'"):
        ki.read_keras_weights(str(tmp_path / "empty.h5"))
    w = _random_keras()
    del w["fc2"]
    _write(str(tmp_path / "short.h5"), w, "keras2")
    with pytest.raises(ValueError, match="no weights for layer 'fc2'"):
        ki.import_keras(str(tmp_path / "short.h5"), str(tmp_path / "o"), cfg=configs.vgg(**TINY),
                        log=lambda *a: None)


def test_cli_import_keras(tmp_path):
    w = _random_keras()
    _write(str(tmp_path / "w.h5"), w, "keras2")
    cfg = configs.vgg(**TINY)
    (tmp_path / "tiny.json").write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "zfnet", "import-keras", str(tmp_path / "w.h5"),
                        "--config", str(tmp_path / "tiny.json"), "--out", str(tmp_path / "ck")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert os.path.exists(str(tmp_path / "ck" / "model.npz"))
    bad = subprocess.run([sys.executable, "-m", "zfnet", "import-keras", str(tmp_path / "nope.h5"),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "nope.h5 does not exist" in bad.stderr


def test_the_benchmarks_vgg16_notop_file_imports_like_keras_stores_it(tmp_path):
    """bench import's stand-in for the real notop file: Keras 2 layout, VGG16's shapes."""
    from zfnet.bench import write_keras_vgg16
    path = write_keras_vgg16(str(tmp_path / "notop.h5"), include_top=False, seed=2)
    ki.import_keras(path, str(tmp_path / "ck"), log=lambda *a: None)
    doc, arrays = ckpt.read_checkpoint(str(tmp_path / "ck"))
    assert doc["config"]["name"] == "vgg16-notop" and sum(a.size for a in arrays.values()) == 14714688
    with h5py.File(path, "r") as f:
        k = np.asarray(f["block1_conv1"]["block1_conv1/kernel:0"])     # (3, 3, in BGR, 64)
        k5 = np.asarray(f["block5_conv3"]["block5_conv3/kernel:0"])
    np.testing.assert_array_equal(arrays["block1_conv1.W"], k.transpose(3, 2, 0, 1)[:, ::-1])
    np.testing.assert_array_equal(arrays["block5_conv3.W"], k5.transpose(3, 2, 0, 1))
