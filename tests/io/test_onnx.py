"""ONNX import: ZFNet-512's graph shapes, and small graphs checked against onnxruntime."""
import os
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper

from zfnet.io import checkpoint as ckpt
from zfnet.io import onnx as oi
from zfnet.backend import lasagne, theano
from conftest import write_onnx_chain

LIGHT = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_zfnet512.onnx")


def _graph(tmp_path, *args, **kw):
    return write_onnx_chain(str(tmp_path / "small.onnx"), *args, **kw)


def _ours(path, out, x):
    oi.import_onnx(path, out, preprocess="none", log=lambda *a: None)
    model = ckpt.load_model(out)
    net, doc = model.net, model.doc
    f = theano.function([net["input"].input_var], lasagne.layers.get_output(net["prob"], deterministic=True))
    return np.concatenate([f(x[i:i + 1])[:, :, 0, 0] for i in range(len(x))]), doc


@pytest.mark.parametrize("ceil_mode,trans_b,constant_nodes", [(0, 1, False), (1, 0, True)])
def test_imported_model_matches_onnxruntime(tmp_path, ceil_mode, trans_b, constant_nodes):
    path = _graph(tmp_path, ceil_mode, trans_b, constant_nodes)
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = np.random.RandomState(5).randn(4, 3, 13, 13).astype(np.float32) * 2
    want = np.concatenate([sess.run(None, {"x": x[i:i + 1]})[0] for i in range(4)])
    got, doc = _ours(path, str(tmp_path / "ck"), x)
    assert want.std() > 0.05  # the outputs differ between images: a real comparison
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    lrn = [l for l in doc["config"]["layers"] if l["type"] == "lrn"][0]
    assert lrn["alpha"] == pytest.approx(0.3 / 3) and lrn["n"] == 3 and lrn["k"] == 1.5
    pool = [l for l in doc["config"]["layers"] if l["name"] == "pool1"][0]
    assert pool["ignore_border"] == (not ceil_mode)


def test_zfnet512_graph_imports_with_every_layer_shape(tmp_path):
    _, doc = oi.import_onnx(LIGHT, str(tmp_path / "zf512"), log=lambda *a: None), None
    doc = ckpt.load_model(str(tmp_path / "zf512")).doc
    shapes = {l["name"]: (l["output_shape"], l.get("W_shape")) for l in doc["config"]["layers"]}
    assert shapes["conv1"] == ([96, 109, 109], [96, 3, 7, 7])
    assert shapes["pool1"][0] == [96, 54, 54] and shapes["norm1"][0] == [96, 109, 109]
    assert shapes["conv2"] == ([256, 25, 25], [256, 96, 5, 5]) and shapes["pool2"][0] == [256, 12, 12]
    assert shapes["conv3"] == ([512, 12, 12], [512, 256, 3, 3])
    assert shapes["conv4"] == ([512, 12, 12], [512, 512, 3, 3])
    assert shapes["conv5"] == ([512, 12, 12], [512, 512, 3, 3]) and shapes["pool5"][0] == [512, 6, 6]
    assert shapes["fc6"] == ([4096, 1, 1], [4096, 512, 6, 6])
    assert shapes["fc7"] == ([1024, 1, 1], [1024, 4096, 1, 1])
    assert shapes["fc8"] == ([1000, 1, 1], [1000, 1024, 1, 1])
    assert [l["type"] for l in doc["config"]["layers"]][-1] == "softmax"
    # ZFNet-512's placeholder weights are the constant 0.02 of its ConstantOfShape nodes
    _, arrays = ckpt.read_checkpoint(str(tmp_path / "zf512"))
    assert np.all(arrays["fc6.W"] == np.float32(0.02))


def test_unsupported_graphs_name_the_node(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])

    def save(nodes, inits=()):
        g = helper.make_graph(nodes, "g", [x], [y], initializer=list(inits))
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        p = str(tmp_path / "g.onnx"); onnx.save(m, p); return p
    p = save([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")])
    with pytest.raises(ValueError, match="Sigmoid node 'sig'.*not supported.*Conv, Relu, LRN"):
        oi.import_onnx(p, str(tmp_path / "o"), log=lambda *a: None)
    W = numpy_helper.from_array(np.ones((1, 1, 3, 3), np.float32), "W")
    p = save([helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3], pads=[1, 0, 1, 0], name="c")], [W])
    with pytest.raises(ValueError, match="Conv node 'c'.*one pad on all sides"):
        oi.import_onnx(p, str(tmp_path / "o"), log=lambda *a: None)
    with pytest.raises(ValueError, match="does not exist"):
        oi.import_onnx(str(tmp_path / "none.onnx"), str(tmp_path / "o"))
    (tmp_path / "bad.onnx").write_bytes(b"garbage")
    r = subprocess.run([sys.executable, "-m", "zfnet", "import-onnx", str(tmp_path / "bad.onnx"),
                        "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 1 and "is not an ONNX model" in r.stderr  # a data error (a usage error is 2)


def test_imagenet_class_names_come_from_the_package():
    from zfnet.data.classes import imagenet_class_names
    names = imagenet_class_names(1000)
    assert len(names) == 1000 and names[0] == "tench" and names[281].startswith("tabby")
    assert imagenet_class_names(3) == ["0", "1", "2"]


@pytest.mark.slow
def test_full_size_zfnet512_matches_onnxruntime_on_photos(tmp_path):
    """ZFNet-512's whole graph (LRN, ceil pooling, 87M weights, random He-scale values) through
    import-onnx --preprocess caffe and our RGB pipeline vs onnxruntime fed BGR minus the mean."""
    from benchmarks.synthetic import write_zfnet512_onnx
    from zfnet.data.dataset import normalize
    from zfnet.data.images import load_image
    from zfnet.data.photos import list_photos
    path = write_zfnet512_onnx(str(tmp_path / "zfnet512.onnx"), seed=1)
    assert os.path.getsize(path) > 300e6   # weights stored in the file, like the model zoo's
    oi.import_onnx(path, str(tmp_path / "ck"), preprocess="caffe", log=lambda *a: None)
    model = ckpt.load_model(str(tmp_path / "ck"))
    net, doc = model.net, model.doc
    x = np.stack([load_image(p["path"], 224) for p in list_photos(which=("packages",))[:2]])
    pre = doc["preprocessing"]
    f = theano.function([net["input"].input_var], lasagne.layers.get_output(net["prob"], deterministic=True))
    got = f(normalize(x, pre["mean"], pre["std"]))[:, :, 0, 0]
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    bgr = (x[:, ::-1].astype(np.float32) - np.array([104, 117, 123], np.float32)[:, None, None])
    want = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: b[None]})[0] for b in bgr])
    assert want.max() > 0.02 and np.abs(want[0] - want[1]).max() > 1e-3  # not uniform, images differ
    np.testing.assert_allclose(got, want, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("drop,message", [
    ("size", "has no 'size' attribute, which ONNX requires for LRN"),
    ("kernel_shape", "has no 'kernel_shape' attribute, which ONNX requires for MaxPool"),
])
def test_nodes_missing_required_attributes_are_named(tmp_path, drop, message):
    path = _graph(tmp_path)
    m = onnx.load(path)
    for node in m.graph.node:
        keep = [a for a in node.attribute if not (a.name == drop and node.op_type in ("LRN", "MaxPool"))]
        del node.attribute[:]
        node.attribute.extend(keep)
    onnx.save(m, path)
    with pytest.raises(oi.OnnxImportError, match=message):
        oi.import_onnx(path, str(tmp_path / "ck"), preprocess="none", log=lambda *a: None)


def test_an_empty_graph_and_an_existing_out_are_refused(tmp_path):
    g = helper.make_graph([], "empty", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "e.onnx"))
    with pytest.raises(oi.OnnxImportError, match="the graph has no layers this importer reads"):
        oi.import_onnx(str(tmp_path / "e.onnx"), str(tmp_path / "ck"), preprocess="none", log=lambda *a: None)
    run = tmp_path / "run"; run.mkdir(); (run / "log.csv").write_text("epoch\n1\n")
    with pytest.raises(ValueError, match="exists and is a folder that is not a checkpoint"):
        oi.import_onnx(_graph(tmp_path), str(run), preprocess="none", log=lambda *a: None, force=True)
    assert (run / "log.csv").read_text() == "epoch\n1\n" and sorted(os.listdir(str(run))) == ["log.csv"]


def test_nodes_without_weights_wrong_rank_weights_and_an_empty_file_are_named(tmp_path):
    """A Conv with no weight input, a Gemm whose weights are 1-D, a bias of the wrong size,
    and an empty .onnx file: each a clear OnnxImportError naming the node or the file (these
    once ended in an IndexError or 'the graph has 0 inputs')."""
    path = _graph(tmp_path)

    def mutated(fn, name):
        m = onnx.load(path)
        fn(m)
        p = str(tmp_path / name); onnx.save(m, p); return p

    def drop_conv_weights(m):
        conv = [n for n in m.graph.node if n.op_type == "Conv"][0]
        del conv.input[1:]
    p = mutated(drop_conv_weights, "noW.onnx")
    with pytest.raises(oi.OnnxImportError, match="Conv node .* has no weights input .it has 1 input"):
        oi.import_onnx(p, str(tmp_path / "o1"), preprocess="none", log=lambda *a: None)

    def flat_gemm_weights(m):
        for init in m.graph.initializer:
            if init.name == "G1":
                a = numpy_helper.to_array(init).ravel()
                init.CopyFrom(numpy_helper.from_array(a, "G1"))
    p = mutated(flat_gemm_weights, "gemm1d.onnx")
    with pytest.raises(oi.OnnxImportError, match=r"Gemm node .*weights 'G1' have shape \(\d+,\).*expected 2 dimensions"):
        oi.import_onnx(p, str(tmp_path / "o2"), preprocess="none", log=lambda *a: None)

    def short_bias(m):
        for init in m.graph.initializer:
            if init.name == "b2":
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init)[:1], "b2"))
    p = mutated(short_bias, "bias.onnx")
    with pytest.raises(oi.OnnxImportError, match=r"bias 'b2' is of shape \(1,\); expected \d+ constant values"):
        oi.import_onnx(p, str(tmp_path / "o3"), preprocess="none", log=lambda *a: None)

    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(oi.OnnxImportError, match="empty.onnx is not an ONNX model: it holds no graph"):
        oi.import_onnx(str(tmp_path / "empty.onnx"), str(tmp_path / "o4"), log=lambda *a: None)
    for o in ("o1", "o2", "o3", "o4"):
        assert not os.path.exists(str(tmp_path / o))


def test_an_lrn_of_size_zero_is_named(tmp_path):
    """Found by tests/test_fuzz.py's long profile (one byte of the size attribute set to 0):
    it divided by zero."""
    path = _graph(tmp_path)
    m = onnx.load(path)
    for node in m.graph.node:
        if node.op_type == "LRN":
            for a in node.attribute:
                if a.name == "size":
                    a.i = 0
    onnx.save(m, path)
    with pytest.raises(oi.OnnxImportError, match="LRN node .* has size 0; LRN needs an odd size >= 1"):
        oi.import_onnx(path, str(tmp_path / "ck"), preprocess="none", log=lambda *a: None)

