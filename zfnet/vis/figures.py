"""Deconvnet figures from a checkpoint: per-image projections and dataset top-9 grids.

``visualize``: for each image, the top-k feature maps of each chosen layer,
projected to pixel space, each next to the input patch its unit sees; written
as PNG grids and as raw arrays (``projections.npz``).

``topk``: scan a dataset split for the 9 strongest activations of chosen
feature maps (the paper's Fig. 2), project each, and draw projections next to
their image patches.
"""
import os
from collections import OrderedDict

import numpy as np

from ..backend import lasagne, theano
from ..data import dataset_for
from ..data.dataset import check_channels, crop_batch
from ..errors import UsageError
from ..files import atomic_write_npz
from ..io.checkpoint import Model, load_model
from . import render
from .deconv import Projector
from .smoothgrad import for_method
# the dataset scan, its merge and the topk.npz format live in zfnet.vis.topk (imported here too)
from .topk import TopK, layer_maxima_function, merge_topk, scan_topk  # noqa: F401
from ..report import info, progress_bar


def as_model(checkpoint):
    """A :class:`~zfnet.io.checkpoint.Model` as it is, or the checkpoint folder loaded."""
    return checkpoint if isinstance(checkpoint, Model) else load_model(checkpoint)


def _pair_figure(image_u8, proj, preprocessing, scale="common", method="deconvnet"):
    """One labelled row per unit of one image's :class:`Projection` (layer, channel, position,
    activation): the input patch its unit sees (its receptive field), the projection in that
    patch, and the whole projection; small inputs enlarged by whole pixels."""
    rows, labels = [], []
    for j in range(proj.units.shape[0]):
        t, l, b, r = proj.boxes[j]
        c, y, x = proj.units[j]
        p = render.projection_panels(image_u8, proj.reconstructions[j], proj.boxes[j], preprocessing, scale)
        rows.append([p["patch"], p["projection_patch"], p["projection"]])
        labels.append("%s  channel %d  at (%d, %d)  activation %.3g  patch %dx%d"
                      % (proj.layer, c, y, x, proj.activations[j], b - t, r - l))
    h = image_u8.shape[-2]
    cell = 112 if h <= 32 else 160
    return render.labelled_grid(rows, labels, ["input patch", "projection (patch)", "projection (whole)"],
                                cell=cell, title="%s: top %d feature maps, %s" % (proj.layer, len(rows), method))


def out_dir(path):
    """Make the output folder ``path`` (an existing file there is an error, not replaced)."""
    if os.path.lexists(path) and not os.path.isdir(path):
        raise UsageError("--out %s is a file: give a folder for the PNGs and arrays" % path)
    os.makedirs(path, exist_ok=True)
    return path


def write_projections(out, stem, model, image_u8, results, scale="common", method="deconvnet"):
    """Write ``<stem>_<layer>.png`` grids and ``projections.npz`` for one image's results."""
    out_dir(out)
    arrays, pngs = OrderedDict(), []
    for layer, proj in results.items():
        arrays[layer + ".reconstructions"] = proj.reconstructions.astype(np.float32)
        arrays[layer + ".units"] = proj.units.astype(np.int64)
        arrays[layer + ".activations"] = proj.activations.astype(np.float32)
        path = os.path.join(out, "%s_%s.png" % (stem, layer))
        render.save_png(_pair_figure(image_u8, proj, model.preprocessing, scale, method), path)
        pngs.append(path)
    npz = os.path.join(out, "projections.npz")
    atomic_write_npz(npz, arrays)
    return npz, pngs


def visualize(checkpoint, images, layers, out, top=9, method="deconvnet", mode="max",
              rank="max", channels=None, scale="common", log=info, projector=None,
              smooth_samples=16, smooth_noise=0.15, progress=True):
    """Project the top feature maps of ``layers`` for each image file; write PNGs and npz.

    One image: ``out/projections.npz`` and ``out/<stem>_<layer>.png``. Several:
    ``out/<stem>/...`` for each. Returns the list of written npz paths.
    """
    model = as_model(checkpoint)
    proj = for_method(projector or Projector(model.net, architecture=model.config), method, smooth_samples,
                      smooth_noise)
    x_u8 = model.load_images(images)  # inputs are checked before the output folder is made
    layers = [layers] if isinstance(layers, str) else list(layers)
    valid = proj.projectable_layers()
    for l in layers:
        if l not in valid:
            raise UsageError("Cannot project layer %r: projectable layers are %s" % (l, ", ".join(valid)))
    out_dir(out)
    x = model.preprocess(x_u8)
    written = []
    for i in progress_bar(progress and len(images) > 1, iterable=range(len(images)), desc="visualize", unit="img"):
        res = proj.project(x[i:i + 1], layers, top=top, mode=mode, rank=rank, channels=channels,
                           method=method)
        res = OrderedDict((n, p[0]) for n, p in res.items())
        stem = os.path.splitext(os.path.basename(images[i]))[0]
        d = out if len(images) == 1 else os.path.join(out, stem)
        npz, pngs = write_projections(d, stem, model, x_u8[i], res, scale, method)
        written.append(npz)
        log("%s: %s" % (images[i], ", ".join([npz] + pngs)))
    return written


# ------------------------------------------------------------------- top-k
def topk(checkpoint, layers, out, dataset=None, split="test", maps=8, channels=None, k=9,
         method="deconvnet", limit=None, seed=0, progress=True, log=info, smooth_samples=16,
         smooth_noise=0.15, scan=None):
    """The paper's Fig. 2 for ``layers``: top-``k`` dataset activations of ``maps`` feature
    maps each (random ones unless ``channels``), projected, next to their patches.

    ``checkpoint``: a folder or a loaded :class:`~zfnet.io.checkpoint.Model`; ``dataset``:
    a :class:`~zfnet.data.dataset.Dataset`, a name or folder, or None for the one the
    checkpoint names.
    ``scan``: a function ``(model, x, layers, channels, k, split, limit, progress) -> found`` to
    scan with instead of :func:`scan_topk` in this process (:func:`zfnet.cluster.scan.cluster_scanner`
    spreads the scan over a Dask cluster, with the same result). Writes ``out/topk_<layer>.png`` and ``out/topk.npz``;
    returns a :class:`TopK`.
    """
    if int(k) < 1 or int(maps) < 1:
        raise UsageError("topk needs k >= 1 images and maps >= 1 feature maps per layer; got k=%r, "
                         "maps=%r" % (k, maps))
    model = as_model(checkpoint)
    net = model.net
    ds = dataset_for(model, dataset, "topk")
    x = ds.x_test if split == "test" else ds.x_train
    if limit:
        x = x[:limit]
    c, h, w = model.input_shape
    check_channels(x.shape, model.input_shape, "%s images" % ds.name)
    if int(k) > len(x):
        raise UsageError("topk --top %d: the %s split scanned has %d image(s)%s; choose --top of at "
                         "most %d" % (k, split, len(x), " (--limit %d)" % limit if limit else "", len(x)))
    x = crop_batch(x, (h, w))
    layers = [layers] if isinstance(layers, str) else list(layers)
    proj = for_method(Projector(net, architecture=model.config), method, smooth_samples, smooth_noise)
    valid = proj.projectable_layers()
    rng = np.random.RandomState(seed)
    chans = {}
    for l in layers:
        if l not in valid:
            raise UsageError("Cannot project layer %r: projectable layers are %s" % (l, ", ".join(valid)))
        n = net[l].output_shape[1]
        chans[l] = list(channels) if channels else sorted(rng.choice(n, min(maps, n), replace=False).tolist())
        bad = [ch for ch in chans[l] if not 0 <= ch < n]
        if bad:
            raise UsageError("Layer %r has channels 0..%d; got %r" % (l, n - 1, bad))
    out_dir(out)  # once the inputs are checked
    if scan is not None:
        found = scan(model, x, layers, chans, k, split, limit, progress)
    else:
        found = scan_topk(model, x, layers, chans, k, progress=progress)
    pre = model.preprocessing
    results, pngs = OrderedDict(), []
    for l in layers:
        blocks = []
        recs = np.zeros((len(chans[l]), k, c, h, w), np.float32)
        units = np.zeros((len(chans[l]), k, 3), np.int64)
        cols = 3 if k > 3 else k
        for m, ch in enumerate(chans[l]):
            idx = found[l]["images"][m]
            res = proj.project(model.preprocess(x[idx]), [l], channels=[ch], method=method)[l]
            recs[m] = res.reconstructions[:, 0]
            units[m] = res.units[:, 0]
            patches, projections = [], []
            for j, ii in enumerate(idx):
                p = render.projection_panels(x[ii], recs[m, j], res.boxes[j, 0], pre)
                patches.append(p["patch"]); projections.append(p["projection_patch"])
            grid = lambda ims: render.tile([render.fit_tile(a, 48) for a in ims], cols=cols, pad=1)
            pair = render.tile([grid(projections), grid(patches)], cols=2, pad=4)
            label = render.text_strip("%s channel %d: top-%d projections | image patches"
                                      % (l, ch, k), pair.shape[1], 16, 11)
            blocks.append(np.concatenate([label, pair], axis=0))
        path = os.path.join(out, "topk_%s.png" % l)
        render.save_png(render.tile(blocks, cols=min(4, len(blocks)), pad=8), path)
        pngs.append(path)
        results[l] = {"channels": np.asarray(chans[l]), "images": found[l]["images"],
                      "activations": found[l]["activations"].astype(np.float32),
                      "units": units, "reconstructions": recs}
        log("%s: top-%d of %d feature maps over %d %s images -> %s" % (l, k, len(chans[l]), len(x),
                                                                        split, path))
    result = TopK(results, split, pngs=pngs)
    result.save(os.path.join(out, "topk.npz"))
    return result
