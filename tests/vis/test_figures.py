import numpy as np
import pytest

from zfnet.io import checkpoint as ckpt
from zfnet.errors import DataError
from zfnet.nn import model
from zfnet.vis import figures as visualize
from zfnet.backend import lasagne, theano
from conftest import tiny_config, toy_dataset


def _saved_tiny(tmp_path, seed=0):
    cfg = tiny_config()
    net = model.build(cfg)
    rng = np.random.RandomState(seed)
    model.set_weights(net, {k: (rng.randn(*v.shape) * 0.3).astype("float32")
                            for k, v in model.get_weights(net).items()})
    doc = ckpt.model_json(cfg, net, {"mean": [50.0], "std": [60.0], "units": "pixel values 0-255"},
                          ["top", "middle", "bottom"], dataset="toy")
    path = str(tmp_path / "ck")
    ckpt.write_checkpoint(path, {"model.json": doc, "model.npz": model.get_weights(net)})
    return path, net, doc


def test_scan_topk_matches_brute_force(tmp_path):
    path, net, doc = _saved_tiny(tmp_path)
    ds = toy_dataset(n_train=10, n_test=70)
    found = visualize.scan_topk(ckpt.load_model(path), ds.x_test, ["conv2", "relu1"],
                                {"conv2": [0, 5], "relu1": [3]}, k=9, batch_size=16, progress=False)
    acts = theano.function([net["input"].input_var], lasagne.layers.get_output(
        [net["conv2"], net["relu1"]], deterministic=True))(ckpt.load_model(path).preprocess(ds.x_test))
    for layer, a, chans in (("conv2", acts[0], [0, 5]), ("relu1", acts[1], [3])):
        for m, c in enumerate(chans):
            per_image = a[:, c].reshape(len(a), -1).max(axis=1)
            want = np.argsort(-per_image, kind="stable")[:9]
            assert found[layer]["images"][m].tolist() == want.tolist()
            np.testing.assert_allclose(found[layer]["activations"][m], per_image[want], rtol=1e-6)


def test_topk_invariance_against_brute_force(tmp_path):
    """The ratio of each top unit's activation on changed top images to the scan's activation,
    checked against the activations computed directly at the scan's positions; identity
    changes give exactly 1, and a scan of other images is refused."""
    from zfnet.vis.topk import topk_invariance
    path, net, doc = _saved_tiny(tmp_path)
    m = ckpt.load_model(path)
    ds = toy_dataset(n_train=10, n_test=40)
    chans = {"conv2": [1, 4]}
    found = visualize.scan_topk(m, ds.x_test, ["conv2"], chans, k=5, progress=False)
    assert topk_invariance(m, ds.x_test, found, "conv2", [0, 1], lambda x: [x, x]) == [1.0, 1.0]
    flip = lambda x: [x[:, :, :, ::-1].copy()]
    got = topk_invariance(m, ds.x_test, found, "conv2", [0, 1], flip)
    f = theano.function([net["input"].input_var], lasagne.layers.get_output(net["conv2"], deterministic=True))
    for row, c in enumerate(chans["conv2"]):
        imgs = ds.x_test[found["conv2"]["images"][row]]
        pos = found["conv2"]["positions"][row]
        a = f(m.preprocess(imgs))[:, c].reshape(len(imgs), -1)[np.arange(len(imgs)), pos]
        b = f(m.preprocess(flip(imgs)[0]))[:, c].reshape(len(imgs), -1)[np.arange(len(imgs)), pos]
        np.testing.assert_allclose(a, found["conv2"]["activations"][row], rtol=1e-5)
        np.testing.assert_allclose(got[row], np.mean(np.maximum(b, 0) / a), rtol=1e-5)
    other = visualize.scan_topk(m, ds.x_test[::-1].copy(), ["conv2"], chans, k=5, progress=False)
    with pytest.raises(DataError, match="not the scan's"):
        topk_invariance(m, ds.x_test, other, "conv2", [0], flip)


def test_topk_writes_grid_and_arrays(tmp_path):
    path, net, doc = _saved_tiny(tmp_path)
    ds = toy_dataset(n_train=10, n_test=30)
    npz = visualize.topk(path, ["conv2"], str(tmp_path / "tk"), dataset=ds, channels=[1, 2], k=4,
                         progress=False, log=lambda *a: None).npz
    z = np.load(npz)
    assert z["conv2.channels"].tolist() == [1, 2]
    assert z["conv2.reconstructions"].shape == (2, 4, 1, 12, 12)
    assert (tmp_path / "tk" / "topk_conv2.png").exists()
    with pytest.raises(ValueError, match=r"'conv2' has channels 0..5; got \[9\]"):
        visualize.topk(path, ["conv2"], str(tmp_path / "x"), dataset=ds, channels=[9], progress=False)


def test_visualize_files_and_bad_image(tmp_path):
    path, net, doc = _saved_tiny(tmp_path)
    from zfnet.vis import render
    img = str(tmp_path / "a.png")
    render.save_png(np.random.RandomState(0).rand(20, 16), img)  # resized/cropped to 12x12 grey
    out = visualize.visualize(path, [img], ["conv1", "fc6"], str(tmp_path / "v"), top=2,
                              log=lambda *a: None)
    z = np.load(out[0])
    assert z["fc6.reconstructions"].shape == (2, 1, 12, 12) and z["conv1.units"].shape == (2, 3)
    (tmp_path / "bad.png").write_bytes(b"GIF89a nope")
    with pytest.raises(DataError, match="Cannot read image .*bad.png"):
        visualize.visualize(path, [str(tmp_path / "bad.png")], ["conv1"], str(tmp_path / "w"))


def test_a_projector_of_a_model_takes_pixels_and_floats_as_preprocessed(tmp_path, caplog):
    """One preprocessing door, decided by the dtype: uint8 pixels are preprocessed as the
    checkpoint says, float images are taken as already preprocessed, whatever their range (the
    value-range guess and its warning are gone)."""
    from zfnet.vis.deconv import Projector
    path, net, doc = _saved_tiny(tmp_path)
    m = ckpt.load_model(path)
    u8 = np.random.RandomState(3).randint(0, 256, (2, 1, 12, 12)).astype(np.uint8)
    by_pixels = Projector(m).project(u8, "conv2", top=2)["conv2"]
    by_floats = Projector(m.net).project(m.preprocess(u8), "conv2", top=2)["conv2"]
    np.testing.assert_array_equal(by_pixels.reconstructions, by_floats.reconstructions)
    np.testing.assert_array_equal(by_pixels.units, by_floats.units)
    with caplog.at_level("WARNING", logger="zfnet"):
        raw = Projector(m).project(u8.astype(np.float32), "conv2", top=1)["conv2"]
    assert "raw pixels" not in caplog.text
    same = Projector(m.net).project(u8.astype(np.float32), "conv2", top=1)["conv2"]
    np.testing.assert_array_equal(raw.reconstructions, same.reconstructions)
    with pytest.raises(ValueError, match="uint8 pixels given, but this network's preprocessing is unknown"):
        Projector(m.net).project(u8, "conv2")


def test_topk_npz_round_trip_is_one_format(tmp_path):
    """TopK.save is the only writer of topk.npz and TopK.load the only reader (the explorer
    reads through it): every array comes back equal, maps in order, the split kept."""
    from collections import OrderedDict
    from zfnet.vis.topk import TopK
    rng = np.random.RandomState(0)
    layers = OrderedDict((l, {"channels": np.array(ch), "images": rng.randint(0, 50, (len(ch), 3)),
                              "activations": rng.rand(len(ch), 3).astype(np.float32),
                              "units": rng.randint(0, 5, (len(ch), 3, 3)),
                              "reconstructions": rng.randn(len(ch), 3, 1, 4, 4).astype(np.float32)})
                         for l, ch in (("conv1", [2, 0]), ("conv5", [7])))
    path = TopK(layers, "train").save(str(tmp_path / "topk.npz"))
    back = TopK.load(path)
    assert back.split == "train" and list(back.layers) == ["conv1", "conv5"]
    for l in layers:
        for k in TopK.KEYS:
            np.testing.assert_array_equal(back[l][k], layers[l][k])
    maps = list(back.maps())
    assert [(l, c) for l, c, _ in maps] == [("conv1", 2), ("conv1", 0), ("conv5", 7)]
    np.testing.assert_array_equal(maps[1][2]["reconstructions"], layers["conv1"]["reconstructions"][1])
    (tmp_path / "bad.npz").write_bytes(b"not an archive")
    with pytest.raises(ValueError, match="bad.npz is not a topk.npz"):
        TopK.load(str(tmp_path / "bad.npz"))
