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

from . import checkpoint as ckpt
from . import data as datamod
from . import render
from .backend import lasagne, theano
from .deconv import Projector, input_patch_box


def load_images(paths, doc):
    """Read image files into the checkpoint's input format: uint8 (N, C, H, W) resized
    (short side, centre crop) to the model's input size and channel count."""
    c, h, w = doc["config"]["input_shape"]
    out = []
    for p in paths:
        if not os.path.isfile(p):
            raise datamod.DataError("Image %s does not exist" % p)
        out.append(datamod.load_image(p, size=h if h == w else (h, w), channels=c))
    return np.stack(out)


def preprocess(x_uint8, doc):
    pre = doc["preprocessing"]
    return datamod.normalize(x_uint8, pre["mean"], pre["std"])


def _pair_figure(net, layer, img_rgb, proj, recon_rgb_fn, size=64):
    """One row per unit: input patch | projection patch (same box), and the full projection."""
    tiles = []
    for j in range(proj.units.shape[0]):
        c, y, x = proj.units[j]
        t, l, b, r = input_patch_box(net, layer, int(y), int(x))
        rec = recon_rgb_fn(proj.reconstructions[j])
        tiles += [img_rgb[t:b, l:r], rec[t:b, l:r], rec]
    return render.tile(tiles, cols=3, size=(size, size))


def write_projections(out_dir, stem, net, doc, image_u8, results, scale="common"):
    """Write ``<stem>_<layer>.png`` grids and ``projections.npz`` for one image."""
    os.makedirs(out_dir, exist_ok=True)
    pre = doc["preprocessing"]
    img_rgb = render.pixels_to_rgb(image_u8)
    fn = lambda r: render.reconstruction_to_rgb(r, pre["mean"], pre["std"], scale=scale)
    arrays, pngs = OrderedDict(), []
    for layer, proj in results.items():
        arrays[layer + ".reconstructions"] = proj.reconstructions.astype(np.float32)
        arrays[layer + ".units"] = proj.units.astype(np.int64)
        arrays[layer + ".activations"] = proj.activations.astype(np.float32)
        path = os.path.join(out_dir, "%s_%s.png" % (stem, layer))
        render.save_png(_pair_figure(net, layer, img_rgb, proj, fn), path)
        pngs.append(path)
    npz = os.path.join(out_dir, "projections.npz")
    ckpt.atomic_write_npz(npz, arrays)
    return npz, pngs


def visualize(checkpoint, images, layers, out, top=9, method="deconvnet", mode="max",
              rank="max", channels=None, scale="common", log=print, projector=None,
              smooth_samples=16, smooth_noise=0.15):
    """Project the top feature maps of ``layers`` for each image file; write PNGs and npz.

    One image: ``out/projections.npz`` and ``out/<stem>_<layer>.png``. Several:
    ``out/<stem>/...`` for each. Returns the list of written npz paths.
    """
    from tqdm import tqdm
    net, doc = ckpt.load_model(checkpoint)
    proj = projector or Projector(net, method, smooth_samples=smooth_samples, smooth_noise=smooth_noise)
    x_u8 = load_images(images, doc)
    x = preprocess(x_u8, doc)
    written = []
    for i in tqdm(range(len(images)), desc="visualize", unit="img", disable=len(images) < 2):
        res = proj.project(x[i:i + 1], layers, top=top, mode=mode, rank=rank, channels=channels)
        res = OrderedDict((n, type(p)(n, p.reconstructions[0], p.units[0], p.activations[0]))
                          for n, p in res.items())
        stem = os.path.splitext(os.path.basename(images[i]))[0]
        d = out if len(images) == 1 else os.path.join(out, stem)
        npz, pngs = write_projections(d, stem, net, doc, x_u8[i], res, scale)
        written.append(npz)
        log("%s: %s" % (images[i], ", ".join([npz] + pngs)))
    return written


# ------------------------------------------------------------------- top-k
def layer_maxima_function(net, layers):
    """Compiled ``x -> [per-channel max (B, C), argmax position (B, C)]`` for each layer."""
    x = net["input"].input_var
    outs = lasagne.layers.get_output([net[l] for l in layers], deterministic=True)
    res = []
    for o in outs:
        flat = o.flatten(3)
        res += [flat.max(axis=2), flat.argmax(axis=2)]
    return theano.function([x], res)


def scan_topk(net, doc, x_u8, layers, channels, k=9, batch_size=256, progress=True):
    """For each layer and channel, the ``k`` images of ``x_u8`` with the strongest activation.

    Returns {layer: {"channels": (m,), "images": (m, k) indices, "activations": (m, k)}}.
    """
    from tqdm import tqdm
    fn = layer_maxima_function(net, layers)
    best = {l: (np.full((len(channels[l]), 0), -np.inf), np.zeros((len(channels[l]), 0), np.int64))
            for l in layers}
    bar = tqdm(total=len(x_u8), desc="scan", unit="img", disable=not progress, leave=False)
    for i in range(0, len(x_u8), batch_size):
        xb = preprocess(x_u8[i:i + batch_size], doc)
        outs = fn(xb)
        for j, l in enumerate(layers):
            m = outs[2 * j][:, channels[l]].T  # (m, b)
            vals = np.concatenate([best[l][0], m], axis=1)
            idx = np.concatenate([best[l][1], np.arange(i, i + len(xb))[None].repeat(len(m), 0)], axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")[:, :k]
            best[l] = (np.take_along_axis(vals, order, 1), np.take_along_axis(idx, order, 1))
        bar.update(len(xb))
    bar.close()
    return {l: {"channels": np.asarray(channels[l]), "images": best[l][1],
                "activations": best[l][0]} for l in layers}


def topk(checkpoint, layers, out, dataset=None, split="test", maps=8, channels=None, k=9,
         method="deconvnet", limit=None, seed=0, progress=True, log=print, smooth_samples=16,
         smooth_noise=0.15):
    """The paper's Fig. 2 for ``layers``: top-``k`` dataset activations of ``maps`` feature
    maps each (random ones unless ``channels``), projected, next to their patches.

    Writes ``out/topk_<layer>.png`` and ``out/topk.npz``; returns the npz path.
    """
    net, doc = ckpt.load_model(checkpoint)
    ds = dataset if isinstance(dataset, datamod.Dataset) else \
        datamod.load_dataset(dataset or doc.get("dataset", "fashion-mnist"))
    x = ds.x_test if split == "test" else ds.x_train
    if limit:
        x = x[:limit]
    c, h, w = doc["config"]["input_shape"]
    datamod.check_channels(x.shape, doc["config"]["input_shape"], "%s images" % ds.name)
    x = datamod.crop_batch(x, (h, w))
    layers = [layers] if isinstance(layers, str) else list(layers)
    proj = Projector(net, method, smooth_samples=smooth_samples, smooth_noise=smooth_noise)
    valid = proj.projectable_layers()
    rng = np.random.RandomState(seed)
    chans = {}
    for l in layers:
        if l not in valid:
            raise ValueError("Cannot project layer %r: projectable layers are %s" % (l, ", ".join(valid)))
        n = net[l].output_shape[1]
        chans[l] = list(channels) if channels else sorted(rng.choice(n, min(maps, n), replace=False).tolist())
        bad = [ch for ch in chans[l] if not 0 <= ch < n]
        if bad:
            raise ValueError("Layer %r has channels 0..%d; got %r" % (l, n - 1, bad))
    found = scan_topk(net, doc, x, layers, chans, k, progress=progress)
    pre = doc["preprocessing"]
    arrays = OrderedDict()
    os.makedirs(out, exist_ok=True)
    for l in layers:
        rows = []
        recs = np.zeros((len(chans[l]), k, c, h, w), np.float32)
        units = np.zeros((len(chans[l]), k, 3), np.int64)
        for m, ch in enumerate(chans[l]):
            idx = found[l]["images"][m]
            res = proj.project(preprocess(x[idx], doc), [l], channels=[ch])[l]
            recs[m] = res.reconstructions[:, 0]
            units[m] = res.units[:, 0]
            patches, projections = [], []
            for j, ii in enumerate(idx):
                t, le, b, r = input_patch_box(net, l, int(units[m, j, 1]), int(units[m, j, 2]))
                img = render.pixels_to_rgb(x[ii])
                rec = render.reconstruction_to_rgb(recs[m, j], pre["mean"], pre["std"])
                patches.append(img[t:b, le:r]); projections.append(rec[t:b, le:r])
            rows.append((render.tile(projections, cols=3, size=(32, 32)),
                         render.tile(patches, cols=3, size=(32, 32))))
        blocks = [render.tile([a, b], cols=2, pad=1) for a, b in rows]
        path = os.path.join(out, "topk_%s.png" % l)
        render.save_png(render.tile(blocks, cols=min(4, len(blocks)), pad=6), path)
        arrays[l + ".channels"] = np.asarray(chans[l])
        arrays[l + ".images"] = found[l]["images"]
        arrays[l + ".activations"] = found[l]["activations"].astype(np.float32)
        arrays[l + ".units"] = units
        arrays[l + ".reconstructions"] = recs
        log("%s: top-%d of %d feature maps over %d %s images -> %s" % (l, k, len(chans[l]), len(x),
                                                                        split, path))
    arrays["split"] = np.array(split)  # the images are indices into this split of the dataset
    npz = os.path.join(out, "topk.npz")
    ckpt.atomic_write_npz(npz, arrays)
    return npz
