"""Fig. 4: evolution of features during training, on the paper's epochs, over seeds.

Three runs of ``small`` (seeds 1, 2, 3), 64 epochs each on a 10,000-image subset of the
Fashion-MNIST training split (9,000 to train, 1,000 held out), constant learning rate 0.01 (no
schedule, so nothing freezes learning early), checkpoints kept at the paper's epochs 1, 2, 5,
10, 20, 30, 40 and 64. For 16 random maps per layer conv1..conv5 (seed 0) and every kept
epoch: the training image with the strongest activation of the map, the unit, and its
deconvnet projection cropped to the unit's receptive field.

A map **settles** at the first kept epoch from which, at every later kept epoch, (a) the
previous checkpoint's strongest image is still among the map's :data:`TOP` strongest (with
9,000 images many are nearly as strong; conv1's 3x3 fields see many identical white patches)
and (b) the projection of that image's same unit correlates at least :data:`SETTLED_CORR` with
its projection at the previous checkpoint. A layer settles at the median epoch of its maps.
"""

PAPER_ITEMS = ["Fig. 4"]
import os

import numpy as np

from zfnet.io import checkpoint as ckpt
from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.repro import analysis
from zfnet.repro import reproduce as rep
from zfnet.train import PAPER_EPOCHS, holdout
from zfnet.vis import plots, render
from zfnet.vis.deconv import Projector
from zfnet.vis.topk import scan_topk

LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
MAPS = 16            # measured per layer
TOP = 9              # "still the strongest": among the map's 9 strongest images (Fig. 2's set)
SHOWN = 2            # drawn per layer
SEEDS = (1, 2, 3)
SUBSET = 10000       # images of the training split (before the 10% hold-out)
EPOCHS = 64
SETTLED_CORR = 0.9


def settings(ctx, seed):
    if ctx.quick:
        return rep.base_settings(True, seed=seed, schedule="none", epochs=2, keep=(1, 2), limit=600,
                                 init=rep.EARLIER_INIT)
    return rep.base_settings(False, seed=seed, schedule="none", epochs=EPOCHS, keep=PAPER_EPOCHS,
                             limit=SUBSET, init=rep.EARLIER_INIT)


def settle_epoch(epochs, steady):
    """The first kept epoch from which every later step is steady (``steady[j]``: the step
    epochs[j] -> epochs[j+1])."""
    settled = epochs[-1]
    for j in range(len(epochs) - 2, -1, -1):
        if not steady[j]:
            break
        settled = epochs[j]
    return settled


def crop(img, box):
    t, l, b, r = (int(v) for v in box)
    return img[..., t:b, l:r]


def analyse_run(ctx, run_dir, s, rng_seed=0):
    """Per layer and map: top image, projection and receptive field at each kept epoch."""
    ds = ctx.dataset().limit(s.limit)
    x_tr, _, _, _ = holdout(ds, s)
    epochs = [e for e in s.keep if os.path.isdir(os.path.join(run_dir, "checkpoints", "epoch-%03d" % e))]
    model = load_model(rep.checkpoint_at(run_dir, epochs[0]))
    net = model.net
    proj = Projector(net, "deconvnet")
    rng = np.random.RandomState(rng_seed)
    chans = {l: sorted(rng.choice(net[l].output_shape[1], MAPS, replace=False).tolist()) for l in LAYERS}
    tops, recs, boxes, units, top9, wdist, weights = {}, {}, {}, {}, {}, {}, {}
    still, corr = {}, {}   # per step into epoch e: previous top still in the top 9; its unit's projection correlation
    for j, e in enumerate(epochs):
        path = rep.checkpoint_at(run_dir, e)
        edoc, arrays = ckpt.read_checkpoint(path)
        if edoc["config"] != model.config or edoc["preprocessing"] != model.preprocessing:
            raise ValueError("%s: configuration or preprocessing differs from epoch %d's" % (path, epochs[0]))
        modelmod.set_weights(net, arrays, source=path)
        weights[e] = modelmod.get_weights(net)
        found = scan_topk(model, x_tr, LAYERS, chans, k=TOP, progress=ctx.progress)
        for l in LAYERS:
            for m, ch in enumerate(chans[l]):
                i = int(found[l]["images"][m, 0])
                r = proj.project(model.preprocess(x_tr[i:i + 1]), [l], channels=[ch])[l]
                tops[(l, m, e)] = i
                top9[(l, m, e)] = set(int(v) for v in found[l]["images"][m])
                recs[(l, m, e)] = r.reconstructions[0, 0]
                boxes[(l, m, e)] = r.boxes[0, 0]
                units[(l, m, e)] = r.units[0, 0]
        if j:
            before = epochs[j - 1]
            for l in LAYERS:
                for m, ch in enumerate(chans[l]):
                    prev = tops[(l, m, before)]
                    still[(l, m, e)] = prev in top9[(l, m, e)]
                    # the same unit of the same image, projected with this epoch's weights
                    r = proj.project(model.preprocess(x_tr[prev:prev + 1]), [l],
                                     units={l: units[(l, m, before)][None, None]})[l]
                    corr[(l, m, e)] = analysis.correlation(r.reconstructions[0, 0], recs[(l, m, before)])
        ctx.log("[fig4] seed %d epoch %d scanned" % (s.seed, e))
    per_layer = {}
    for l in LAYERS:
        Wf = weights[epochs[-1]][l + ".W"]
        wdist[l] = [float(np.linalg.norm(weights[e][l + ".W"] - Wf) / np.linalg.norm(Wf)) for e in epochs]
        steps = epochs[1:]
        c = [[float(corr[(l, m, e)]) for e in steps] for m in range(MAPS)]
        st = [[bool(still[(l, m, e)]) for e in steps] for m in range(MAPS)]
        settle = [settle_epoch(epochs, [a and b >= SETTLED_CORR for a, b in zip(st[m], c[m])])
                  for m in range(MAPS)]
        per_layer[l] = {"settle_epochs": settle, "median_settle_epoch": float(np.median(settle)),
                        "projection_correlation_same_unit": c, "previous_top_still_in_top9": st,
                        "weight_distance_to_final": wdist[l]}
    return {"epochs": epochs, "channels": chans, "layers": per_layer,
            "x": x_tr, "model": model, "tops": tops, "recs": recs, "boxes": boxes}


def ordering(medians):
    """(monotone: non-decreasing conv1..conv5, conv5_last: conv5 >= every other, spearman rho)."""
    v = [medians[l] for l in LAYERS]
    mono = all(a <= b for a, b in zip(v[:-1], v[1:]))
    last = v[-1] >= max(v[:-1])
    from scipy.stats import spearmanr
    rho = float(spearmanr(np.arange(len(v)), v).correlation) if len(set(v)) > 1 else 0.0
    return mono, last, rho


def draw(ctx, res):
    """evolution.png (one seed): a row per (layer, map), for every kept epoch the strongest
    training image's patch and its projection, both cropped to the unit's receptive field."""
    pre = res["model"].preprocessing
    epochs = res["epochs"]
    rows, labels = [], []
    for l in LAYERS:
        for m in range(SHOWN):
            row = []
            for e in epochs:
                box = res["boxes"][(l, m, e)]
                x = res["x"][res["tops"][(l, m, e)]]
                row.append(render.pixels_to_rgb(crop(x, box)))
                row.append(render.projection_rgb(crop(res["recs"][(l, m, e)], box), pre))
            rows.append(row)
            labels.append("%s, map %d" % (l, res["channels"][l][m]))
    cols = [lab for e in epochs for lab in ("ep %d image" % e, "projection")]
    grid = render.labelled_grid(rows, row_labels=labels, col_labels=cols, cell=64,
                                title="Fig. 4 (seed %d): strongest training activation at each kept epoch, "
                                      "receptive-field crops" % SEEDS[0])
    render.save_png(grid, ctx.path("evolution.png"))


def run(ctx):
    ctx.require_default_data("its runs are 64-epoch Fashion-MNIST runs of the project's own protocol")
    seeds = SEEDS[:2] if ctx.quick else SEEDS
    cfg = rep.base_config(ctx)
    per_seed, first = {}, None
    for seed in seeds:
        s = settings(ctx, seed)
        run_dir = ctx.trained("fig4-small", cfg, s, ctx.dataset().limit(s.limit))
        res = analyse_run(ctx, run_dir, s)
        if first is None:
            first = res
            draw(ctx, res)
        per_seed[seed] = {"run": rep.run_label(run_dir), "epochs": res["epochs"],
                          "channels": res["channels"], "layers": res["layers"]}
    epochs = first["epochs"]
    ctx.params.update(seeds=list(seeds), epochs=epochs, maps_per_layer=MAPS, train_subset=SUBSET,
                      settled="top image unchanged and projection correlation >= %.2f at every later "
                              "kept step" % SETTLED_CORR,
                      settings={k: v for k, v in settings(ctx, seeds[0]).to_dict().items() if k != "seed"})
    medians = {seed: {l: per_seed[seed]["layers"][l]["median_settle_epoch"] for l in LAYERS} for seed in seeds}
    checks = {seed: ordering(medians[seed]) for seed in seeds}
    rows = [[seed, l, medians[seed][l], float(np.mean(per_seed[seed]["layers"][l]["settle_epochs"]))]
            for seed in seeds for l in LAYERS]
    ctx.write_csv("settle.csv", ["seed", "layer", "median_settle_epoch", "mean_settle_epoch"], rows)

    plt = plots.pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for seed in seeds:
        a.plot(range(1, 6), [medians[seed][l] for l in LAYERS], "o-", label="seed %d" % seed)
    a.set_xticks(range(1, 6)); a.set_xticklabels(LAYERS); a.set_ylabel("median settle epoch")
    a.set_yscale("log"); a.grid(alpha=.3); a.legend()
    for l in LAYERS:
        b.plot(epochs, per_seed[seeds[0]]["layers"][l]["weight_distance_to_final"], "o-", label=l)
    b.set_xscale("log"); b.set_xlabel("epoch"); b.set_ylabel("||W_e - W_final|| / ||W_final|| (seed %d)" % seeds[0])
    b.legend(); b.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("stability.png"), dpi=100)

    mono_all = all(checks[s][0] and checks[s][1] for s in seeds)
    rho_all = all(checks[s][2] > 0 for s in seeds)
    mean_med = {l: float(np.mean([medians[s][l] for s in seeds])) for l in LAYERS}
    sd_med = {l: float(np.std([medians[s][l] for s in seeds], ddof=1)) if len(seeds) > 1 else 0.0 for l in LAYERS}
    ours = ("median settle epoch conv1..conv5, mean (sd) over seeds %s: %s; Spearman rho (depth vs settle epoch) "
            "per seed: %s" % (", ".join(map(str, seeds)),
                              " / ".join("%.0f (%.0f)" % (mean_med[l], sd_med[l]) for l in LAYERS),
                              ", ".join("%.2f" % checks[s][2] for s in seeds)))
    return {"epochs": epochs, "seeds": list(seeds), "per_seed": per_seed,
            "median_settle_epoch": medians, "mean_median_settle_epoch": mean_med,
            "sd_median_settle_epoch": sd_med,
            "ordering": {s: {"non_decreasing": checks[s][0], "conv5_last": checks[s][1], "spearman": checks[s][2]}
                         for s in seeds},
            "summary": {
                "paper": "Lower layers converge within a few epochs; upper layers (conv5) only after 40-50 "
                         "epochs (ImageNet, 70 epochs)",
                "ours": ours,
                "holds": rep.verdict(mono_all, partly=rho_all),
                "deviation": "Fashion-MNIST 28x28, 9,000 training images, %d epochs at a constant lr; checkpoints "
                             "at the paper's epochs %s" % (EPOCHS, ", ".join(map(str, PAPER_EPOCHS)))}}
