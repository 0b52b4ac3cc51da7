"""Fig. 2 on natural images: the top-9 activations of feature maps of layers 1-5 over Tiny
ImageNet's validation images, projected to pixels with the deconvnet, in colour, next to the
image patches their units see.

The natural-image model (``zf64`` trained on Tiny ImageNet, ``tab2_tiny_imagenet``'s shared
run). Pictures: 6 random maps per layer (seed 0). Measured on every live map (one whose
strongest activation over the 10,000 images is above 0) of each layer:

* **class specificity**: the share of a map's top-9 images in its most common class (chance,
  9 random images of 200 classes, is about 0.11);
* **invariance**: for each of the map's top-9 images, the activation of the same unit (the
  map's strongest position) after a small change (a shift of 1/14 of the side, a horizontal
  flip, a zoom to 7/8 with the border filled by the image's own edge) divided by its activation
  on the unchanged image, the mean over the nine and the three changes
  (``zfnet.vis.topk.topk_invariance``; a map's maximum anywhere would move with the pattern and
  hide how small a unit's field is).

The paper's claim has two parts, each a Welch t test at 95% between the maps of conv5 and of
conv1 (three outcomes: holds / contradicted / not shown): higher layers are **more class-
specific** (purity conv5 > conv1) and **more invariant** (ratio conv5 > conv1). Yes when both
hold. One training run of the model (the 3-hour budget): the spread is over maps.
"""

TIER = "natural"
PAPER_ITEMS = ["Fig. 2"]
import os

import numpy as np

from zfnet.data import dataset as datamod
from zfnet.repro import reproduce as rep
from zfnet.repro.analysis import small_changes
from zfnet.vis import plots
from zfnet.vis.figures import topk
from zfnet.vis.topk import scan_topk, topk_invariance

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
MAPS_SHOWN = 6
MAX_MAPS = 64   # maps per layer whose invariance is measured (the first live ones)


def run(ctx):
    run_dir, model, ds, x, y = rep.natural_validation(ctx)
    c, H, W = model.input_shape
    val = datamod.Dataset(ds.name + " validation", x[:1], y[:1], x, y, ds.class_names)
    maps = MAPS_SHOWN if not ctx.quick else 2
    ctx.params.update(checkpoint=os.path.basename(run_dir), maps_shown=maps, k=9, method="deconvnet",
                      images="Tiny ImageNet validation (%d images), centre %dx%d" % (len(x), H, W),
                      map_choice="random, seed 0", invariance_maps=MAX_MAPS)
    npz = topk(model, LAYERS, ctx.out, dataset=val, split="test", maps=maps, k=9, seed=0,
               progress=ctx.progress, log=ctx.log).npz
    os.remove(npz)  # the projections are in the PNGs

    net = model.net
    chans = {l: list(range(net[l].output_shape[1])) for l in LAYERS}
    found = scan_topk(model, x, LAYERS, chans, k=9, progress=ctx.progress)
    rng = np.random.RandomState(0)
    chance = float(np.mean([np.bincount(y[rng.choice(len(y), 9, replace=False)]).max() / 9.0 for _ in range(2000)]))
    purity, invariance, dead = {}, {}, {}
    for l in LAYERS:
        live = np.flatnonzero(found[l]["activations"][:, 0] > 0)
        dead[l] = int(len(chans[l]) - len(live))
        purity[l] = [float(np.bincount(y[found[l]["images"][m]]).max() / 9.0) for m in live]
        invariance[l] = topk_invariance(model, x, found, l, live[:MAX_MAPS if not ctx.quick else 4], small_changes)
    tests = {"class_specific": rep.effect(purity["conv5"], purity["conv1"], ">", paired=False)
             if len(purity["conv5"]) > 1 and len(purity["conv1"]) > 1 else None,
             "invariant": rep.effect(invariance["conv5"], invariance["conv1"], ">", paired=False)
             if len(invariance["conv5"]) > 1 and len(invariance["conv1"]) > 1 else None}
    outcomes = [t["outcome"] if t else "not shown" for t in tests.values()]

    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, (name, v, ref) in zip(axes, (("top-9 class purity", purity, chance),
                                         ("invariance (activation ratio)", invariance, None))):
        ax.errorbar(range(1, 6), [np.mean(v[l]) if v[l] else np.nan for l in LAYERS],
                    yerr=[np.std(v[l]) if v[l] else 0 for l in LAYERS], fmt="o-", capsize=3, label="mean (sd over maps)")
        if ref is not None:
            ax.axhline(ref, color="grey", ls="--", label="9 random images")
        ax.set_xticks(range(1, 6)); ax.set_xticklabels(LAYERS); ax.set_title(name, fontsize=9)
        ax.grid(alpha=.3); ax.legend(fontsize=7)
    plots.save_figure(fig, ctx.path("measures.png"), dpi=100)
    fmt = lambda v: " / ".join("%.2f" % np.mean(v[l]) if v[l] else "-" for l in LAYERS)
    ours = ("top-9 class purity of live maps conv1..conv5: %s (random 9: %.2f); invariance ratio: %s; "
            "conv5 vs conv1: purity %s, invariance %s; dead maps %s" % (
                fmt(purity), chance, fmt(invariance), outcomes[0], outcomes[1],
                " / ".join(str(dead[l]) for l in LAYERS)))
    return {"purity": purity, "invariance": invariance, "dead_maps": dead, "chance_purity": chance,
            "tests": tests, "figures": sorted(f for f in os.listdir(ctx.out) if f.endswith(".png")),
            "summary": {
                "paper": "Top-9 projections show each map's structure; higher layers are more class-specific "
                         "and more invariant (ImageNet, qualitative)",
                "ours": ours, "holds": rep.verdict_of(outcomes),
                "deviation": "Tiny ImageNet validation photos at 56 px, zf64 (one training run); measured "
                             "over maps, not by eye"}}
