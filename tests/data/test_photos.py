"""Natural photos (``data fetch photos``) and imported ImageNet models on them: evaluation and
prediction against onnxruntime, projections whose colours are checked pixel by pixel."""
import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from zfnet.data import photos
from zfnet.data.images import load_image
from zfnet.errors import DataError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

FETCHED = os.path.isfile(os.path.join(photos.photos_dir(), "photos.json"))
needs_photos = pytest.mark.skipif(not FETCHED, reason="photos not fetched: python -m zfnet data fetch photos "
                                                      "(make test does it)")
CAFFE_MEAN_BGR = np.array([104.0, 117.0, 123.0])
TORCH_MEAN, TORCH_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


def _jpeg(seed):
    rng = np.random.RandomState(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.randint(0, 255, (40, 50, 3)).astype(np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def test_fetch_from_wheels_checks_hashes_and_labels(tmp_path):
    wheels = tmp_path / "wheels"; wheels.mkdir()
    data = {"foolbox/data/imagenet_00_243.jpg": _jpeg(0), "foolbox/data/imagenet_01_949.jpg": _jpeg(1)}
    with zipfile.ZipFile(str(wheels / "foolbox-3.3.4-py3-none-any.whl"), "w") as z:
        for k, v in data.items():
            z.writestr(k, v)
        z.writestr("foolbox/__init__.py", "")
    sources = [("imagenet", "foolbox==3.3.4", [], {k: hashlib.sha256(v).hexdigest() for k, v in data.items()})]
    root = str(tmp_path / "photos")
    photos.fetch_photos(root, wheels=str(wheels), verbose=False, sources=sources)
    got = photos.list_photos(root, which=("imagenet",))
    assert [(p["name"], p["label"], p["class"]) for p in got] == [
        ("imagenet_00_243", 243, "Bullmastiff"), ("imagenet_01_949", 949, "strawberry")]
    with open(got[1]["path"], "rb") as f:
        assert f.read() == data["foolbox/data/imagenet_01_949.jpg"]
    # a damaged file is found and named, with the command that mends it
    with open(got[0]["path"], "ab") as f:
        f.write(b"x")
    with pytest.raises(DataError, match="(?s)imagenet_00_243.jpg has SHA-256.*data fetch photos"):
        photos.verify_photos(root, sources)
    # a wheel whose content does not match the expected hash is refused
    bad = [("imagenet", "foolbox==3.3.4", [], {k: "0" * 64 for k in data})]
    with pytest.raises(DataError, match="imagenet_00_243.jpg in foolbox-3.3.4-py3-none-any.whl has SHA-256"):
        photos.fetch_photos(str(tmp_path / "p2"), wheels=str(wheels), verbose=False, sources=bad)
    assert not os.path.exists(os.path.join(str(tmp_path / "p2"), "photos.json"))  # nothing half-written


def test_without_fetched_photos_the_package_photos_remain(tmp_path):
    got = photos.list_photos(str(tmp_path))
    assert {p["name"] for p in got} == {"china", "flower", "grace_hopper"}
    with pytest.raises(DataError, match="data fetch photos"):
        photos.load_imagenet_photos(str(tmp_path))


@needs_photos
def test_the_fetched_photos_are_foolboxs_labelled_imagenet_images_and_colour_photos():
    photos.verify_photos()  # every file against its SHA-256
    ds = photos.load_imagenet_photos()
    assert ds.x_test.shape == (20, 3, 256, 256) and len(ds.x_train) == 0 and len(ds.class_names) == 1000
    # ImageNet's class order: 949 strawberry, 129 spoonbill, 251 dalmatian, 22 bald eagle
    names = [ds.class_names[y] for y in ds.y_test]
    assert names[4] == "strawberry" and names[14] == "spoonbill" and names[16] == "Dalmatian" \
        and names[17] == "bald eagle"
    sk = photos.list_photos(which=("skimage",))
    assert sorted(p["name"] for p in sk) == ["astronaut", "chelsea", "coffee", "motorcycle_left", "rocket"]
    for p in sk + photos.list_photos(which=("imagenet",))[:3]:
        x = load_image(p["path"], 64).astype(np.float64)
        assert np.abs(x[0] - x[2]).mean() > 3, p["name"]  # colour, not grey


# ------------------------------------------------------------ an ImageNet-shaped ONNX model
def _onnx_classifier(path, size=32, seed=0):
    """Conv 4x5x5/2 Relu MaxPool 2/2 Flatten Gemm(->1000) Softmax with random weights."""
    rng = np.random.RandomState(seed)
    W = (rng.randn(4, 3, 5, 5) * 0.05).astype(np.float32); b = (rng.randn(4) * 0.5).astype(np.float32)
    n = (size - 5) // 2 + 1; m = n // 2
    G = (rng.randn(1000, 4 * m * m) * 0.02).astype(np.float32); c = (rng.randn(1000) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["a"], kernel_shape=[5, 5], strides=[2, 2]),
             helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "G", "c"], ["z"], transB=1),
             helper.make_node("Softmax", ["z"], ["y"])]
    g = helper.make_graph(nodes, "zfnet512-like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000])],
                          initializer=[numpy_helper.from_array(a, k) for k, a in dict(W=W, b=b, G=G, c=c).items()])
    mdl = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    mdl.ir_version = 8
    onnx.save(mdl, path)
    return W


def _graph_input(x_rgb_u8, preprocess):
    """What the ONNX graph is fed for RGB uint8 (C, H, W) pixels under each convention (numpy)."""
    x = x_rgb_u8.astype(np.float64)
    if preprocess == "caffe":
        return (x[::-1] - CAFFE_MEAN_BGR[:, None, None]).astype(np.float32)
    return ((x / 255.0 - TORCH_MEAN[:, None, None]) / TORCH_STD[:, None, None]).astype(np.float32)


def _run_ort(path, xs):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(None, {"x": x[None]})[0] for x in xs])


@needs_photos
@pytest.mark.parametrize("preprocess", ["caffe", "torch"])
def test_evaluate_on_imagenet_photos_matches_onnxruntime(tmp_path, preprocess):
    from zfnet.evaluate import evaluate_checkpoint
    from zfnet.io.onnx import import_onnx
    path = str(tmp_path / "m.onnx")
    _onnx_classifier(path)
    import_onnx(path, str(tmp_path / "ck"), preprocess=preprocess, log=lambda *a: None)
    r = evaluate_checkpoint(str(tmp_path / "ck"), "imagenet-photos", progress=False)
    ds = photos.load_imagenet_photos()
    crops = ds.x_test[:, :, 112:144, 112:144]   # evaluation's centre 32x32 crop of the 256 image
    p = _run_ort(path, [_graph_input(x, preprocess) for x in crops])
    want_loss = -np.mean(np.log(p[np.arange(20), ds.y_test]))
    assert r["images"] == 20 and r["loss"] == pytest.approx(want_loss, rel=1e-4)
    top5 = np.argsort(-p, axis=1)[:, :5]
    assert r["top5"] == pytest.approx(1 - np.mean([y in t for y, t in zip(ds.y_test, top5)]))
    assert r["top1"] == pytest.approx(np.mean(top5[:, 0] != ds.y_test))


def _png_panel(png_path, row, col, hw):
    """One image of visualize's labelled grid (rows: units; cols: patch | projection patch |
    whole projection), at the size ``hw`` it was drawn from: the tile is found where
    render.labelled_cell puts it, and its whole-pixel enlargement is undone."""
    from zfnet.vis.render import labelled_cell
    g = np.asarray(Image.open(png_path).convert("RGB"))
    cell = 112 if hw[0] <= 32 else 160
    t, l = labelled_cell(row, col, cell)
    s = max(1, cell // max(hw))
    t += (cell - hw[0] * s) // 2; l += (cell - hw[1] * s) // 2
    return g[t:t + hw[0] * s:s, l:l + hw[1] * s:s]


@pytest.mark.parametrize("preprocess", ["caffe", "torch"])
def test_visualize_on_a_photo_keeps_the_filters_colour(tmp_path, preprocess):
    """The deconvnet projection of a conv1 unit is its activation times the unit's filter, read
    straight from the ONNX file (channels reversed for a BGR graph; std put back for torch),
    at the unit's window; the PNG visualize writes shows exactly that, with one common scale."""
    path = str(tmp_path / "m.onnx")
    W = _onnx_classifier(path, seed=3)
    ck, out = str(tmp_path / "ck"), str(tmp_path / "vis")
    from zfnet.io.onnx import import_onnx
    import_onnx(path, ck, preprocess=preprocess, log=lambda *a: None)
    photo = photos.list_photos(which=("packages",))[0]["path"]   # china.jpg, always installed
    r = subprocess.run([sys.executable, "-m", "zfnet", "visualize", ck, photo, "--layer", "conv1", "--top", "3",
                        "--out", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = np.load(os.path.join(out, "projections.npz"))
    stem = os.path.splitext(os.path.basename(photo))[0]
    W_rgb = W[:, ::-1] if preprocess == "caffe" else W
    std = np.ones(3) if preprocess == "caffe" else TORCH_STD * 255
    for j, ((c, y, x), a) in enumerate(zip(res["conv1.units"], res["conv1.activations"])):
        want = np.zeros((3, 32, 32))
        want[:, 2 * y:2 * y + 5, 2 * x:2 * x + 5] = a * W_rgb[c]
        np.testing.assert_allclose(res["conv1.reconstructions"][j], want, rtol=1e-4, atol=1e-6 * a)
        pix = want * std[:, None, None]                    # back to pixel units
        rgb = np.round(255 * (0.5 + 0.5 * pix / np.abs(pix).max())).transpose(1, 2, 0)
        shown = _png_panel(os.path.join(out, "%s_conv1.png" % stem), j, 2, (32, 32))
        assert np.abs(shown.astype(int) - rgb).max() <= 1
    # the check can fail: the filter shown without the channel reversal (caffe), or each channel
    # stretched on its own (torch; seed 000's broken colours), is visibly different
    if preprocess == "caffe":
        bad = np.zeros((3, 32, 32))
        bad[:, 2 * y:2 * y + 5, 2 * x:2 * x + 5] = a * W[c]
        bad_rgb = np.round(255 * (0.5 + 0.5 * bad / np.abs(bad).max())).transpose(1, 2, 0)
    else:
        m = np.abs(pix).reshape(3, -1).max(axis=1)[:, None, None]
        bad_rgb = np.round(255 * (0.5 + 0.5 * pix / m)).transpose(1, 2, 0)
    assert np.abs(shown.astype(int) - bad_rgb).max() > 10


@needs_photos
def test_serve_offers_the_labelled_photos_and_predicts_like_onnxruntime(tmp_path):
    from zfnet.io.onnx import import_onnx
    from zfnet.app.server import create_app
    path = str(tmp_path / "m.onnx")
    _onnx_classifier(path, seed=1)
    import_onnx(path, str(tmp_path / "ck"), log=lambda *a: None)
    c = create_app(str(tmp_path / "ck")).test_client()
    samples = {s["id"]: s["label"] for s in c.get("/api/samples").json["samples"]}
    assert samples["photo-imagenet_04_949"] == "photo imagenet_04_949 (strawberry)"
    assert {"photo-chelsea", "photo-astronaut", "photo-china", "photo-grace_hopper"} <= set(samples)
    img = os.path.join(photos.photos_dir(), "imagenet", "imagenet_04_949.jpg")
    p = _run_ort(path, [_graph_input(load_image(img, 32), "caffe")])[0]
    top5 = c.get("/api/predict?image=photo-imagenet_04_949").json["top5"]
    assert [t["index"] for t in top5] == list(np.argsort(-p)[:5])
    np.testing.assert_allclose([t["probability"] for t in top5], np.sort(p)[::-1][:5], rtol=1e-4)
    r = c.get("/api/project?image=photo-chelsea&layer=conv1&channel=2&method=guided")
    assert r.status_code == 200 and r.json["projection"].startswith("data:image/png;base64,")


def test_cli_data_photos_and_bad_preprocessing(tmp_path):
    from zfnet.io.onnx import import_onnx, OnnxImportError
    path = str(tmp_path / "m.onnx")
    _onnx_classifier(path)
    with pytest.raises(OnnxImportError, match="unknown preprocessing 'rgb': expected one of caffe, none, torch"):
        import_onnx(path, str(tmp_path / "ck"), preprocess="rgb")
    import_onnx(path, str(tmp_path / "ck"), log=lambda *a: None)
    env = dict(os.environ, ZFNET_PHOTOS=str(tmp_path / "none"))
    r = subprocess.run([sys.executable, "-m", "zfnet", "data", "info", "photos"], capture_output=True,
                       text=True, env=env)
    assert r.returncode == 0 and "3 photos" in r.stdout, r.stdout + r.stderr
    r = subprocess.run([sys.executable, "-m", "zfnet", "evaluate", str(tmp_path / "ck"), "--dataset",
                        "imagenet-photos"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "data fetch photos" in r.stderr


def test_visualize_an_imported_keras_model_on_a_photo_shows_the_filters_rgb_colour(tmp_path):
    """Keras's VGG reads BGR: the import folds the reversal into block1_conv1, so a projected
    block1_conv1 unit is its activation times the file's kernel with the input channels
    reversed (RGB), at its 3x3 window (padding 1), and the PNG shows that colour."""
    h5py = pytest.importorskip("h5py")
    from conftest import KERAS_TINY, random_keras, write_keras
    from zfnet.nn import configs
    from zfnet.io import keras as ki
    path, ck, out = str(tmp_path / "w.h5"), str(tmp_path / "ck"), str(tmp_path / "vis")
    write_keras(path, random_keras(seed=4), "keras2")
    ki.import_keras(path, ck, cfg=configs.vgg(**KERAS_TINY), log=lambda *a: None)
    photo = photos.list_photos(which=("packages",))[1]["path"]   # flower.jpg
    r = subprocess.run([sys.executable, "-m", "zfnet", "visualize", ck, photo, "--layer", "block1_conv1",
                        "--top", "4", "--out", out], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with h5py.File(path, "r") as f:
        k = np.asarray(f["block1_conv1"]["block1_conv1/kernel:0"], np.float64)   # (3, 3, BGR, out)
    res = np.load(os.path.join(out, "projections.npz"))
    png = os.path.join(out, "%s_block1_conv1.png" % os.path.splitext(os.path.basename(photo))[0])
    for j, ((c, y, x), a) in enumerate(zip(res["block1_conv1.units"], res["block1_conv1.activations"])):
        want = np.zeros((3, 8, 8))
        for dy in range(3):
            for dx in range(3):
                yy, xx = y - 1 + dy, x - 1 + dx
                if 0 <= yy < 8 and 0 <= xx < 8:
                    want[:, yy, xx] = a * k[dy, dx, ::-1, c]     # BGR -> RGB
        np.testing.assert_allclose(res["block1_conv1.reconstructions"][j], want, rtol=1e-4, atol=1e-6 * a)
        rgb = np.round(255 * (0.5 + 0.5 * want / np.abs(want).max())).transpose(1, 2, 0)
        shown = _png_panel(png, j, 2, (8, 8))                    # 8x8 shown enlarged, nearest
        assert np.abs(shown.astype(int) - rgb).max() <= 1


def test_predict_cli_gives_onnxruntimes_top_classes(tmp_path):
    from zfnet.io.onnx import import_onnx
    path = str(tmp_path / "m.onnx")
    _onnx_classifier(path, seed=5)
    import_onnx(path, str(tmp_path / "ck"), preprocess="torch", log=lambda *a: None)
    files = [p["path"] for p in photos.list_photos(which=("packages",))]
    r = subprocess.run([sys.executable, "-m", "zfnet", "predict", str(tmp_path / "ck")] + files +
                       ["--top", "3", "--json", str(tmp_path / "p.json")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    got = json.load(open(str(tmp_path / "p.json")))
    p = _run_ort(path, [_graph_input(load_image(f, 32), "torch") for f in files])
    from zfnet.data.classes import imagenet_class_names
    names = imagenet_class_names(1000)
    for g, row, f in zip(got, p, files):
        idx = list(np.argsort(-row)[:3])
        assert g["image"] == f and [t["index"] for t in g["top"]] == idx
        assert [t["class"] for t in g["top"]] == [names[i] for i in idx]
        np.testing.assert_allclose([t["probability"] for t in g["top"]], row[idx], rtol=1e-4)
        assert "%s: %s %.3f" % (f, names[idx[0]], row[idx[0]]) in r.stdout
    r = subprocess.run([sys.executable, "-m", "zfnet", "predict", str(tmp_path / "ck"), str(tmp_path / "no.png")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "no.png does not exist" in r.stderr
