"""Fig. 2: top-9 activations of feature maps of layers 1-5 over the validation split,
projected to pixel space with the deconvnet, next to their image patches.

Besides the pictures, the paper's reading of them is measured: feature maps of
higher layers respond to more class-specific structure and are more invariant. For every
live feature map of conv1..conv5, the *class purity* of its top-9 validation images (the
share of the most common class among them), and its *invariance* (the activation of the same
unit, the map's strongest position on each of its top-9, after a small shift, a flip and a zoom
to 7/8, over that on the unchanged images; ``zfnet.vis.topk.topk_invariance``), each averaged
over the layer's maps.
"""

PAPER_ITEMS = ["Fig. 2"]
import os

import numpy as np

from zfnet.io.checkpoint import load_model
from zfnet.data import dataset as datamod
from zfnet.vis import plots
from zfnet.repro import reproduce as rep
from zfnet.vis.figures import topk
from zfnet.repro.analysis import small_changes
from zfnet.vis.topk import scan_topk, topk_invariance

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def run(ctx):
    run_dir, final = rep.base_model(ctx)
    ds = ctx.dataset()
    x_tr, y_tr, x_val, y_val = rep.base_holdout(ctx)
    maps = 6
    val = datamod.Dataset(ds.name + " validation", x_tr[:1], y_tr[:1], x_val, y_val, ds.class_names)
    ctx.params.update(checkpoint=rep.run_label(final), maps_per_layer=maps, k=9,
                      method="deconvnet", images="validation split (%d images held out of training)"
                      % len(x_val), map_choice="random, seed 0")
    npz = topk(final, LAYERS, ctx.out, dataset=val, split="test", maps=maps, k=9, seed=0,
               progress=ctx.progress, log=ctx.log).npz
    os.remove(npz)  # the projections are in the PNGs; keep the results folder small

    # class purity of the top-9 of every live feature map, per seed
    seeds = rep.seeds_for(ctx)
    purity, invariance, dead = {}, {}, {}
    for seed in seeds:
        model = load_model(rep.base_model(ctx, seed=seed)[1] if seed != seeds[0] else final)
        net = model.net
        chans = {l: list(range(net[l].output_shape[1])) for l in LAYERS}
        found = scan_topk(model, x_val, LAYERS, chans, k=9, progress=ctx.progress)
        purity[seed], invariance[seed], dead[seed] = {}, {}, {}
        for l in LAYERS:
            live = found[l]["activations"][:, 0] > 0
            labels = y_val[found[l]["images"][live]]  # (live maps, 9)
            per_map = [np.bincount(r, minlength=len(ds.class_names)).max() / 9.0 for r in labels]
            purity[seed][l] = {"mean": float(np.mean(per_map)), "std": float(np.std(per_map)),
                               "maps": len(per_map)}
            dead[seed][l] = int((~live).sum())
            ratios = topk_invariance(model, x_val, found, l, np.flatnonzero(live), small_changes)
            invariance[seed][l] = {"mean": float(np.mean(ratios)), "std": float(np.std(ratios)),
                                   "maps": len(ratios)}
    # chance: the purity of 9 validation images drawn at random
    rng = np.random.RandomState(0)
    chance = float(np.mean([np.bincount(y_val[rng.choice(len(y_val), 9, replace=False)]).max() / 9.0
                            for _ in range(2000)]))
    per_layer = {l: [purity[sd][l]["mean"] for sd in seeds] for l in LAYERS}
    inv_layer = {l: [invariance[sd][l]["mean"] for sd in seeds] for l in LAYERS}
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for j, sd in enumerate(seeds):
        for ax, v, scale in ((axes[0], purity, 100), (axes[1], invariance, 1)):
            ax.errorbar(np.arange(1, 6) + 0.05 * j, [scale * v[sd][l]["mean"] for l in LAYERS],
                        yerr=[scale * v[sd][l]["std"] for l in LAYERS], fmt="o-", capsize=3,
                        label="seed %d (sd over maps)" % sd)
    axes[0].axhline(100 * chance, color="grey", ls="--", label="9 random images")
    axes[0].set_ylabel("share of the top-9 in one class (%)"); axes[0].set_ylim(0, 105)
    axes[1].set_ylabel("activation after a small change / before")
    for ax in axes:
        ax.set_xticks(range(1, 6)); ax.set_xticklabels(LAYERS); ax.legend(fontsize=7); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("purity.png"), dpi=100)

    # the two parts of the claim, each conv5 against conv1 over the seeds (paired t, 95%)
    tests = {"class_specific": rep.effect(per_layer["conv5"], per_layer["conv1"], ">") if len(seeds) > 1 else None,
             "invariant": rep.effect(inv_layer["conv5"], inv_layer["conv1"], ">") if len(seeds) > 1 else None}
    outcomes = {k: t["outcome"] if t else "not shown" for k, t in tests.items()}
    p = [float(np.mean(per_layer[l])) for l in LAYERS]
    q = [float(np.mean(inv_layer[l])) for l in LAYERS]
    n_dead = [int(sum(dead[sd][l] for sd in seeds)) for l in LAYERS]
    ours = ("top-9 class purity of live maps conv1..conv5, mean over seeds %s: %s (random 9: %s); invariance "
            "ratio: %s; conv5 vs conv1: more class-specific %s, more invariant %s; dead maps left out: %s" % (
                ", ".join(map(str, seeds)), " / ".join(rep.fmt_pct(v, 0) for v in p), rep.fmt_pct(chance, 0),
                " / ".join("%.2f" % v for v in q), outcomes["class_specific"], outcomes["invariant"],
                " / ".join(map(str, n_dead))))
    return {"seeds": seeds, "purity": purity, "invariance": invariance, "dead_maps": dead,
            "chance_purity": chance, "tests": tests,
            "figures": sorted(f for f in os.listdir(ctx.out) if f.endswith(".png")),
            "summary": {
                "paper": "Top-9 projections show each map's structure; higher layers are more "
                         "class-specific and more invariant (ImageNet, qualitative)",
                "ours": ours,
                "holds": rep.verdict_of(outcomes.values()),
                "deviation": "Fashion-MNIST 28x28 grey: conv4-5 see nearly the whole image, so "
                             "'patches' are whole items; measured as class purity, not by eye; "
                             "%d seeds" % len(seeds)}}
