"""Slow, obvious NumPy references the tests compare against."""
import numpy as np


def xcorr2d(x, W, b=None, stride=1, pad=0):
    """Cross-correlation: x (N, C, H, W), W (K, C, fh, fw) -> (N, K, Ho, Wo)."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, w = x.shape
    k, _, fh, fw = W.shape
    ho, wo = (h - fh) // stride + 1, (w - fw) // stride + 1
    out = np.zeros((n, k, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            out[:, :, i, j] = np.tensordot(patch, W, axes=([1, 2, 3], [1, 2, 3]))
    if b is not None:
        out += b[None, :, None, None]
    return out


def maxpool2d(x, size, stride, ignore_border):
    """Max-pooling; ignore_border=False pools partial windows at the end (ceil mode)."""
    n, c, h, w = x.shape

    def length(L):
        if ignore_border:
            return (L - size) // stride + 1
        return max(0, (L - 1 - size + stride) // stride) + 1 if stride < size else (L - 1) // stride + 1
    ho, wo = length(h), length(w)
    out = np.zeros((n, c, ho, wo), x.dtype)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * stride:i * stride + size, j * stride:j * stride + size].max(axis=(2, 3))
    return out


def lrn(x, n=5, alpha=1e-4, beta=0.75, k=2.0):
    """Lasagne's cross-channel LRN: x / (k + alpha * sum of n neighbouring x^2) ** beta."""
    c = x.shape[1]
    out = np.empty_like(x, dtype=np.float64)
    for i in range(c):
        lo, hi = max(0, i - n // 2), min(c, i + n // 2 + 1)
        out[:, i] = x[:, i] / (k + alpha * (x[:, lo:hi] ** 2).sum(axis=1)) ** beta
    return out


def softmax(z, axis=1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def forward(cfg, arrays, x, upto=None):
    """Run a configuration with numpy references only (test-mode: dropout off)."""
    out = {}
    h = x.astype(np.float64)
    for spec in cfg["layers"]:
        t = spec["type"]
        if t in ("conv", "fc"):
            s = spec.get("stride", 1) if t == "conv" else 1
            p = spec.get("pad", 0) if t == "conv" else 0
            h = xcorr2d(h, arrays[spec["name"] + ".W"], arrays[spec["name"] + ".b"], s, p)
        elif t == "relu":
            h = np.maximum(h, 0)
        elif t == "maxpool":
            h = maxpool2d(h, spec["pool_size"], spec["stride"], spec["ignore_border"])
        elif t == "lrn":
            h = lrn(h, spec["n"], spec["alpha"], spec["beta"], spec["k"])
        elif t == "softmax":
            h = softmax(h)
        out[spec["name"]] = h
        if spec["name"] == upto:
            break
    return out


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


def switches_ref(x, size, stride, ceil, rtol=1e-5):
    """First maximum (row-major) per window, values within ``rtol`` of the maximum tied (in
    float64); flat index y*W+x. Partial windows if ceil."""
    n, c, H, W = x.shape
    L = lambda m: (max(0, (m - 1 - size + stride) // stride) + 1) if ceil else (m - size) // stride + 1
    ho, wo = L(H), L(W)
    sw = np.zeros((n, c, ho, wo), np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    cells = [(u, v) for u in range(i * stride, min(i * stride + size, H))
                             for v in range(j * stride, min(j * stride + size, W))]
                    m = max(float(x[b, ch, u, v]) for u, v in cells)
                    sw[b, ch, i, j] = next(u * W + v for u, v in cells
                                           if float(x[b, ch, u, v]) >= m - rtol * abs(m))
    return sw


def unpool_ref(g, sw, in_hw):
    n, c, ho, wo = g.shape
    out = np.zeros((n, c, in_hw[0] * in_hw[1]))
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    out[b, ch, sw[b, ch, i, j]] += g[b, ch, i, j]  # shared switches add up
    return out.reshape((n, c) + tuple(in_hw))


def transposed_xcorr2d(g, W, in_hw, stride=1, pad=0):
    """Scatter each output value back through its window: the adjoint, by loops."""
    n, k, ho, wo = g.shape
    _, c, fh, fw = W.shape
    H, Wd = in_hw
    out = np.zeros((n, c, H + 2 * pad, Wd + 2 * pad))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw] += \
                np.tensordot(g[:, :, i, j], W, axes=([1], [0]))
    return out[:, :, pad:pad + H, pad:pad + Wd]


# ------------------------------------------------- a tiny Keras VGG and what Keras computes
KERAS_TINY = dict(blocks=((4, 1), (6, 2)), fc=(8, 8), num_classes=3, size=8, name="tinyvgg")
MEAN_BGR = np.array([103.939, 116.779, 123.68])


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


def keras_forward(w, rgb, layout):
    """What Keras computes: RGB 0-255 (H, W, 3) -> BGR - mean -> VGG -> logits. Numpy only."""
    x = rgb[:, :, ::-1].astype(np.float64) - MEAN_BGR          # (H, W, C), channels last
    for b, (width, n) in enumerate(KERAS_TINY["blocks"], 1):
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


def keras1_weights(w):
    """The Keras 1 file's dense rows are in channels-first flatten order."""
    out = dict(w)
    k = w["fc1"][0]
    out["fc1"] = (k.reshape(2, 2, 6, -1).transpose(2, 0, 1, 3).reshape(24, -1), w["fc1"][1])
    return out


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
