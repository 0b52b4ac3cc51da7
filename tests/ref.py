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
    from zfnet.data import Dataset
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
    from zfnet import checkpoint as ckpt
    from zfnet import data as datamod
    from zfnet import model as modelmod
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
