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
