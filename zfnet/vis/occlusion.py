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


def correlation(a, b):
    """Pearson correlation of two arrays (flattened); 0 when either is constant."""
    a = np.asarray(a, np.float64).ravel(); b = np.asarray(b, np.float64).ravel()
    a = a - a.mean(); b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else 0.0


def square_cover(weights, size, rows, cols):
    """For each square position (the grid of :func:`occlusion_grid`), the sum of ``weights``
    (H, W) under the square: with a 0/1 mask over ``size**2`` it is the share of the square on
    the mask, with a projection's energy over its total the share of the energy covered."""
    wts = np.asarray(weights, np.float64)
    ii = np.pad(wts, ((1, 0), (1, 0))).cumsum(0).cumsum(1)  # integral image
    r, c = np.asarray(rows)[:, None], np.asarray(cols)[None, :]
    return ii[r + size, c + size] - ii[r, c + size] - ii[r + size, c] + ii[r, c]


def _log_odds(p):
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    return np.log(p) - np.log1p(-p)


def occlusion_study(model, img, y, size, stride, grey, object_mask, proj, logits, feat, layer="relu5"):
    """Fig. 7's measures on one image (C, H, W uint8, true class ``y``) for a square of
    ``size`` swept with ``stride`` and filled with ``grey``.

    ``object_mask`` (H, W) marks the object's pixels: a position is **object** when at least
    half of the square lies on it, **background** when none does. The map studied is the
    ``layer`` map strongest on the unoccluded image (``feat``: compiled features of ``layer``,
    flattened; ``logits``: compiled logits; ``proj``: a deconvnet
    :class:`~zfnet.vis.deconv.Projector`). Returns ``(measures, arrays to draw)``: the drops
    in the true class's log-odds over object and over background positions, the share of
    background positions that keep the true label, and the correlations over positions of the
    map's total activation with the share of its projection's energy under the square and
    with the true class's probability."""
    from ..evaluate import softmax
    n_maps = model.net[layer].output_shape[1]
    x0 = model.preprocess(img)
    f0 = feat(x0)[0].reshape(n_maps, -1)
    ch = int(f0.max(axis=1).argmax())
    p0 = float(softmax(logits(x0))[0, y])

    def probs_and_map(b):
        xb = model.preprocess(b)
        return softmax(logits(xb)), feat(xb)[0].reshape(len(xb), n_maps, -1)[:, ch].sum(axis=1)
    (probs, amap), (rows, cols) = occlusion_sweep(img, size, stride, grey, probs_and_map)
    pmap, lmap = probs[:, :, y], probs.argmax(2)
    rec = proj.project(x0, [layer], channels=[ch])[layer].reconstructions[0, 0]
    energy = np.abs(rec).sum(axis=0)
    cover = square_cover(energy / max(energy.sum(), 1e-12), size, rows, cols)
    inside = square_cover(np.asarray(object_mask, bool), size, rows, cols) / float(size * size)
    obj, bg = inside >= 0.5, inside == 0
    drop = _log_odds(p0) - _log_odds(pmap)
    m = {"map": ch, "p_unoccluded": p0, "p_min": float(pmap.min()),
         "object_positions": int(obj.sum()), "background_positions": int(bg.sum()),
         "drop_object": float(drop[obj].mean()) if obj.any() else None,
         "drop_background": float(drop[bg].mean()) if bg.any() else None,
         "background_keeps_label": float((lmap[bg] == y).mean()) if bg.any() else None,
         "corr_activation_projection_covered": correlation(amap, cover),
         "corr_activation_probability": correlation(amap, pmap)}
    return m, dict(pmap=pmap, lmap=lmap, amap=amap, rec=rec, rows=rows, cols=cols, ch=ch, p0=p0)
