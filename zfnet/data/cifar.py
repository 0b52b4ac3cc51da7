"""CIFAR-10/100 python batches (``data_batch_1..5``/``test_batch`` or ``train``/``test``)."""
import os
import pickle

import numpy as np

from ..errors import DataError
from .dataset import Dataset


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


