"""Fig. 4: evolution of features during training.

For chosen feature maps of conv1..conv5, the strongest activation over the
*training set* at each kept epoch (the paper's 1, 2, 5, 10, 20, 30, 40, 64, as
far as the run goes), projected with the deconvnet. Measured: how much a
layer's projections still change between consecutive checkpoints (Pearson
correlation of the same map's projection at epoch e and the next checkpoint),
whether the strongest image stays the same, and how far each layer's filters
still are from their final values.
"""

PAPER_ITEMS = ["Fig. 4"]
import os

import numpy as np

from zfnet.repro import analysis
from zfnet.io import checkpoint as ckpt
from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.vis import plots, render
from zfnet.repro import reproduce as rep
from zfnet.vis.deconv import Projector
from zfnet.train import PAPER_EPOCHS
from zfnet.vis.figures import scan_topk

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
MAPS = 16   # measured per layer (4 of them are drawn)
SHOWN = 4


def run(ctx):
    run_dir, final = rep.base_model(ctx)
    x_tr, y_tr, _, _ = rep.base_holdout(ctx)
    epochs = [e for e in PAPER_EPOCHS
              if os.path.isdir(os.path.join(run_dir, "checkpoints", "epoch-%03d" % e))]
    ctx.params.update(epochs=epochs, maps_per_layer=MAPS, maps_drawn=SHOWN, images="training split (%d)" % len(x_tr),
                      map_choice="random, seed 0", method="deconvnet, strongest activation")
    rng = np.random.RandomState(0)
    weights, chans, recs, tops = {}, {}, {}, {}
    # one network and one Projector (compiled once); each epoch's weights are loaded into it
    model = load_model(rep.checkpoint_at(run_dir, epochs[0]))
    net = model.net
    proj = Projector(net, "deconvnet")
    chans = {l: sorted(rng.choice(net[l].output_shape[1], MAPS, replace=False).tolist()) for l in LAYERS}
    for e in epochs:
        path = rep.checkpoint_at(run_dir, e)
        edoc, arrays = ckpt.read_checkpoint(path)
        if edoc["config"] != model.config or edoc["preprocessing"] != model.preprocessing:
            raise ValueError("%s: configuration or preprocessing differs from epoch %d's" % (path, epochs[0]))
        modelmod.set_weights(net, arrays, source=path)
        weights[e] = modelmod.get_weights(net)
        found = scan_topk(model, x_tr, LAYERS, chans, k=1, progress=ctx.progress)
        for l in LAYERS:
            for m, ch in enumerate(chans[l]):
                i = int(found[l]["images"][m, 0])
                r = proj.project(model.preprocess(x_tr[i:i + 1]), [l], channels=[ch])[l]
                recs[(l, m, e)] = r.reconstructions[0, 0]
                tops[(l, m, e)] = i
        pre = model.preprocessing
        ctx.log("[fig4] epoch %d scanned" % e)

    # the figure: one block per layer, rows = maps, columns = epochs
    plt = plots._plt()
    ne = len(epochs)
    fig, axes = plt.subplots(SHOWN, len(LAYERS) * (ne + 1) - 1,
                             figsize=(0.62 * (len(LAYERS) * (ne + 1) - 1), 0.75 * SHOWN + 0.5),
                             gridspec_kw=dict(wspace=0.05, hspace=0.05))
    for j, l in enumerate(LAYERS):
        for m in range(SHOWN):
            for k, e in enumerate(epochs):
                ax = axes[m, j * (ne + 1) + k]
                ax.imshow(render.reconstruction_to_rgb(recs[(l, m, e)], pre["mean"], pre["std"]),
                          cmap="gray", vmin=0, vmax=1)
                if m == 0:
                    ax.set_title("%s\ne%d" % (l, e) if k == 0 else "e%d" % e, fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    plots.save_figure(fig, ctx.path("evolution.png"), tight=False, dpi=100, bbox_inches="tight")

    # measurements
    trans = list(zip(epochs[:-1], epochs[1:]))
    corr, same, wdist = {}, {}, {}
    for l in LAYERS:
        corr[l] = [float(np.mean([analysis.correlation(recs[(l, m, a)], recs[(l, m, b)])
                                  for m in range(MAPS)])) for a, b in trans]
        same[l] = [float(np.mean([tops[(l, m, a)] == tops[(l, m, b)] for m in range(MAPS)]))
                   for a, b in trans]
        Wf = weights[epochs[-1]][l + ".W"]
        wdist[l] = [float(np.linalg.norm(weights[e][l + ".W"] - Wf) / np.linalg.norm(Wf))
                    for e in epochs]
    rows = [[l, "%d->%d" % t, c, s] for l in LAYERS for t, c, s in zip(trans, corr[l], same[l])]
    ctx.write_csv("stability.csv", ["layer", "epochs", "projection_correlation", "same_top_image"], rows)

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for l in LAYERS:
        a.plot(range(len(trans)), corr[l], "o-", label=l)
        b.plot(epochs, wdist[l], "o-", label=l)
    a.set_xticks(range(len(trans))); a.set_xticklabels(["%d->%d" % t for t in trans])
    a.set_ylabel("projection correlation"); a.set_xlabel("checkpoints"); a.legend(); a.grid(alpha=.3)
    b.set_xlabel("epoch"); b.set_ylabel("||W_e - W_final|| / ||W_final||"); b.legend(); b.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("stability.png"), dpi=100)

    mean_corr = {l: float(np.mean(corr[l])) if corr[l] else None for l in LAYERS}
    early_w = {l: wdist[l][0] for l in LAYERS}
    low = np.mean([mean_corr["conv1"], mean_corr["conv2"]]) if trans else 0
    high = np.mean([mean_corr["conv4"], mean_corr["conv5"]]) if trans else 0
    w_low = np.mean([early_w["conv1"], early_w["conv2"]])
    w_high = np.mean([early_w["conv4"], early_w["conv5"]])
    holds = bool(low > high)
    ours = ("projection correlation between checkpoints, mean conv1..conv5: %s; relative distance "
            "of epoch-%d filters from final, conv1..conv5: %s (conv1-2 %s conv4-5)" % (
                " / ".join("%.2f" % mean_corr[l] for l in LAYERS), epochs[0],
                " / ".join("%.2f" % early_w[l] for l in LAYERS),
                "closer than" if w_low < w_high else "not closer than"))
    return {"epochs": epochs, "channels": chans, "projection_correlation": corr,
            "same_top_image": same, "weight_distance_to_final": wdist,
            "mean_projection_correlation": mean_corr,
            "summary": {
                "paper": "Lower layers converge within a few epochs; upper layers (conv5) only "
                         "after 40-50 epochs (ImageNet, 70 epochs)",
                "ours": ours,
                "holds": rep.verdict(holds and w_low < w_high, partly=holds or w_low < w_high),
                "deviation": "Checkpoints %s only (a %d-epoch Fashion-MNIST run, not 64 ImageNet "
                             "epochs)" % (", ".join(map(str, epochs)), epochs[-1])}}
