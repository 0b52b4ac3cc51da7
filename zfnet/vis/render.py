"""Turn reconstructions and images into pictures, keeping their colour. No Theano here.

A reconstruction lives in the network's input space: the preprocessed image
``(pixel - mean[c]) / std[c]``. To show it:

1. undo the per-channel ``std`` (multiply channel c by ``std[c]``): back to
   pixel units, so the channels keep the proportions they have in the image;
2. scale **all channels by one common factor** around mid-grey:
   ``0.5 + 0.5 * r / max|r|``.

Stretching each channel on its own (``scale='each'``) changes the ratios
between channels, i.e. the hue (the broken colours of seed 000); it is offered
as an option, not the default. ``scale='image'`` also adds the mean back and
shows the result as pixels (meaningful when the reconstruction approximates an
image, e.g. a gradient-times-input map).
"""
import numpy as np
from ..errors import UsageError

SCALES = ("common", "each", "image")


def reconstruction_to_rgb(recon, mean=None, std=None, scale="common", percentile=100.0):
    """(C, H, W) reconstruction -> (H, W, 3) or (H, W) float image in [0, 1].

    Parameters
    ----------
    recon : array (C, H, W), raw reconstruction in the network's input space
    mean, std : per-channel preprocessing (pixel units 0-255) or None
    scale : 'common' (default, hue-preserving), 'each' (per channel) or 'image'
    percentile : the factor maps this percentile of ``|r|`` to full range
        (100 = the maximum; e.g. 99.5 for more contrast)
    """
    if scale not in SCALES:
        raise UsageError("scale %r: expected one of %s" % (scale, ", ".join(SCALES)))
    r = np.asarray(recon, np.float64)
    if r.ndim != 3:
        raise UsageError("reconstruction must be (C, H, W), got shape %r" % (r.shape,))
    c = r.shape[0]
    std = np.ones(c) if std is None else np.asarray(std, np.float64)
    mean = np.zeros(c) if mean is None else np.asarray(mean, np.float64)
    r = r * std[:, None, None]
    if scale == "image":
        out = np.clip((r + mean[:, None, None]) / 255.0, 0, 1)
    elif scale == "each":
        m = np.array([np.percentile(np.abs(ch), percentile) for ch in r])[:, None, None]
        out = 0.5 + 0.5 * r / np.maximum(m, 1e-12)
    else:
        m = np.percentile(np.abs(r), percentile)
        out = 0.5 + 0.5 * r / max(m, 1e-12)
    out = np.clip(out, 0, 1).transpose(1, 2, 0)
    return out[:, :, 0] if c == 1 else out


def projection_rgb(recon, preprocessing, scale="common"):
    """A reconstruction rendered for a network with ``preprocessing`` (a checkpoint's dict of
    per-channel ``mean`` and ``std``): the one call every figure, experiment and the explorer use."""
    return reconstruction_to_rgb(recon, preprocessing["mean"], preprocessing["std"], scale=scale)


def projection_panels(image_u8, recon, box, preprocessing, scale="common"):
    """What a projected unit is drawn as: ``patch`` (the input inside the unit's receptive field
    ``box`` = top, left, bottom, right), ``projection_patch`` (the projection inside it) and
    ``projection`` (the whole projection), all RGB (or grey) floats in [0, 1]."""
    t, l, b, r = (int(v) for v in box)
    img = pixels_to_rgb(image_u8)
    rec = projection_rgb(recon, preprocessing, scale)
    return {"patch": img[t:b, l:r], "projection_patch": rec[t:b, l:r], "projection": rec}


def pixels_to_rgb(x):
    """Stored uint8 image (C, H, W) -> (H, W) or (H, W, 3) float in [0, 1]."""
    out = np.asarray(x, np.float64).transpose(1, 2, 0) / 255.0
    return out[:, :, 0] if out.shape[2] == 1 else out


def to_uint8(img):
    """[0, 1] float image (or uint8, kept as is) -> uint8 RGB; grey images made RGB."""
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0, 1) * 255).round().astype(np.uint8)


def tile(images, cols=None, pad=2, background=1.0, size=None):
    """Tile a list of (H, W[, 3]) images in [0, 1] into one grid (resized to ``size`` if given)."""
    from PIL import Image
    ims = [to_uint8(im) for im in images]
    if size is not None:
        ims = [np.asarray(Image.fromarray(im).resize((size[1], size[0]), Image.NEAREST)) for im in ims]
    h = max(im.shape[0] for im in ims); w = max(im.shape[1] for im in ims)
    n = len(ims)
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / float(cols)))
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, 3), int(background * 255), np.uint8)
    for i, im in enumerate(ims):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + im.shape[0],
             pad + c * (w + pad):pad + c * (w + pad) + im.shape[1]] = im
    return grid


def png_bytes(img, zoom=1):
    """An (H, W[, 3]) image ([0, 1] float or uint8) as PNG bytes, enlarged ``zoom`` times."""
    import io
    from PIL import Image
    im = Image.fromarray(to_uint8(img))
    if zoom != 1:
        im = im.resize((im.width * zoom, im.height * zoom), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def save_png(img, path, zoom=1):
    """Save an (H, W[, 3]) image ([0, 1] float or uint8) as PNG, enlarged ``zoom`` times,
    atomically: the old file stays whole if the write fails (a full disk, a kill)."""
    from ..files import atomic_write_bytes
    atomic_write_bytes(path, png_bytes(img, zoom))
    return path


def hue(rgb):
    """Hue angle in [0, 1) of (..., 3) RGB values (for colour checks)."""
    import colorsys
    flat = np.asarray(rgb, np.float64).reshape(-1, 3)
    return np.array([colorsys.rgb_to_hsv(*p)[0] for p in flat]).reshape(np.asarray(rgb).shape[:-1])


def heat_map(m):
    """(h, w) values -> RGB heat map in [0, 1] (blue low, red high)."""
    m = np.asarray(m, np.float64)
    span = m.max() - m.min()
    t = (m - m.min()) / span if span > 0 else np.zeros_like(m)
    return np.stack([t, 1 - np.abs(2 * t - 1), 1 - t], axis=-1)


def overlay(image_rgb, fmap, alpha=0.6):
    """A feature map (h, w), upsampled (nearest) to the image and blended over it as a heat map."""
    img = np.asarray(image_rgb, np.float64)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    H, W = img.shape[:2]
    fmap = np.asarray(fmap, np.float64)
    ys = (np.arange(H) * fmap.shape[0] // H).clip(0, fmap.shape[0] - 1)
    xs = (np.arange(W) * fmap.shape[1] // W).clip(0, fmap.shape[1] - 1)
    up = fmap[ys][:, xs]
    heat = heat_map(up)
    weight = alpha * (up - up.min()) / max(up.max() - up.min(), 1e-12)
    return img * (1 - weight[..., None]) + heat * weight[..., None]


# ------------------------------------------------------------------ labelled figures
def _font(size):
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow: the bitmap font
        return ImageFont.load_default()


def text_strip(text, width, height=18, size=12, background=255, colour=(20, 20, 20)):
    """A uint8 (height, width, 3) strip with ``text`` drawn at its left (cut to the width)."""
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (int(width), int(height)), (background,) * 3)
    ImageDraw.Draw(im).text((3, max(0, (height - size) // 2 - 1)), text, fill=colour, font=_font(size))
    return np.asarray(im)


def fit_tile(img, cell, background=255):
    """An image (H, W[, 3], [0, 1] or uint8) scaled by nearest neighbour to fit a ``cell`` x
    ``cell`` square (enlarged as far as whole pixels allow, so small inputs stay crisp), centred
    on a blank tile."""
    from PIL import Image
    a = to_uint8(img)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    h, w = a.shape[:2]
    scale = cell / float(max(h, w))
    if scale >= 1:
        scale = max(1, int(scale))  # whole-pixel enlargement
    nh, nw = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    a = np.asarray(Image.fromarray(a).resize((nw, nh), Image.NEAREST))
    out = np.full((cell, cell, 3), background, np.uint8)
    t, l = (cell - nh) // 2, (cell - nw) // 2
    out[t:t + nh, l:l + nw] = a
    return out


TITLE_H, HEADER_H, LABEL_H = 22, 18, 16


def labelled_cell(row, col, cell=96, pad=4, title=True, col_labels=True, row_labels=True):
    """(top, left) of the tile at ``row``, ``col`` in a :func:`labelled_grid` picture."""
    top = (TITLE_H if title else 0) + (HEADER_H if col_labels else 0)
    top += row * ((LABEL_H if row_labels else 0) + cell + pad) + (LABEL_H if row_labels else 0)
    return top, pad + col * (cell + pad)


def labelled_grid(rows, row_labels=None, col_labels=None, cell=96, pad=4, title=None):
    """Rows of images as one uint8 picture: a title, column headers, and each row's label on a
    strip above it. ``rows``: lists of images (any size; each fitted to ``cell`` by
    :func:`fit_tile`; :func:`labelled_cell` says where each tile is)."""
    ncol = max(len(r) for r in rows)
    width = pad + ncol * (cell + pad)
    parts = []
    if title:
        parts.append(text_strip(title, width, TITLE_H, 14))
    if col_labels:
        header = np.full((HEADER_H, width, 3), 255, np.uint8)
        for j, lab in enumerate(col_labels):
            x0 = pad + j * (cell + pad)
            header[:, x0:x0 + cell] = text_strip(lab, cell, HEADER_H, 11)
        parts.append(header)
    for i, row in enumerate(rows):
        if row_labels:
            parts.append(text_strip(row_labels[i], width, LABEL_H, 11))
        strip = np.full((cell + pad, width, 3), 255, np.uint8)
        for j, im in enumerate(row):
            x0 = pad + j * (cell + pad)
            strip[:cell, x0:x0 + cell] = fit_tile(im, cell)
        parts.append(strip)
    return np.concatenate(parts, axis=0)


def colour_bar(height, width=14, lo=0.0, hi=1.0, label=""):
    """A vertical colour bar of :func:`heat_map`'s colours (high at the top) with its range
    written beside it, as uint8 (height, width + 46, 3)."""
    t = np.linspace(1, 0, height)[:, None].repeat(width, axis=1)
    bar = to_uint8(heat_map(t) if hi > lo else heat_map(np.zeros_like(t)))
    side = np.full((height, 46, 3), 255, np.uint8)
    if height >= 34:
        side[:16] = text_strip("%.2f" % hi, 46, 16, 10)
        side[-16:] = text_strip("%.2f" % lo, 46, 16, 10)
    if label and height > 60:
        side[height // 2 - 8:height // 2 + 8] = text_strip(label, 46, 16, 10)
    return np.concatenate([bar, side], axis=1)


def occlusion_picture(image_rgb, pmap, size, stride, zoom=4):
    """The occlusion map drawn over the image: each pixel coloured by the probability when the
    occluder is centred nearest to it (blended over the image), and a colour bar of the
    probabilities. ``pmap`` (rows, cols) over top-left corners ``0, stride, ...``."""
    img = np.asarray(image_rgb, np.float64)
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    H, W = img.shape[:2]
    pm = np.asarray(pmap, np.float64)
    ys = np.clip(np.round((np.arange(H) - (size - 1) / 2.0) / stride), 0, pm.shape[0] - 1).astype(int)
    xs = np.clip(np.round((np.arange(W) - (size - 1) / 2.0) / stride), 0, pm.shape[1] - 1).astype(int)
    up = pm[ys][:, xs]
    lo, hi = float(pm.min()), float(pm.max())
    t = (up - lo) / (hi - lo) if hi > lo else np.zeros_like(up)
    over = 0.45 * img + 0.55 * heat_map(t)
    big = to_uint8(over)
    from PIL import Image
    big = np.asarray(Image.fromarray(big).resize((W * zoom, H * zoom), Image.NEAREST))
    return np.concatenate([big, np.full((H * zoom, 4, 3), 255, np.uint8),
                           colour_bar(H * zoom, lo=lo, hi=hi, label="P")], axis=1)
