"""Max-pooling with switches, and unpooling with them (the deconvnet's Fig. 1).

Theano's max-pool gradient sends the signal to *every* tied maximum of a window;
after a ReLU, windows of zeros are common, so that gradient is not the paper's
unpooling. Here the switch of a window is exactly one location: the **first
maximum in row-major order** within the window (as Caffe and PyTorch choose).
Unpooling puts each pooled value at its window's switch; where overlapping
windows share a switch location their contributions are summed.

Both are Theano graphs: the windows are gathered with ``images2neibs`` (ceil
mode pads the bottom/right with -inf first) and ``argmax`` returns the first
maximum.
"""
import numpy as np

from .backend import T
from theano.tensor.nnet.neighbours import images2neibs


def pool_output_size(n, size, stride, ignore_border):
    """Pooled length of an axis of length ``n`` (Theano's rule, ceil mode if not ignore_border)."""
    if ignore_border:
        return (n - size) // stride + 1
    if stride >= size:
        return (n - 1) // stride + 1
    return max(0, (n - 1 - size + stride) // stride) + 1


def max_pool_switches(x, in_hw, pool_size, stride, ignore_border):
    """Max-pool ``x`` (B, C, H, W) and return ``(pooled, switches)``.

    ``switches`` (B, C, Ho, Wo), int64: the flat index ``y * W + x`` within the
    H x W input map of the first maximum (row-major) of each window.
    ``in_hw`` = (H, W) must be known (static).
    """
    H, W = in_hw
    ho = pool_output_size(H, pool_size, stride, ignore_border)
    wo = pool_output_size(W, pool_size, stride, ignore_border)
    hp, wp = (ho - 1) * stride + pool_size, (wo - 1) * stride + pool_size
    if hp > H or wp > W:  # ceil mode: pad bottom/right with -inf
        big = T.alloc(np.float32(-np.inf), x.shape[0], x.shape[1], max(hp, H), max(wp, W))
        x = T.set_subtensor(big[:, :, :H, :W], x)
    x = x[:, :, :hp, :wp]
    neibs = images2neibs(x, (pool_size, pool_size), (stride, stride), mode="valid")
    arg = T.argmax(neibs, axis=1)
    pooled = T.max(neibs, axis=1).reshape((x.shape[0], x.shape[1], ho, wo))
    u, v = arg // pool_size, arg % pool_size
    base_y = (np.arange(ho) * stride)[:, None]
    base_x = (np.arange(wo) * stride)[None, :]
    shape = (x.shape[0], x.shape[1], ho, wo)
    switches = (u.reshape(shape) + base_y) * W + (v.reshape(shape) + base_x)
    return pooled, switches


def unpool(signal, switches, in_hw):
    """Place ``signal`` (R, C, Ho, Wo) at ``switches`` (R, C, Ho, Wo) in an (R, C, H, W) map.

    Values whose windows share a switch location are summed.
    """
    H, W = in_hw
    R, C = signal.shape[0], signal.shape[1]
    base = (T.arange(R * C) * (H * W)).reshape((R, C, 1, 1))
    idx = (base + switches).flatten()
    out = T.zeros((R * C * H * W,), dtype=signal.dtype)
    out = T.inc_subtensor(out[idx], signal.flatten())
    return out.reshape((R, C, H, W))
