"""The dataset top-k: the compiled scan, the exact merge of partial scans, and the
``topk.npz`` file format, in one place (figures draw them, the explorer and the Dask scan use
them).

``scan_topk`` finds, for chosen feature maps, the ``k`` images of a set with the strongest
activation; ``merge_topk`` merges partial scans exactly (ties go to the smaller image index,
so any split of the set gives the same result); :class:`TopK` holds what ``zfnet topk`` found
and projected, and :meth:`TopK.save` / :meth:`TopK.load` are the only writer and reader of
``topk.npz``.
"""
from collections import OrderedDict

import numpy as np

from ..backend import lasagne, theano
from ..errors import DataError
from ..files import atomic_write_npz
from ..report import progress_bar

def layer_maxima_function(net, layers):
    """Compiled ``x -> [per-channel max (B, C), argmax position (B, C)]`` for each layer."""
    x = net["input"].input_var
    outs = lasagne.layers.get_output([net[l] for l in layers], deterministic=True)
    res = []
    for o in outs:
        flat = o.flatten(3)
        res += [flat.max(axis=2), flat.argmax(axis=2)]
    return theano.function([x], res)


def merge_topk(a, b, k):
    """Merge two partial top-k results of one layer (dicts of ``activations``, ``images`` and
    ``positions``, each (m, j)): the ``k`` largest activations per row, ties broken by the
    smaller image index. Exact: any split of the images into parts, scanned and merged in any
    order, gives the same result as one scan."""
    vals = np.concatenate([a["activations"], b["activations"]], axis=1)
    idx = np.concatenate([a["images"], b["images"]], axis=1)
    pos = np.concatenate([a["positions"], b["positions"]], axis=1)
    order = np.lexsort((idx, -vals), axis=1)[:, :k] if vals.shape[1] else np.zeros((len(vals), 0), int)
    take = lambda m: np.take_along_axis(m, order, 1)
    return dict(a, activations=take(vals), images=take(idx), positions=take(pos))


def scan_topk(model, x_u8, layers, channels, k=9, batch_size=256, progress=True, guard=None,
              on_batch=None, fn=None, offset=0):
    """For each layer and channel, the ``k`` images of ``x_u8`` (uint8 at the model's input
    size) with the strongest activation of that channel (ties: the smaller image index wins).

    ``guard``: a context manager held around each compiled call (the explorer's Theano lock,
    released between batches); ``on_batch(done, total)``: called after each batch; ``fn``: a
    compiled :func:`layer_maxima_function` of ``layers`` to reuse; ``offset``: added to the
    image indices (a shard of a larger set, :mod:`zfnet.cluster.scan`).
    Returns {layer: {"channels": (m,), "images": (m, k) indices, "activations": (m, k),
    "positions": (m, k) flat index y * W + x of the maximum in the map}}.
    """
    import contextlib
    guard = guard or contextlib.nullcontext()
    with guard:
        fn = fn or layer_maxima_function(model.net, layers)
    empty = lambda l: {"channels": np.asarray(channels[l]),
                       "activations": np.full((len(channels[l]), 0), -np.inf, np.float32),
                       "images": np.zeros((len(channels[l]), 0), np.int64),
                       "positions": np.zeros((len(channels[l]), 0), np.int64)}
    best = {l: empty(l) for l in layers}
    bar = progress_bar(progress, total=len(x_u8), desc="scan", unit="img", leave=False)
    for i in range(0, len(x_u8), batch_size):
        xb = model.preprocess(x_u8[i:i + batch_size])
        with guard:
            outs = fn(xb)
        for j, l in enumerate(layers):
            m = outs[2 * j][:, channels[l]].T  # (m, b)
            part = {"activations": m, "positions": outs[2 * j + 1][:, channels[l]].T.astype(np.int64),
                    "images": np.arange(offset + i, offset + i + len(xb))[None].repeat(len(m), 0)}
            best[l] = merge_topk(best[l], part, k)
        bar.update(len(xb))
        if on_batch is not None:
            on_batch(min(i + batch_size, len(x_u8)), len(x_u8))
    bar.close()
    return best


def topk_invariance(model, x_u8, found, layer, maps, changes, fn=None):
    """How much of each map's top-k activation survives small changes of its top-k images,
    unit by unit: for map ``m`` (a row of ``found[layer]`` from :func:`scan_topk` over
    ``x_u8``), the activation of the same unit (the map's strongest position on each of its top
    images) on the changed image, divided by its activation on the unchanged one (negative
    values count as 0), averaged over the k images and the changes. A unit whose receptive field
    still holds its pattern after the change keeps its activation; a map's maximum anywhere would
    not tell a small field from a large one. ``changes(x)`` returns a list of changed copies of
    uint8 images (e.g. :func:`zfnet.repro.analysis.small_changes`). The unchanged images are
    run again and must give the scan's own activations (a check that ``found`` belongs to
    ``x_u8`` and this model). Returns one ratio per map in ``maps``."""
    if fn is None:
        out = lasagne.layers.get_output(model.net[layer], deterministic=True)
        fn = theano.function([model.net["input"].input_var], out.flatten(3))
    r = found[layer]
    ratios = []
    for m in maps:
        imgs = x_u8[r["images"][m]]
        base = r["activations"][m]
        ch, pos = int(r["channels"][m]), np.asarray(r["positions"][m])
        units = [fn(model.preprocess(t))[np.arange(len(imgs)), ch, pos] for t in [imgs] + list(changes(imgs))]
        if not np.allclose(units[0], base, rtol=1e-4, atol=1e-5):
            raise DataError("%s map %d: its top images give %s at the scan's units, not the scan's %s: the "
                            "scan is not of these images or this model" % (layer, ch, units[0], base))
        ratios.append(float(np.mean([np.mean(np.maximum(a, 0) / np.maximum(base, 1e-12)) for a in units[1:]])))
    return ratios


class TopK(object):
    """What :func:`zfnet.vis.figures.topk` found and projected, per layer (``result[layer]``) a
    dict of ``channels`` (m,), ``images`` (m, k) indices into ``split`` of the dataset,
    ``activations`` (m, k), ``units`` (m, k, 3) and ``reconstructions`` (m, k, C, H, W);
    ``npz`` and ``pngs``: the files written (or read)."""

    KEYS = ("channels", "images", "activations", "units", "reconstructions")

    def __init__(self, layers, split, npz=None, pngs=()):
        self.layers, self.split, self.npz, self.pngs = layers, split, npz, list(pngs)

    def __getitem__(self, layer):
        return self.layers[layer]

    def __repr__(self):
        return "TopK(%s, split=%r, npz=%r)" % (", ".join(self.layers), self.split, self.npz)

    def save(self, path):
        """Write ``topk.npz``: ``<layer>.<key>`` arrays and ``split``, atomically."""
        arrays = OrderedDict()
        for l, r in self.layers.items():
            for key in self.KEYS:
                arrays[l + "." + key] = r[key]
        arrays["split"] = np.array(self.split)  # the images are indices into this split
        atomic_write_npz(path, arrays)
        self.npz = path
        return path

    @classmethod
    def load(cls, path):
        """Read a ``topk.npz`` written by :meth:`save` (pickles are never loaded)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError) as e:
            raise DataError("%s is not a topk.npz of `zfnet topk`: %s" % (path, e))
        split = str(arrays.pop("split")) if "split" in arrays else "test"
        layers = OrderedDict()
        for key in arrays:
            if key.endswith(".channels"):
                l = key[:-len(".channels")]
                layers[l] = {k: arrays[l + "." + k] for k in cls.KEYS if l + "." + k in arrays}
        return cls(layers, split, npz=path)

    def maps(self):
        """Yield ``(layer, channel, {"images", "activations", "reconstructions"})`` per map."""
        for l, r in self.layers.items():
            for m, ch in enumerate(r["channels"].tolist()):
                yield l, int(ch), {k: r[k][m] for k in ("images", "activations", "reconstructions") if k in r}
