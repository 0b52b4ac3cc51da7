"""Slow, obvious NumPy references the tests compare against."""


"""Independent references the tests compare against: numpy (float64) convolution, pooling,
LRN, softmax, a forward pass, switches, unpooling, the transposed convolution, and what Keras
computes. The fixtures (small networks, datasets, files) are in conftest.py."""
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


MEAN_BGR = np.array([103.939, 116.779, 123.68])


def keras_forward(w, rgb, layout):
    """What Keras computes: RGB 0-255 (H, W, 3) -> BGR - mean -> VGG -> logits. Numpy only."""
    x = rgb[:, :, ::-1].astype(np.float64) - MEAN_BGR          # (H, W, C), channels last
    import re
    convs = sorted((int(m.group(1)), int(m.group(2))) for m in
                   (re.match(r"block(\d+)_conv(\d+)$", k) for k in w) if m)  # the VGG's own blocks
    blocks = [sum(1 for bb, _ in convs if bb == b) for b in sorted({bb for bb, _ in convs})]
    for b, n in enumerate(blocks, 1):
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
