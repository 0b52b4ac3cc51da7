"""Test set-up: the repository and this folder on sys.path, and the fixtures the tests build
(small configurations, datasets, checkpoints, Keras and ONNX files). References are in ref.py."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def _one_compile_cache_per_worker():
    """Under pytest-xdist (``make test``), each worker gets its own Theano compile cache, a
    sub-folder of the usual one: two processes compiling into one cache race in Theano's
    ``cmodule``/``compilelock`` (a lock file or a ``key.pkl`` removed under the other; seen in a
    fresh clone). Set before zfnet configures Theano; the tests' child processes inherit it."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker or "zfnet" in sys.modules:
        return
    import importlib.util  # zfnet.theano_config alone: importing the package would configure Theano now
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "zfnet", "theano_config.py")
    spec = importlib.util.spec_from_file_location("_theano_config_for_conftest", path)
    config = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(config)
    os.environ["ZFNET_THEANO_DIR"] = os.path.join(config.compile_dir(), "xdist-" + worker)


_one_compile_cache_per_worker()

import numpy as np  # noqa: E402


def tiny_config(channels=1, size=12, classes=3):
    """A small configuration with every layer type, for fast tests."""
    return {"name": "tiny", "input_shape": [channels, size, size], "num_classes": classes,
            "layers": [
                {"name": "conv1", "type": "conv", "num_filters": 4, "filter_size": 3, "stride": 1, "pad": 1},
                {"name": "relu1", "type": "relu"},
                {"name": "pool1", "type": "maxpool", "pool_size": 3, "stride": 2, "ignore_border": False},
                {"name": "norm1", "type": "lrn", "n": 3, "alpha": 0.01, "beta": 0.75, "k": 1.0},
                {"name": "conv2", "type": "conv", "num_filters": 6, "filter_size": 3, "stride": 1, "pad": 1},
                {"name": "relu2", "type": "relu"},
                {"name": "pool2", "type": "maxpool", "pool_size": 3, "stride": 2, "ignore_border": False},
                {"name": "fc6", "type": "fc", "num_units": 16},
                {"name": "relu6", "type": "relu"},
                {"name": "drop6", "type": "dropout", "p": 0.5},
                {"name": "fc8", "type": "fc", "num_units": classes},
                {"name": "prob", "type": "softmax"}]}


def toy_dataset(n_train=240, n_test=60, size=12, classes=3, seed=0):
    """Images whose class is where a bright 4x4 square sits (plus noise)."""
    from zfnet.data.dataset import Dataset
    rng = np.random.RandomState(seed)

    def make(n):
        y = rng.randint(0, classes, n)
        x = rng.randint(0, 60, (n, 1, size, size))
        for i, c in enumerate(y):
            r = 1 + 3 * c
            x[i, 0, r:r + 4, 2:size - 2] += 180
        return np.clip(x, 0, 255).astype(np.uint8), y.astype(np.int32)
    xtr, ytr = make(n_train); xte, yte = make(n_test)
    return Dataset("toy", xtr, ytr, xte, yte, ["top", "middle", "bottom"][:classes])


def write_tiny_checkpoint(path, cfg=None, dataset=None, dataset_name="toy"):
    """A checkpoint of ``cfg`` (default :func:`tiny_config`) with random He weights and the
    preprocessing of ``dataset`` (default :func:`toy_dataset` with 60/30 images).
    Returns (checkpoint path, dataset, preprocessing)."""
    from zfnet.io import checkpoint as ckpt
    from zfnet.data import dataset as datamod
    from zfnet.nn import model as modelmod
    cfg = cfg or tiny_config()
    ds = dataset or toy_dataset(n_train=60, n_test=30)
    net = modelmod.build(cfg)
    mean, std = datamod.channel_stats(ds.x_train)
    pre = {"mean": mean, "std": std, "units": "pixel values 0-255",
           "crop": list(cfg["input_shape"][1:])}
    ckpt.write_checkpoint(str(path), {
        "model.json": ckpt.model_json(cfg, net, pre, ds.class_names, dataset=dataset_name),
        "model.npz": modelmod.get_weights(net)})
    return str(path), ds, pre


# ------------------------------------------------- a tiny Keras VGG and what Keras computes
KERAS_TINY = dict(blocks=((4, 1), (6, 2)), fc=(8, 8), num_classes=3, size=8, name="tinyvgg")


def random_keras(seed=0):
    """Keras-2-shaped random weights for TINY: conv (h, w, in, out), dense (in, out)."""
    rng = np.random.RandomState(seed)
    w, cin = {}, 3
    for b, (width, n) in enumerate(KERAS_TINY["blocks"], 1):
        for i in range(1, n + 1):
            w["block%d_conv%d" % (b, i)] = (rng.randn(3, 3, cin, width) * 0.05, rng.randn(width) * 0.1)
            cin = width
    flat = 2 * 2 * cin
    for name, (a, o) in [("fc1", (flat, 8)), ("fc2", (8, 8)), ("predictions", (8, 3))]:
        w[name] = (rng.randn(a, o) * 0.3, rng.randn(o) * 0.1)
    return w


def write_keras(path, w, layout, saved_model=False):
    """A Keras weights file (or a whole-model file) in the Keras 2 or Keras 1/Theano layout."""
    import h5py
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


def write_onnx_chain(path, ceil_mode=0, trans_b=1, constant_nodes=False, seed=0, size=13):
    """A ZF-like chain with random weights: Conv(pad 1, stride 2) Relu LRN MaxPool Conv Relu
    MaxPool Flatten Gemm Relu Gemm Softmax."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.RandomState(seed)
    W1 = rng.randn(4, 3, 3, 3).astype(np.float32) * 0.4; b1 = rng.randn(4).astype(np.float32) * 0.1
    W2 = rng.randn(5, 4, 3, 3).astype(np.float32) * 0.4; b2 = rng.randn(5).astype(np.float32) * 0.1
    # spatial sizes: 13 -conv s2 p1-> 7 -pool 3/2-> 3 (floor) or 3 (ceil) -conv p1-> 3 -pool 2/1-> 2
    flat = 5 * 2 * 2
    G1 = rng.randn(6, flat).astype(np.float32) * 0.4; c1 = rng.randn(6).astype(np.float32) * 0.1
    G2 = rng.randn(3, 6).astype(np.float32) * 0.4; c2 = rng.randn(3).astype(np.float32) * 0.1
    if not trans_b:
        G1, G2 = G1.T.copy(), G2.T.copy()
    weights = dict(W1=W1, b1=b1, W2=W2, b2=b2, G1=G1, c1=c1, G2=G2, c2=c2)
    nodes, inits = [], []
    for k, v in weights.items():
        if constant_nodes:
            nodes.append(helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v, k)))
        else:
            inits.append(numpy_helper.from_array(v, k))
    nodes += [
        helper.make_node("Conv", ["x", "W1", "b1"], ["a1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a1"], ["a2"]),
        helper.make_node("LRN", ["a2"], ["a3"], size=3, alpha=0.3, beta=0.75, bias=1.5),
        helper.make_node("MaxPool", ["a3"], ["a4"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=ceil_mode),
        helper.make_node("Conv", ["a4", "W2", "b2"], ["a5"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a5"], ["a6"]),
        helper.make_node("MaxPool", ["a6"], ["a7"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("Flatten", ["a7"], ["a8"]),
        helper.make_node("Gemm", ["a8", "G1", "c1"], ["a9"], transB=trans_b),
        helper.make_node("Relu", ["a9"], ["a10"]),
        helper.make_node("Dropout", ["a10"], ["a11"]),
        helper.make_node("Gemm", ["a11", "G2", "c2"], ["a12"], transB=trans_b),
        helper.make_node("Softmax", ["a12"], ["y"]),
    ]
    g = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


def random_tiny_net(build_seed, weight_seed, scale=0.3):
    """A built :func:`tiny_config` network with random normal weights (``scale``) set, and the
    numpy state that drew them: (cfg, net, arrays, rng), rng ready for drawing inputs."""
    from zfnet.backend import lasagne
    from zfnet.nn import model
    cfg = tiny_config()
    lasagne.random.set_rng(np.random.RandomState(build_seed))
    net = model.build(cfg)
    rng = np.random.RandomState(weight_seed)
    arrays = {k: (rng.randn(*v.shape) * scale).astype("float32") for k, v in model.get_weights(net).items()}
    model.set_weights(net, arrays)
    return cfg, net, arrays, rng

