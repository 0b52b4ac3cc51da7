"""Pictures: training curves and filter grids. No Theano here."""
import numpy as np


def pyplot():
    """matplotlib's ``pyplot`` on the file-only Agg backend (no display needed): what the
    experiments draw with. Where pyplot is already in use (a notebook's inline backend, a
    user's window), its backend is left as it is."""
    import sys
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path, tight=True, **savefig_kwargs):
    """Write a matplotlib figure as PNG atomically (a full disk or a kill never leaves a
    broken file in place of a good one) and close it."""
    import io
    from ..files import atomic_write_bytes
    plt = pyplot()
    if tight:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig_kwargs)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_curves(history, path):
    """Loss and error per epoch (train, validation, test) to a PNG."""
    plt = pyplot()
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h["val_loss"] for h in history], "s-", label="validation")
    a.plot(ep, [h["test_loss"] for h in history], "^-", label="test")
    a.set_xlabel("epoch"); a.set_ylabel("cross-entropy loss"); a.legend(); a.grid(alpha=.3)
    b.plot(ep, [100 * h["train_err"] for h in history], "o-", label="train top-1")
    b.plot(ep, [100 * h["val_top1"] for h in history], "s-", label="val top-1")
    b.plot(ep, [100 * h["test_top1"] for h in history], "^-", label="test top-1")
    b.plot(ep, [100 * h["test_top5"] for h in history], "v--", label="test top-5")
    b.set_xlabel("epoch"); b.set_ylabel("error (%)"); b.legend(); b.grid(alpha=.3)
    return save_figure(fig, path, dpi=100)


def filter_grid(W, pad=1, scale="common"):
    """Tile filters ``W`` (K, C, h, w) into one image (H, W, 3) or (H, W) in [0, 1].

    ``scale='common'`` maps all filters with one factor around mid-grey (keeps
    their relative strength and colour); ``'each'`` stretches each filter.
    C must be 1 or 3; other channel counts show the mean over the input channels (and
    :func:`save_filters_png` says so in its caption).
    """
    W = np.asarray(W, np.float64)
    k, c, h, w = W.shape
    if c not in (1, 3):
        W = W.mean(axis=1, keepdims=True); c = 1
    if scale == "each":
        m = np.abs(W).reshape(k, -1).max(axis=1)[:, None, None, None]
    else:
        m = np.abs(W).max()
    W = 0.5 + 0.5 * W / np.maximum(m, 1e-12)
    cols = int(np.ceil(np.sqrt(k))); rows = int(np.ceil(k / float(cols)))
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c))
    for i in range(k):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h,
             pad + q * (w + pad):pad + q * (w + pad) + w] = W[i].transpose(1, 2, 0)
    return grid[:, :, 0] if c == 1 else grid


def filters_caption(W, layer="filters"):
    """What a filter grid of ``W`` (K, C, h, w) shows, in words."""
    k, c, h, w = np.asarray(W).shape
    what = {1: "grey", 3: "colour (RGB)"}.get(c, "the mean over its %d input channels" % c)
    return "%s: %d filters %dx%d, each shown in %s" % (layer, k, h, w, what)


def save_filters_png(W, path, zoom=8, scale="common", layer=None):
    """Write the filter grid of ``W`` (K, C, h, w) as a PNG (atomically), enlarged ``zoom``
    times, under a caption saying what is shown (:func:`filters_caption`)."""
    import io
    from PIL import Image
    from ..files import atomic_write_bytes
    from .render import text_strip
    g = filter_grid(W, scale=scale)
    img = Image.fromarray((np.clip(g, 0, 1) * 255).round().astype(np.uint8))
    img = np.asarray(img.resize((img.width * zoom, img.height * zoom), Image.NEAREST).convert("RGB"))
    caption = text_strip(filters_caption(W, layer or "filters"), max(img.shape[1], 320), 18, 11)
    canvas = np.full((caption.shape[0] + img.shape[0], caption.shape[1], 3), 255, np.uint8)
    canvas[:caption.shape[0]] = caption
    canvas[caption.shape[0]:, :img.shape[1]] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
    return path
