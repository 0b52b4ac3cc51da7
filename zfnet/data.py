"""Datasets: obtain, verify, read, preprocess.

* Fashion-MNIST (the default): obtained without network from Debian's
  ``dataset-fashion-mnist`` package (``apt-get download`` + ``dpkg-deb -x``, no
  root needed) into ``data/fashion-mnist/``, checked (counts and SHA-256 of the
  decompressed IDX files), read from the gzipped IDX files.
* CIFAR-10/100 python pickle batches (``data_batch_1..5``/``test_batch`` or
  ``train``/``test``) and image-folder trees (one sub-folder per class, JPEG or
  PNG; the ImageNet layout, optionally with ``train/`` and ``val/`` splits).

Images are kept as ``uint8`` arrays ``(N, C, H, W)``; labels ``int32``.
Preprocessing (per-channel mean/std, crops, flips) is applied per batch.
No Theano here.
"""
import gzip
import hashlib
import os
import pickle
import shutil
import struct
import subprocess
import tempfile

import numpy as np

REPO_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.environ.get("ZFNET_DATA", os.path.join(REPO_DIR, "data"))

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# SHA-256 of the *decompressed* IDX files (stable whatever gzip produced them)
# and the number of items in each.
FASHION_FILES = {
    "train-images-idx3-ubyte.gz": ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 60000),
    "train-labels-idx1-ubyte.gz": ("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60000),
    "t10k-images-idx3-ubyte.gz": ("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 10000),
    "t10k-labels-idx1-ubyte.gz": ("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10000),
}
DEBIAN_PACKAGE = "dataset-fashion-mnist"
DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
FETCH_COMMAND = "python -m zfnet data fetch fashion-mnist"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")


class DataError(ValueError):
    """A dataset file is missing, truncated or not in the expected format."""


class Dataset(object):
    """Images and labels of one dataset, split into train and test.

    Attributes
    ----------
    x_train, x_test : uint8 arrays (N, C, H, W)
    y_train, y_test : int32 arrays (N,)
    class_names : list of str
    name : str
    """

    def __init__(self, name, x_train, y_train, x_test, y_test, class_names):
        self.name = name
        self.x_train, self.y_train = x_train, np.asarray(y_train, np.int32)
        self.x_test, self.y_test = x_test, np.asarray(y_test, np.int32)
        self.class_names = list(class_names)
        for split, x, y in (("train", x_train, self.y_train), ("test", x_test, self.y_test)):
            if x.ndim != 4 or len(x) != len(y):
                raise DataError("%s %s split: images %r and labels %r do not match "
                                "(expected (N, C, H, W) and (N,))" % (name, split, x.shape, y.shape))

    @property
    def image_shape(self):
        """(C, H, W) of the stored images."""
        return tuple(self.x_train.shape[1:])

    def limit(self, n):
        """A copy with at most ``n`` train and ``n`` test images (the first ones)."""
        if not n:
            return self
        return Dataset(self.name, self.x_train[:n], self.y_train[:n],
                       self.x_test[:n], self.y_test[:n], self.class_names)

    def split_validation(self, n_val, seed=0):
        """Return (train_x, train_y, val_x, val_y): a fixed random ``n_val`` of train held out."""
        n_val = int(n_val)
        if not 0 <= n_val < len(self.x_train):
            raise DataError("validation size %d must be in [0, %d)" % (n_val, len(self.x_train)))
        order = np.random.RandomState(seed).permutation(len(self.x_train))
        val, tr = order[:n_val], np.sort(order[n_val:])
        val = np.sort(val)
        return self.x_train[tr], self.y_train[tr], self.x_train[val], self.y_train[val]

    def __repr__(self):
        return "Dataset(%r, train=%d, test=%d, image=%r, classes=%d)" % (
            self.name, len(self.x_train), len(self.x_test), self.image_shape, len(self.class_names))


# --------------------------------------------------------------------- IDX
def read_idx(path):
    """Read an IDX file (gzipped or not) into a numpy array.

    Raises DataError naming the file for a missing file, a wrong magic number
    or a file shorter than its header says.
    """
    if not os.path.exists(path):
        raise DataError("IDX file %s does not exist" % path)
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise DataError("Cannot read IDX file %s: %s (truncated or not gzip?)" % (path, e))
    if len(raw) < 4:
        raise DataError("IDX file %s is %d bytes long; an IDX header is at least 4" % (path, len(raw)))
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    dtypes = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if zero != 0 or dtype_code not in dtypes or not 1 <= ndim <= 4:
        raise DataError("%s is not an IDX file: magic number 0x%08x (expected 0x0000080%d "
                        "style: two zero bytes, a type code in %s, 1-4 dimensions)"
                        % (path, struct.unpack(">I", raw[:4])[0], 3, sorted(hex(k) for k in dtypes)))
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError("IDX file %s is truncated inside its header" % path)
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(dtypes[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header < expected:
        raise DataError("IDX file %s is truncated: header says shape %r (%d bytes of data), "
                        "the file has %d" % (path, shape, expected, len(raw) - header))
    return np.frombuffer(raw, dtype, int(np.prod(shape)), header).reshape(shape).astype(
        dtype.newbyteorder("="))


def _sha256_gz(path):
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_fashion_mnist(root):
    """Check the four files: present, decompressed SHA-256 as published. Raises DataError."""
    for fname, (sha, count) in FASHION_FILES.items():
        path = os.path.join(root, fname)
        if not os.path.exists(path):
            raise DataError("Fashion-MNIST file %s is missing. Fetch the dataset with:\n  %s"
                            % (path, FETCH_COMMAND))
        try:
            got = _sha256_gz(path)
        except (OSError, EOFError) as e:
            raise DataError("Fashion-MNIST file %s is unreadable (%s); delete it and run:\n  %s"
                            % (path, e, FETCH_COMMAND))
        if got != sha:
            raise DataError("Fashion-MNIST file %s has SHA-256 %s of its content, expected %s; "
                            "delete it and run:\n  %s" % (path, got, sha, FETCH_COMMAND))


def fetch_fashion_mnist(root=None, verbose=True):
    """Obtain Fashion-MNIST without network access, into ``root`` (``data/fashion-mnist``).

    Uses the installed Debian package if present (``/usr/share/datasets/``),
    else downloads the package with ``apt-get download`` (no root needed) and
    unpacks it with ``dpkg-deb -x``. Verifies checksums. Returns ``root``.
    """
    root = root or os.path.join(DATA_DIR, "fashion-mnist")
    try:
        verify_fashion_mnist(root)
        if verbose:
            print("Fashion-MNIST already present and verified in %s" % root)
        return root
    except DataError:
        pass
    os.makedirs(root, exist_ok=True)
    src = DEBIAN_DIR if all(os.path.exists(os.path.join(DEBIAN_DIR, f)) for f in FASHION_FILES) else None
    with tempfile.TemporaryDirectory() as tmp:
        if src is None:
            if verbose:
                print("Downloading Debian package %s with apt-get download ..." % DEBIAN_PACKAGE)
            try:
                subprocess.run(["apt-get", "download", DEBIAN_PACKAGE], cwd=tmp, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
                subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]),
                                os.path.join(tmp, "x")], check=True)
            except (OSError, subprocess.CalledProcessError, IndexError) as e:
                raise DataError(
                    "Could not obtain Fashion-MNIST from Debian's %s package (%s). Either "
                    "`apt-get install %s` or copy the four *-ubyte.gz files into %s."
                    % (DEBIAN_PACKAGE, getattr(e, "stderr", None) or e, DEBIAN_PACKAGE, root))
            src = os.path.join(tmp, "x" + DEBIAN_DIR)
        for fname in FASHION_FILES:
            part = os.path.join(root, fname + ".part")
            shutil.copyfile(os.path.join(src, fname), part)
            os.replace(part, os.path.join(root, fname))
    verify_fashion_mnist(root)
    if verbose:
        print("Fashion-MNIST (60,000 train + 10,000 test) verified in %s" % root)
    return root


def load_fashion_mnist(root=None):
    """Load Fashion-MNIST as a :class:`Dataset` of (N, 1, 28, 28) uint8 images."""
    root = root or os.path.join(DATA_DIR, "fashion-mnist")
    missing = [f for f in FASHION_FILES if not os.path.exists(os.path.join(root, f))]
    if missing:
        raise DataError("Fashion-MNIST not found in %s (missing %s). Fetch it with:\n  %s"
                        % (root, ", ".join(missing), FETCH_COMMAND))
    arrays = {}
    for fname, (_, count) in FASHION_FILES.items():
        a = read_idx(os.path.join(root, fname))
        if len(a) != count:
            raise DataError("%s has %d items, expected %d" % (os.path.join(root, fname), len(a), count))
        arrays[fname.split("-")[0] + "-" + fname.split("-")[1]] = a
    x_tr = arrays["train-images"][:, None]
    x_te = arrays["t10k-images"][:, None]
    return Dataset("fashion-mnist", x_tr, arrays["train-labels"], x_te, arrays["t10k-labels"],
                   FASHION_CLASSES)


# ------------------------------------------------------------------- CIFAR
def _unpickle(path):
    if not os.path.exists(path):
        raise DataError("CIFAR batch %s does not exist" % path)
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except Exception as e:
        raise DataError("Cannot read CIFAR batch %s: %s (expected a python pickle of a dict "
                        "with 'data' and 'labels' or 'fine_labels')" % (path, e))


def _cifar_arrays(path):
    d = _unpickle(path)
    labels = d.get("labels", d.get("fine_labels"))
    if "data" not in d or labels is None:
        raise DataError("CIFAR batch %s has keys %s; expected 'data' and 'labels' "
                        "(CIFAR-10) or 'fine_labels' (CIFAR-100)" % (path, sorted(d)))
    data = np.asarray(d["data"], np.uint8)
    if data.ndim != 2 or data.shape[1] != 3072:
        raise DataError("CIFAR batch %s: data has shape %r, expected (N, 3072)" % (path, data.shape))
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, np.int32)


def load_cifar(root):
    """Load CIFAR-10 (``data_batch_1..5``, ``test_batch``, ``batches.meta``) or
    CIFAR-100 (``train``, ``test``, ``meta``) python batches from ``root``."""
    if os.path.exists(os.path.join(root, "data_batch_1")):
        parts = [_cifar_arrays(os.path.join(root, "data_batch_%d" % i)) for i in range(1, 6)
                 if os.path.exists(os.path.join(root, "data_batch_%d" % i))]
        x_tr = np.concatenate([p[0] for p in parts]); y_tr = np.concatenate([p[1] for p in parts])
        x_te, y_te = _cifar_arrays(os.path.join(root, "test_batch"))
        meta = os.path.join(root, "batches.meta")
        names = _unpickle(meta)["label_names"] if os.path.exists(meta) else [str(i) for i in range(10)]
        return Dataset("cifar10", x_tr, y_tr, x_te, y_te, names)
    if os.path.exists(os.path.join(root, "train")) and os.path.isfile(os.path.join(root, "train")):
        x_tr, y_tr = _cifar_arrays(os.path.join(root, "train"))
        x_te, y_te = _cifar_arrays(os.path.join(root, "test"))
        meta = os.path.join(root, "meta")
        names = (_unpickle(meta)["fine_label_names"] if os.path.exists(meta)
                 else [str(i) for i in range(100)])
        return Dataset("cifar100", x_tr, y_tr, x_te, y_te, names)
    raise DataError("%s holds no CIFAR python batches: expected data_batch_1..5 and test_batch "
                    "(CIFAR-10) or train and test (CIFAR-100)" % root)


# ------------------------------------------------------------ image folders
def load_image(path, size=None, channels=3):
    """Read one image as uint8 (C, H, W).

    ``size``: None (as stored), an int (short side resized to it, then centre
    crop to ``size`` x ``size``, the paper's 256 preprocessing) or (H, W)
    (plain resize). ``channels``: 1 (grey) or 3 (RGB).
    """
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.load()
            return fit_image(im, size, channels)
    except (OSError, ValueError, SyntaxError) as e:
        raise DataError("Cannot read image %s: %s (expected a PNG or JPEG file)" % (path, e))


def fit_image(im, size=None, channels=3):
    """A loaded PIL image -> uint8 (C, H, W), converted and resized as :func:`load_image` says."""
    from PIL import Image
    im = im.convert("L" if channels == 1 else "RGB")
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


def _folder_split(root, size, channels, classes=None):
    if classes is None:
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not classes:
        raise DataError("Image folder %s has no class sub-folders (expected root/<class>/*.jpg)" % root)
    xs, ys = [], []
    for label, c in enumerate(classes):
        d = os.path.join(root, c)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.lower().endswith(IMAGE_EXTENSIONS):
                xs.append(load_image(os.path.join(d, f), size, channels)); ys.append(label)
    if not xs:
        raise DataError("Image folder %s has no .jpg/.jpeg/.png files in its class folders" % root)
    return np.stack(xs), np.asarray(ys, np.int32), classes


def load_image_folder(root, size=256, channels=3, test_fraction=0.2, seed=0):
    """Load an image-folder tree into memory.

    ``root/<class>/*.jpg`` (split randomly, ``test_fraction`` held out) or
    ``root/train/<class>/...`` with ``root/val/<class>/...`` (or ``test/``).
    Images are resized so the short side is ``size`` and centre-cropped to
    ``size`` x ``size`` (the paper: 256; training then takes random 224 crops).
    """
    if not os.path.isdir(root):
        raise DataError("Image folder %s does not exist" % root)
    test_dir = next((os.path.join(root, s) for s in ("val", "test")
                     if os.path.isdir(os.path.join(root, s))), None)
    if os.path.isdir(os.path.join(root, "train")) and test_dir:
        x_tr, y_tr, classes = _folder_split(os.path.join(root, "train"), size, channels)
        x_te, y_te, _ = _folder_split(test_dir, size, channels, classes)
    else:
        x, y, classes = _folder_split(root, size, channels)
        order = np.random.RandomState(seed).permutation(len(x))
        n_te = int(round(len(x) * test_fraction))
        te, tr = np.sort(order[:n_te]), np.sort(order[n_te:])
        x_tr, y_tr, x_te, y_te = x[tr], y[tr], x[te], y[te]
    return Dataset(os.path.basename(os.path.normpath(root)), x_tr, y_tr, x_te, y_te, classes)


def load_dataset(name):
    """``fashion-mnist``, ``imagenet-photos`` (foolbox's 20 labelled ImageNet validation photos,
    test split only; ``data fetch photos``), or a path: a CIFAR batch folder or an image-folder tree."""
    if name in ("fashion-mnist", "fashion_mnist", "fmnist"):
        return load_fashion_mnist()
    if name == "imagenet-photos":
        from .photos import load_imagenet_photos
        return load_imagenet_photos()
    if os.path.isdir(name):
        if any(os.path.exists(os.path.join(name, f)) for f in ("data_batch_1", "test_batch")) \
                or os.path.isfile(os.path.join(name, "train")):
            return load_cifar(name)
        return load_image_folder(name)
    raise DataError("Unknown dataset %r: expected 'fashion-mnist', 'imagenet-photos' or a folder with CIFAR "
                    "python batches or one sub-folder of images per class" % (name,))


# ----------------------------------------------------------- preprocessing
def channel_stats(x, max_images=10000):
    """Per-channel mean and std (floats, in pixel units 0-255) of uint8 images (N, C, H, W)."""
    x = x[:max_images].astype(np.float64)
    return x.mean(axis=(0, 2, 3)).tolist(), x.std(axis=(0, 2, 3)).tolist()


def normalize(x, mean, std):
    """(x - mean) / std per channel, as float32. x: (N, C, H, W)."""
    mean = np.asarray(mean, np.float32)[None, :, None, None]
    std = np.asarray(std, np.float32)[None, :, None, None]
    return (np.asarray(x, np.float32) - mean) / std


def check_channels(x_shape, model_shape, what="images"):
    """Raise DataError if image channels differ from the model's input channels."""
    if x_shape[1] != model_shape[0]:
        raise DataError("%s have %d channel(s) (shape %r) but the model takes %d-channel input "
                        "(input shape %r); choose a configuration for %d-channel images"
                        % (what, x_shape[1], tuple(x_shape), model_shape[0], tuple(model_shape),
                           x_shape[1]))


def crop_batch(x, out_hw, rng=None, pad=0, flip=False):
    """Crop a batch (N, C, H, W) to ``out_hw``.

    With ``rng``: a random crop per image (after zero-padding by ``pad``) and,
    if ``flip``, a random horizontal flip; without: the centre crop.
    """
    oh, ow = out_hw
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, _, h, w = x.shape
    if h < oh or w < ow:
        raise DataError("images of %dx%d cannot be cropped to %dx%d" % (h, w, oh, ow))
    if rng is None:
        t, l = (h - oh) // 2, (w - ow) // 2
        return x[:, :, t:t + oh, l:l + ow]
    out = np.empty(x.shape[:2] + (oh, ow), x.dtype)
    tops = rng.randint(0, h - oh + 1, n); lefts = rng.randint(0, w - ow + 1, n)
    flips = rng.rand(n) < 0.5 if flip else np.zeros(n, bool)
    for i in range(n):
        c = x[i, :, tops[i]:tops[i] + oh, lefts[i]:lefts[i] + ow]
        out[i] = c[:, :, ::-1] if flips[i] else c
    return out
