"""Evaluate a checkpoint on a dataset split: loss, top-1 and top-5 error."""
import os

from . import checkpoint as ckpt
from . import data as datamod
from .backend import lasagne, theano


def logits_function(net):
    """Compiled ``x (B, C, H, W) -> logits (B, K)`` at the net's input size (deterministic)."""
    names = list(net)
    fc_last = [n for n in names if n not in ("prob",)][-1]
    out = lasagne.layers.get_output(net[fc_last], deterministic=True)
    return theano.function([net["input"].input_var], out.flatten(2))


def evaluate_net(net, doc, x, y, batch_size=256, progress=True, logits_fn=None, what="images"):
    """Loss, top-1 and top-5 error of a loaded network on uint8 images ``x`` (N, C, H, W)
    with labels ``y``, preprocessed as its checkpoint ``doc`` says (centre crop to the
    input size). Returns ``{'loss', 'top1', 'top5', 'images'}``.

    ``logits_fn``: the compiled :func:`logits_function` of ``net``, to reuse it across calls;
    ``what`` names the images in a channel-mismatch error.
    """
    from tqdm import tqdm
    from .train import evaluate_logits
    in_shape = doc["config"]["input_shape"]
    datamod.check_channels(x.shape, in_shape, what)
    pre = doc["preprocessing"]
    bar = tqdm(total=len(x), desc="evaluate", unit="img", disable=not progress, leave=False)
    loss, top1, top5 = evaluate_logits(logits_fn or logits_function(net), x, y, pre["mean"], pre["std"],
                                       tuple(in_shape[1:]), batch_size, progress=bar)
    bar.close()
    return {"images": int(len(x)), "loss": loss, "top1": top1, "top5": top5}


def evaluate_checkpoint(path, dataset=None, split="test", limit=None, batch_size=256,
                        progress=True):
    """Return ``{'loss', 'top1', 'top5', 'images', 'split', 'dataset'}`` of a checkpoint.

    ``dataset``: a :class:`zfnet.data.Dataset`, a name/path, or None for the
    dataset recorded in the checkpoint.
    """
    net, doc = ckpt.load_model(path)
    if dataset is None or isinstance(dataset, str):
        dataset = datamod.load_dataset(dataset or doc.get("dataset", "fashion-mnist"))
    if split not in ("train", "test"):
        raise ValueError("split %r: expected 'train' or 'test'" % (split,))
    x, y = (dataset.x_test, dataset.y_test) if split == "test" else (dataset.x_train, dataset.y_train)
    if limit:
        x, y = x[:limit], y[:limit]
    res = evaluate_net(net, doc, x, y, batch_size, progress, what="%s images" % dataset.name)
    return {"dataset": dataset.name, "split": split, "images": res["images"], "loss": res["loss"],
            "top1": res["top1"], "top5": res["top5"], "checkpoint": os.path.abspath(path)}


def predict_files(checkpoint, paths, top=5):
    """Top-``top`` classes of each image file (resized like ``visualize``: short side to the
    input size, centre crop). Returns ``[{'image', 'top': [{'class', 'index', 'probability'}]}]``."""
    from .analysis import softmax, top_classes
    from .visualize import load_images, preprocess
    net, doc = ckpt.load_model(checkpoint)
    x = load_images(paths, doc)
    f = logits_function(net)
    names = doc.get("class_names") or [str(i) for i in range(doc["config"]["num_classes"])]
    # one image at a time, so any number of files fits in memory
    return [{"image": path, "top": top_classes(softmax(f(preprocess(x[i:i + 1], doc)))[0], names, top)}
            for i, path in enumerate(paths)]
