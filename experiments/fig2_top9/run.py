"""Fig. 2: top-9 activations of feature maps of layers 1-5 over the validation split,
projected to pixel space with the deconvnet, next to their image patches.

Besides the pictures, the paper's reading of them is measured: feature maps of
higher layers respond to more class-specific structure. For every feature map
of conv1..conv5, the *class purity* of its top-9 validation images (the share
of the most common class among them) is averaged over the layer's maps.
"""

PAPER_ITEMS = ["Fig. 2"]
import os

import numpy as np

from zfnet.io.checkpoint import load_model
from zfnet.data import dataset as datamod
from zfnet.vis import plots
from zfnet.repro import reproduce as rep
from zfnet.vis.figures import topk
from zfnet.vis.topk import scan_topk

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
    purity, dead = {}, {}
    for seed in seeds:
        model = load_model(rep.base_model(ctx, seed=seed)[1] if seed != seeds[0] else final)
        net = model.net
        chans = {l: list(range(net[l].output_shape[1])) for l in LAYERS}
        found = scan_topk(model, x_val, LAYERS, chans, k=9, progress=ctx.progress)
        purity[seed], dead[seed] = {}, {}
        for l in LAYERS:
            live = found[l]["activations"][:, 0] > 0
            labels = y_val[found[l]["images"][live]]  # (live maps, 9)
            per_map = [np.bincount(r, minlength=len(ds.class_names)).max() / 9.0 for r in labels]
            purity[seed][l] = {"mean": float(np.mean(per_map)), "std": float(np.std(per_map)),
                               "maps": len(per_map)}
            dead[seed][l] = int((~live).sum())
    # chance: the purity of 9 validation images drawn at random
    rng = np.random.RandomState(0)
    chance = float(np.mean([np.bincount(y_val[rng.choice(len(y_val), 9, replace=False)]).max() / 9.0
                            for _ in range(2000)]))
    per_layer = {l: [purity[sd][l]["mean"] for sd in seeds] for l in LAYERS}
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for j, sd in enumerate(seeds):
        ax.errorbar(np.arange(1, 6) + 0.05 * j, [100 * purity[sd][l]["mean"] for l in LAYERS],
                    yerr=[100 * purity[sd][l]["std"] for l in LAYERS], fmt="o-", capsize=3,
                    label="top-9 purity, seed %d (sd over maps)" % sd)
    ax.axhline(100 * chance, color="grey", ls="--", label="9 random images")
    ax.set_xticks(range(1, 6)); ax.set_xticklabels(LAYERS)
    ax.set_ylabel("share of the top-9 in one class (%)"); ax.set_ylim(0, 105); ax.legend()
    ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("purity.png"), dpi=100)

    rise = {"conv5 - conv1": rep.seed_effect(per_layer["conv5"], per_layer["conv1"]),
            "conv3 - conv1": rep.seed_effect(per_layer["conv3"], per_layer["conv1"])}
    rising = all(e["beyond_spread"] and e["mean"] > 0 for e in rise.values())
    p = [float(np.mean(per_layer[l])) for l in LAYERS]
    n_dead = [int(sum(dead[sd][l] for sd in seeds)) for l in LAYERS]
    ours = "top-9 class purity of live maps conv1..conv5, mean over seeds %s: %s (random 9: %s); dead maps left out: %s" % (
        ", ".join(map(str, seeds)), " / ".join(rep.fmt_pct(v, 0) for v in p), rep.fmt_pct(chance, 0),
        " / ".join(map(str, n_dead)))
    return {"seeds": seeds, "purity": purity, "dead_maps": dead, "chance_purity": chance, "rise": rise,
            "figures": sorted(f for f in os.listdir(ctx.out) if f.endswith(".png")),
            "summary": {
                "paper": "Top-9 projections show each map's structure; higher layers are more "
                         "class-specific and invariant (ImageNet, qualitative)",
                "ours": ours,
                "holds": rep.verdict(rising, partly=any(e["mean"] > 0 for e in rise.values())),
                "deviation": "Fashion-MNIST 28x28 grey: conv4-5 see nearly the whole image, so "
                             "'patches' are whole items; measured as class purity, not by eye; "
                             "%d seeds" % len(seeds)}}
