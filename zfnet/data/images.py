"""Image files: one image into the model's input format, and image-folder trees.

An image-folder tree has one sub-folder per class (JPEG or PNG), the ImageNet
layout, optionally with ``train/`` and ``val/`` (or ``test/``) splits.
"""
import os

import numpy as np

from ..errors import DataError, DataNotFound, TooLarge
from .dataset import Dataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# Images with more pixels than this are refused from their header, before decoding
# (a 493 KB PNG can decode to gigabytes). 64 Mpx is 8192 x 8192, 3x below Pillow's own limit.
MAX_PIXELS = 64 * 1024 * 1024


def open_image(source, max_pixels=MAX_PIXELS, name=None):
    """Open an image file or file object with Pillow and check its size from the header,
    before anything is decoded. Returns the (lazy) PIL image; raises
    :class:`~zfnet.errors.TooLarge` over ``max_pixels`` and :class:`DataError` for what
    Pillow cannot identify."""
    import warnings
    from PIL import Image
    name = name or source
    try:
        with warnings.catch_warnings():  # our own limit, below Pillow's, is checked next
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(source)
    except Image.DecompressionBombError as e:
        raise TooLarge("image %s is too large: %s" % (name, e))
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError("Cannot read image %s: %s (expected a PNG or JPEG file)" % (name, e))
    if im.width * im.height > max_pixels:
        size = (im.width, im.height)
        im.close()
        raise TooLarge("image %s is %dx%d = %d pixels; at most %d are accepted"
                       % (name, size[0], size[1], size[0] * size[1], max_pixels))
    return im


def load_image(path, size=None, channels=3):
    """Read one image as uint8 (C, H, W).

    ``size``: None (as stored), an int (short side resized to it, then centre
    crop to ``size`` x ``size``, the paper's 256 preprocessing) or (H, W)
    (plain resize). ``channels``: 1 (grey) or 3 (RGB).
    """
    from PIL import Image
    if not os.path.isfile(path):
        raise DataNotFound("Image %s does not exist or is not a regular file" % path)
    im = open_image(path)
    try:
        with im:
            im.load()
            return fit_image(im, size, channels)
    except Image.DecompressionBombError as e:
        raise TooLarge("image %s is too large: %s" % (path, e))
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError("Cannot read image %s: %s (expected a PNG or JPEG file)" % (path, e))


def to_8bit(im):
    """16- and 32-bit integer images (PNG's ``I;16``, ``I``) scaled to 8 bits (65535 -> 255);
    Pillow's own conversion clips them instead, turning most pixels white."""
    from PIL import Image
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() <= 65535 else float(a.max())
        return Image.fromarray(np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8), "L")
    return im


def fit_image(im, size=None, channels=3):
    """A loaded PIL image -> uint8 (C, H, W), converted and resized as :func:`load_image` says."""
    from PIL import Image
    im = to_8bit(im).convert("L" if channels == 1 else "RGB")
    if isinstance(size, (tuple, list)):
        im = im.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    elif size:
        w, h = im.size
        s = float(size) / min(w, h)
        im = im.resize((max(size, int(round(w * s))), max(size, int(round(h * s)))), Image.BILINEAR)
        w, h = im.size
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
    a = np.asarray(im, np.uint8)
    return a[None] if a.ndim == 2 else a.transpose(2, 0, 1).copy()


def _folder_listing(root, classes=None):
    """Files of an image-folder tree in a fixed order: (paths, labels, classes)."""
    if classes is None:
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise DataError("Image folder %s has no class sub-folders (expected root/<class>/*.jpg)" % root)
    paths, ys = [], []
    for label, c in enumerate(classes):
        d = os.path.join(root, c)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            # regular files only: a FIFO or device named x.png would block or never end
            if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(d, f)):
                paths.append(os.path.join(d, f)); ys.append(label)
    if not paths:
        raise DataError("Image folder %s has no .jpg/.jpeg/.png files in its class folders" % root)
    return paths, np.asarray(ys, np.int32), classes


def folder_files(root, test_fraction=0.2, seed=0):
    """The files of :func:`load_image_folder`'s splits without reading them:
    ``{"train": (paths, labels), "test": (paths, labels)}`` and the class names, in the order
    :func:`load_image_folder` stores them (a shard of a scan can name its files)."""
    if not os.path.isdir(root):
        raise DataNotFound("Image folder %s does not exist" % root)
    test_dir = next((os.path.join(root, s) for s in ("val", "test")
                     if os.path.isdir(os.path.join(root, s))), None)
    if os.path.isdir(os.path.join(root, "train")) and test_dir:
        p_tr, y_tr, classes = _folder_listing(os.path.join(root, "train"))
        p_te, y_te, _ = _folder_listing(test_dir, classes)
        return {"train": (p_tr, y_tr), "test": (p_te, y_te)}, classes
    paths, y, classes = _folder_listing(root)
    order = np.random.RandomState(seed).permutation(len(paths))
    n_te = int(round(len(paths) * test_fraction))
    if n_te < 1 or n_te >= len(paths):
        raise DataError("Image folder %s has %d image(s): too few to hold out %.0f%% for testing "
                        "(give it a train/ and a val/ folder, or more images)"
                        % (root, len(paths), 100 * test_fraction))
    te, tr = np.sort(order[:n_te]), np.sort(order[n_te:])
    pick = lambda idx: ([paths[i] for i in idx], y[idx])
    return {"train": pick(tr), "test": pick(te)}, classes


def load_files(paths, size=256, channels=3):
    """uint8 (N, C, H, W) of image files, each read as :func:`load_image` reads it."""
    return np.stack([load_image(p, size, channels) for p in paths])


GREY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
FOLDER_SIZE = 256  # the paper's short side, for folders of images of several sizes


def folder_format(paths, size="auto", channels="auto"):
    """How :func:`load_image_folder` reads ``paths``: ``(size, channels, found)``, from the
    files' headers (nothing is decoded). ``size`` "auto": the images' own (H, W) when they all
    share one, else :data:`FOLDER_SIZE` (short side, centre crop); ``channels`` "auto": 1 when
    every image is grey, else 3. ``found`` says in words what the files are."""
    sizes, grey = set(), 0
    for p in paths:
        im = open_image(p)
        with im:
            sizes.add((im.height, im.width))
            grey += im.mode in GREY_MODES
    n = len(paths)
    if size == "auto":
        size = next(iter(sizes)) if len(sizes) == 1 else FOLDER_SIZE
    if channels == "auto":
        channels = 1 if n and grey == n else 3
    kinds = "grey" if grey == n else ("colour" if grey == 0 else "%d grey and %d colour" % (grey, n - grey))
    dims = ("%dx%d" % next(iter(sizes))[::-1]) if len(sizes) == 1 else "%d different sizes" % len(sizes)
    return size, channels, "%d %s images of %s" % (n, kinds, dims)


def load_image_folder(root, size="auto", channels="auto", test_fraction=0.2, seed=0, log=None):
    """Load an image-folder tree into memory.

    ``root/<class>/*.jpg`` (split randomly, ``test_fraction`` held out) or
    ``root/train/<class>/...`` with ``root/val/<class>/...`` (or ``test/``).
    ``size``: "auto" (default) keeps the images' own size when they all share one; else the
    short side is resized to ``size`` (256 for "auto": the paper's, training then takes random
    224 crops) and the centre ``size`` x ``size`` kept. ``channels``: "auto" reads a folder of
    grey images as 1 channel and anything else as 3 (RGB); 1 or 3 converts. ``log`` (a
    function) is told what was found.
    """
    splits, classes = folder_files(root, test_fraction, seed)
    (p_tr, y_tr), (p_te, y_te) = splits["train"], splits["test"]
    size, channels, found = folder_format(p_tr + p_te, size, channels)
    if log is not None:
        shape = ("%dx%d" % (size[1], size[0])) if isinstance(size, tuple) else "%dx%d (short side, centre crop)" % (size, size)
        log("image folder %s: %s, read as %d channel(s) at %s" % (root, found, channels, shape))
    return Dataset(os.path.basename(os.path.normpath(root)), load_files(p_tr, size, channels), y_tr,
                   load_files(p_te, size, channels), y_te, classes)
