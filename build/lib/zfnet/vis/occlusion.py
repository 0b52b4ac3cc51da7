"""Occlusion sensitivity (Sec. 4.2, Fig. 7; Table 1): grey squares swept over an image."""
import numpy as np

from ..errors import UsageError


def occlusion_grid(h, w, size, stride):
    """Top-left corners (rows, cols) of a ``size`` square swept with ``stride`` over an h x w
    image, from 0 to the last position that keeps the square inside."""
    if size < 1 or size > min(h, w):
        raise UsageError("occluder size %r must be between 1 and %d" % (size, min(h, w)))
    if stride < 1:
        raise UsageError("occluder stride must be >= 1, got %r" % (stride,))
    return np.arange(0, h - size + 1, stride), np.arange(0, w - size + 1, stride)


def occlude(img, top, left, size, value):
    """A copy of ``img`` (C, H, W) with the square [top:top+size, left:left+size] set to ``value``
    (a number or one value per channel)."""
    out = np.array(img, copy=True)
    v = np.asarray(value, out.dtype).reshape(-1, 1, 1)
    out[:, top:top + size, left:left + size] = v
    return out


def occlusion_batch(img, size, stride, value):
    """All occluded copies of ``img``: (N, C, H, W) plus the (rows, cols) grid."""
    c, h, w = np.asarray(img).shape
    rows, cols = occlusion_grid(h, w, size, stride)
    batch = np.stack([occlude(img, t, l, size, value) for t in rows for l in cols])
    return batch, (rows, cols)


def occlusion_sweep(img, size, stride, value, fn, batch_size=256, max_positions=None):
    """Apply ``fn`` to every occluded copy of ``img`` (C, H, W) — one sweep serves Fig. 7,
    Table 1 and the explorer.

    ``fn``: uint8 batch (n, C, H, W) -> array or list of arrays with n rows (e.g. class
    probabilities, feature maps); it is called on batches of ``batch_size``.
    ``max_positions``: refuse (before allocating) a sweep with more occluder positions.
    Returns ``(outputs, (rows, cols))``: each output with its rows reshaped to
    (len(rows), len(cols), ...), and the occluder's top-left corners.
    """
    c, h, w = np.asarray(img).shape
    rows, cols = occlusion_grid(h, w, size, stride)
    n = len(rows) * len(cols)
    if max_positions is not None and n > max_positions:
        raise UsageError("%d occluder positions: use a larger stride (at most %d positions)"
                         % (n, max_positions))
    batch = np.stack([occlude(img, t, l, size, value) for t in rows for l in cols])
    parts = None
    for i in range(0, n, batch_size):
        out = fn(batch[i:i + batch_size])
        out = out if isinstance(out, (list, tuple)) else [out]
        if parts is None:
            parts = [[] for _ in out]
        for p, o in zip(parts, out):
            p.append(np.asarray(o))
    outputs = [np.concatenate(p).reshape((len(rows), len(cols)) + p[0].shape[1:]) for p in parts]
    return outputs, (rows, cols)
