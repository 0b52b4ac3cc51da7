"""Keras HDF5 import: small VGG-like files in both layouts, checked against an independent
numpy implementation of what Keras computes with those arrays."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from zfnet.io import checkpoint as ckpt
from zfnet.nn import configs
from zfnet.io import keras as ki
from zfnet.nn import model as modelmod
from zfnet.backend import lasagne, theano
from ref import keras1_weights, keras_forward
from conftest import KERAS_TINY, random_keras, write_keras

@pytest.mark.parametrize("layout,saved_model", [("keras2", False), ("keras1", False), ("keras2", True)])
def test_import_matches_keras_numerics(tmp_path, layout, saved_model):
    w = random_keras()
    stored = w if layout == "keras2" else keras1_weights(w)
    path = str(tmp_path / "w.h5")
    write_keras(path, stored, layout, saved_model)
    weights, got_layout = ki.read_keras_weights(path)
    assert got_layout == layout
    cfg = configs.vgg(**KERAS_TINY)
    out = ki.import_keras(path, str(tmp_path / "ck"), cfg=cfg, log=lambda *a: None)
    model = ckpt.load_model(out)
    net, doc = model.net, model.doc
    assert doc["preprocessing"]["mean"] == ki.KERAS_MEAN_RGB and doc["imported_from"]["format"] == layout
    rng = np.random.RandomState(1)
    rgb = rng.randint(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    from zfnet.data.dataset import normalize
    x = normalize(rgb.transpose(0, 3, 1, 2), doc["preprocessing"]["mean"], doc["preprocessing"]["std"])
    f = theano.function([net["input"].input_var],
                        lasagne.layers.get_output(net["predictions"], deterministic=True))
    z = f(x)[:, :, 0, 0]
    for i in range(2):
        want = keras_forward(w, rgb[i], "keras2")  # the Keras 2 numerics of the same model
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
    w = random_keras()
    del w["fc2"]
    write_keras(str(tmp_path / "short.h5"), w, "keras2")
    with pytest.raises(ValueError, match="no weights for layer 'fc2'"):
        ki.import_keras(str(tmp_path / "short.h5"), str(tmp_path / "o"), cfg=configs.vgg(**KERAS_TINY),
                        log=lambda *a: None)


def test_cli_import_keras(tmp_path):
    w = random_keras()
    write_keras(str(tmp_path / "w.h5"), w, "keras2")
    cfg = configs.vgg(**KERAS_TINY)
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
    from benchmarks.synthetic import write_keras_vgg16
    path = write_keras_vgg16(str(tmp_path / "notop.h5"), include_top=False, seed=2)
    ki.import_keras(path, str(tmp_path / "ck"), log=lambda *a: None)
    doc, arrays = ckpt.read_checkpoint(str(tmp_path / "ck"))
    assert doc["config"]["name"] == "vgg16-notop" and sum(a.size for a in arrays.values()) == 14714688
    with h5py.File(path, "r") as f:
        k = np.asarray(f["block1_conv1"]["block1_conv1/kernel:0"])     # (3, 3, in BGR, 64)
        k5 = np.asarray(f["block5_conv3"]["block5_conv3/kernel:0"])
    np.testing.assert_array_equal(arrays["block1_conv1.W"], k.transpose(3, 2, 0, 1)[:, ::-1])
    np.testing.assert_array_equal(arrays["block5_conv3.W"], k5.transpose(3, 2, 0, 1))


def test_a_file_without_biases_is_named(tmp_path):
    w = random_keras()
    path = str(tmp_path / "nobias.h5")
    write_keras(path, w, "keras2")
    with h5py.File(path, "a") as f:   # drop every bias, as a hand-made file might
        for name in w:
            del f[name]["%s/bias:0" % name]
            f[name].attrs["weight_names"] = [("%s/kernel:0" % name).encode()]
    with pytest.raises(ValueError, match="the file's layer 'block1_conv1' has no bias .it has kernel."):
        ki.import_keras(path, str(tmp_path / "o"), cfg=configs.vgg(**KERAS_TINY), log=lambda *a: None)
    assert not os.path.exists(str(tmp_path / "o"))


def test_missing_groups_datasets_and_wrong_rank_kernels_are_named(tmp_path):
    """Files a hostile or broken exporter could write: a layer group that layer_names lists but
    the file lacks, a weight dataset a layer names but lacks, a 2-D convolution kernel."""
    from zfnet.errors import ImportFormatError
    cfg = configs.vgg(**KERAS_TINY)
    w = random_keras()
    path = str(tmp_path / "nogroup.h5")
    write_keras(path, w, "keras2")
    with h5py.File(path, "a") as f:
        del f["block1_conv1"]
    with pytest.raises(ImportFormatError, match="layer_names lists 'block1_conv1', but the file has no group"):
        ki.import_keras(path, str(tmp_path / "o1"), cfg=cfg, log=lambda *a: None)
    path = str(tmp_path / "nodata.h5")
    write_keras(path, w, "keras2")
    with h5py.File(path, "a") as f:
        del f["fc1"]["fc1/kernel:0"]
    with pytest.raises(ImportFormatError, match="layer 'fc1' names the weight 'fc1/kernel:0', which the file does not hold"):
        ki.import_keras(path, str(tmp_path / "o2"), cfg=cfg, log=lambda *a: None)
    path = str(tmp_path / "rank.h5")
    w2 = dict(w)
    k, b = w["block1_conv1"]
    w2["block1_conv1"] = (k.reshape(-1, k.shape[-1]), b)
    write_keras(path, w2, "keras2")
    with pytest.raises(ImportFormatError, match=r"layer 'block1_conv1': convolution kernel of shape \(\d+, \d+\) has 2 dimensions; expected 4"):
        ki.import_keras(path, str(tmp_path / "o3"), cfg=cfg, log=lambda *a: None)
    for o in ("o1", "o2", "o3"):
        assert not os.path.exists(str(tmp_path / o))
