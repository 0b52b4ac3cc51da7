"""CIFAR-10/100 python batches (``data_batch_1..5``/``test_batch`` or ``train``/``test``).

The batches are Python pickles, and an ordinary ``pickle.load`` runs whatever code a
crafted file names. They are read with :class:`SafeUnpickler`, which builds only what
the format holds (dicts, lists, strings, bytes, numbers and numpy arrays of numbers)
and refuses every other global with a :class:`~zfnet.errors.DataError`.
"""
import os
import pickle

import numpy as np

from ..errors import DataError
from .dataset import Dataset


# The only globals a pickled CIFAR batch refers to: numpy's array reconstruction (protocols
# 2-5, numpy 1.x and 2.x names) and the codec Python 2 pickles use for byte strings.
SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that admits only :data:`SAFE_GLOBALS`; numpy arrays must hold numbers."""

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS:
            return super(SafeUnpickler, self).find_class(module, name)
        raise DataError("refusing to load %s.%s: a CIFAR batch holds only dicts, lists, strings, "
                        "numbers and numpy arrays" % (module, name))


def _check_plain(obj, path, depth=0):
    """Raise unless ``obj`` is made of dicts, lists, strings, bytes, numbers and numeric arrays."""
    if depth > 8:
        raise DataError("CIFAR batch %s is nested deeper than the format" % path)
    if isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, path, depth + 1); _check_plain(v, path, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            if not isinstance(v, (int, float, str, bytes)):
                _check_plain(v, path, depth + 1)
    elif isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise DataError("CIFAR batch %s holds an array of dtype %s; expected numbers" % (path, obj.dtype))
    elif not isinstance(obj, (int, float, str, bytes, np.generic, type(None))):
        raise DataError("CIFAR batch %s holds a %s; expected dicts, lists, strings, numbers, arrays"
                        % (path, type(obj).__name__))


def _unpickle(path):
    if not os.path.isfile(path):
        raise DataError("CIFAR batch %s does not exist (or is not a regular file)" % path)
    try:
        with open(path, "rb") as f:
            d = SafeUnpickler(f, encoding="latin1").load()
    except DataError as e:
        raise DataError("Cannot read CIFAR batch %s: %s" % (path, e))
    except Exception as e:
        raise DataError("Cannot read CIFAR batch %s: %s (expected a python pickle of a dict "
                        "with 'data' and 'labels' or 'fine_labels')" % (path, e))
    _check_plain(d, path)
    if not isinstance(d, dict):
        raise DataError("CIFAR batch %s holds a %s; expected a dict with 'data' and 'labels'"
                        % (path, type(d).__name__))
    return d


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


