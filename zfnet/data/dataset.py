"""The in-memory dataset and its per-batch preprocessing.

Images are kept as ``uint8`` arrays ``(N, C, H, W)``; labels ``int32``.
Preprocessing (per-channel mean/std, crops, flips) is applied per batch.
``DATA_DIR`` is where datasets are fetched to: ``$ZFNET_DATA``; else, in a clone of
the repository, its ``data/`` folder; else (an installed package) the user's data
directory, ``$XDG_DATA_HOME/zfnet`` or ``~/.local/share/zfnet``. No Theano here.
"""
import os

import numpy as np

from ..errors import DataError

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_data_dir():
    """``$ZFNET_DATA``, else the clone's ``data/`` (recognised by its README next to the
    package), else ``$XDG_DATA_HOME/zfnet`` (``~/.local/share/zfnet``)."""
    if os.environ.get("ZFNET_DATA"):
        return os.environ["ZFNET_DATA"]
    if os.path.isfile(os.path.join(REPO_DIR, "data", "README.md")) and \
            os.path.isdir(os.path.join(REPO_DIR, "zfnet")):
        return os.path.join(REPO_DIR, "data")
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "zfnet")


DATA_DIR = default_data_dir()


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



def channel_stats(x, max_images=10000):
    """Per-channel mean and std (floats, in pixel units 0-255) of uint8 images (N, C, H, W):
    of all of them, or of ``max_images`` spread evenly over the set (a set stored class by
    class, such as Tiny ImageNet, is not summarised by its first classes)."""
    if len(x) > max_images:
        x = x[np.linspace(0, len(x) - 1, max_images).astype(np.int64)]
    x = np.asarray(x, np.float64)
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
