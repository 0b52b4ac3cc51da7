"""Run a network forward: logits, features, class probabilities, loss and error rates.

Compiled helpers (:func:`logits_function`, :func:`features_function`), numpy
post-processing (:func:`softmax`, :func:`top_classes`, :func:`evaluate_logits`) and
the evaluation of a checkpoint on a dataset split (``python -m zfnet evaluate``).
"""
import os

import numpy as np
from scipy.special import log_softmax

from .io.checkpoint import load_model
from .data import dataset_for
from .data.dataset import check_channels, crop_batch, normalize
from .errors import UsageError
from .report import progress_bar
from .backend import lasagne, theano


def logits_function(net):
    """Compiled ``x (B, C, H, W) -> logits (B, K)`` at the net's input size (deterministic)."""
    names = list(net)
    fc_last = [n for n in names if n not in ("prob",)][-1]
    out = lasagne.layers.get_output(net[fc_last], deterministic=True)
    return theano.function([net["input"].input_var], out.flatten(2))


def features_function(net, layers):
    """Compiled ``x -> [layer output flattened to (B, D)]`` for ``layers`` (deterministic)."""
    unknown = [l for l in layers if l not in net]
    if unknown:
        raise UsageError("Unknown layer(s) %s: the network has %s" % (unknown, ", ".join(net)))
    outs = lasagne.layers.get_output([net[l] for l in layers], deterministic=True)
    return theano.function([net["input"].input_var], [o.flatten(2) for o in outs])


def batched(fn, x, batch_size=256, prepare=None):
    """Apply a compiled multi-output ``fn`` to ``x`` in batches; concatenate each output."""
    parts = None
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        out = fn(prepare(xb) if prepare else xb)
        out = out if isinstance(out, (list, tuple)) else [out]
        if parts is None:
            parts = [[] for _ in out]
        for p, o in zip(parts, out):
            p.append(np.asarray(o))
    return [np.concatenate(p) for p in parts]


def softmax(logits):
    """Class probabilities of logits (N, K), in float64 (scipy's, shifted by the maximum)."""
    from scipy.special import softmax as _softmax
    return _softmax(np.asarray(logits, np.float64), axis=1)


def top_classes(p, class_names, k=5):
    """The ``k`` most probable classes of one probability vector ``p``, highest first, as
    ``[{'class', 'index', 'probability'}]`` (ties keep index order)."""
    order = np.argsort(-np.asarray(p), kind="stable")[:max(1, min(int(k), len(p)))]
    return [{"class": class_names[i], "index": int(i), "probability": float(p[i])} for i in order]


def evaluate_logits(logits_fn, x, y, mean, std, in_hw, batch_size=256, progress=None):
    """Loss, top-1 and top-5 error (fractions) of a logits function on (x, y)."""
    n = len(x)
    losses, top1, top5 = 0.0, 0, 0
    for i in range(0, n, batch_size):
        xb = normalize(crop_batch(x[i:i + batch_size], in_hw), mean, std)
        lg = logits_fn(xb).astype(np.float64)
        yb = y[i:i + batch_size]
        lg -= lg.max(axis=1, keepdims=True)
        logp = log_softmax(lg, axis=1)
        losses += -logp[np.arange(len(yb)), yb].sum()
        rank = (lg > lg[np.arange(len(yb)), yb][:, None]).sum(axis=1)
        top1 += int((rank >= 1).sum()); top5 += int((rank >= 5).sum())
        if progress is not None:
            progress.update(len(yb))
    return losses / max(n, 1), top1 / float(max(n, 1)), top5 / float(max(n, 1))


def evaluate_net(model, x, y, batch_size=256, progress=True, logits_fn=None, what="images"):
    """Loss, top-1 and top-5 error of a loaded :class:`~zfnet.io.checkpoint.Model` on uint8
    images ``x`` (N, C, H, W) with labels ``y``, preprocessed as the model says (centre
    crop to the input size). Returns ``{'loss', 'top1', 'top5', 'images'}``.

    ``logits_fn``: the compiled :func:`logits_function` of ``model.net``, to reuse it across
    calls; ``what`` names the images in a channel-mismatch error.
    """
    check_channels(x.shape, model.input_shape, what)
    pre = model.preprocessing
    bar = progress_bar(progress, total=len(x), desc="evaluate", unit="img", leave=False)
    loss, top1, top5 = evaluate_logits(logits_fn or logits_function(model.net), x, y, pre["mean"],
                                       pre["std"], model.input_shape[1:], batch_size, progress=bar)
    bar.close()
    return {"images": int(len(x)), "loss": loss, "top1": top1, "top5": top5}


def evaluate_checkpoint(path, dataset=None, split="test", limit=None, batch_size=256,
                        progress=True):
    """Return ``{'loss', 'top1', 'top5', 'images', 'split', 'dataset'}`` of a checkpoint.

    ``dataset``: a :class:`zfnet.data.dataset.Dataset`, a name/path, or None for the
    dataset recorded in the checkpoint.
    """
    model = load_model(path)
    dataset = dataset_for(model, dataset, "evaluate")
    if split not in ("train", "test"):
        raise UsageError("split %r: expected 'train' or 'test'" % (split,))
    x, y = (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)
    if limit:
        x, y = x[:limit], y[:limit]
    res = evaluate_net(model, x, y, batch_size, progress, what="%s images" % dataset.name)
    return {"dataset": dataset.name, "split": split, "images": res["images"], "loss": res["loss"],
            "top1": res["top1"], "top5": res["top5"], "checkpoint": os.path.abspath(path)}


def predict_files(checkpoint, paths, top=5):
    """Top-``top`` classes of each image file (resized like ``visualize``: short side to the
    input size, centre crop). Returns ``[{'image', 'top': [{'class', 'index', 'probability'}]}]``."""
    model = load_model(checkpoint)
    x = model.load_images(paths)
    f = logits_function(model.net)
    # one image at a time, so any number of files fits in memory
    return [{"image": path, "top": top_classes(softmax(f(model.preprocess(x[i])))[0], model.classes, top)}
            for i, path in enumerate(paths)]


def dataset_features(checkpoint, layers, dataset=None, split="test", limit=None):
    """The features of ``layers`` for a dataset split (the first ``limit`` images), each image
    centre-cropped to the model's input and preprocessed as the checkpoint says: returns
    ``(list of arrays (N, C, H, W) per layer, labels (N,))``. ``dataset``: a name, folder or
    :class:`~zfnet.data.dataset.Dataset`, default the one the checkpoint names."""
    from .data import dataset_for
    from .data.dataset import crop_batch
    from .io.checkpoint import load_model
    model = checkpoint if hasattr(checkpoint, "net") else load_model(checkpoint)
    ds = dataset_for(model, dataset, "features")
    x, labels = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
    x, labels = (x[:limit], labels[:limit]) if limit else (x, labels)
    x = crop_batch(x, model.input_shape[1:])
    return batched(features_function(model.net, layers), x, prepare=model.preprocess), labels

