"""Fig. 4: evolution of features during training, on the paper's epochs, over seeds.

Three runs of ``small`` (seeds 1, 2, 3), 64 epochs each on a 10,000-image subset of the
Fashion-MNIST training split (9,000 to train, 1,000 held out), constant learning rate 0.01 (no
schedule, so nothing freezes learning early), checkpoints kept at the paper's epochs 1, 2, 5,
10, 20, 30, 40 and 64. For 16 random maps per layer conv1..conv5 (seed 0) and every kept
epoch: the training image with the strongest activation of the map, the unit, and its
deconvnet projection cropped to the unit's receptive field.

**How far a layer is from its final form** (the measure the rule uses), on :data:`PROBES` fixed
held-out probe images: each unit's responses (every probe, every position) at a kept epoch
against the same unit's at the last epoch, by correlation, averaged over the layer's units.
Its **noise floor** is the same average between two training seeds' final layers, their units
paired one to one for the largest total correlation (two solutions of the same problem, whose
units come in another order). The layer's **progress** at epoch e is (r(e, final) - floor) /
(1 - floor): 0 as far as another seed's network, 1 identical to its final form; a layer counts
as converged at :data:`CONVERGED`.

Reported beside, the first measure of this rule: the same progress from linear CKA of the whole
layer (centred kernel alignment, invariant to rotations of the features). It was replaced
because at conv1 two seeds' final layers agree at a CKA of 0.9999: any conv1 with more maps
than its filter has pixels spans nearly the same space, so CKA left conv1 no range to measure.

The paper's claim has two parts, each a paired t test over the seeds at 95% (three outcomes):
(1) the lower layers converge within a few epochs: conv1's progress at epoch :data:`FEW` is
above :data:`CONVERGED`; (2) the upper layers only develop after 40-50 epochs: conv5's progress
at epoch :data:`LATE` is below :data:`CONVERGED`.

Reported beside, for seed 1 (its pictures): the earlier per-map settle epochs (the first kept
epoch from which the previous strongest image stays among the map's :data:`TOP` strongest and
its unit's projection correlates at least :data:`SETTLED_CORR` with the previous one).
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
PROBES = 500         # fixed held-out probe images for the CKA measure
CONVERGED = 0.9      # progress at which a layer counts as converged
FEW, LATE = 5, 20    # "within a few epochs"; before "40-50 epochs"
SUBSET = 10000       # images of the training split (before the 10% hold-out)
EPOCHS = 64
SETTLED_CORR = 0.9


def settings(ctx, seed):
    if ctx.quick:
        return rep.base_settings(True, seed=seed, schedule="none", epochs=2, keep=(1, 2), limit=600)
    return rep.base_settings(False, seed=seed, schedule="none", epochs=EPOCHS, keep=PAPER_EPOCHS,
                             limit=SUBSET)


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


def probe_outputs(ctx, run_dir, epochs, probes):
    """One run's layers on ``probes`` at every kept epoch: ``grams`` {epoch: {layer: centred Gram
    matrix}} (for CKA), ``same_unit`` {epoch: {layer: mean over units of each unit's response
    correlation with its own at the last epoch}}, and ``final`` {layer: unit responses at the last
    epoch} (for the pairing across seeds)."""
    from zfnet.evaluate import batched, features_function
    model = load_model(rep.checkpoint_at(run_dir, epochs[0]))
    fn = features_function(model.net, LAYERS)
    grams, same, final = {}, {}, None
    for e in [epochs[-1]] + list(epochs[:-1]):
        edoc, arrays = ckpt.read_checkpoint(rep.checkpoint_at(run_dir, e))
        modelmod.set_weights(model.net, arrays, source=run_dir)
        feats = batched(fn, model.preprocess(probes))
        units = {l: analysis.unit_responses(f, model.net[l].output_shape[1]) for l, f in zip(LAYERS, feats)}
        if final is None:
            final = units
        grams[e] = {l: analysis.centred_gram(f) for l, f in zip(LAYERS, feats)}
        same[e] = {l: float(np.nanmean(analysis.unit_correlations(units[l], final[l]))) for l in LAYERS}
    return {"grams": grams, "same_unit": same, "final": final}


def relative_progress(to_final, final_layers, similarity, seeds, epochs):
    """Per layer: the noise floor, ``similarity`` between two seeds' final layers (the mean over
    the seed pairs), and, per seed and kept epoch, the progress (s(e, final) - floor) / (1 - floor)
    from ``to_final`` {seed: {epoch: {layer: s(e, final)}}}."""
    floor = {l: float(np.mean([similarity(final_layers[a][l], final_layers[b][l])
                               for i, a in enumerate(seeds) for b in seeds[i + 1:]])) for l in LAYERS}
    prog = {s: {l: [(to_final[s][e][l] - floor[l]) / max(1 - floor[l], 1e-12) for e in epochs] for l in LAYERS}
            for s in seeds}
    return floor, prog


def progress(grams, seeds, epochs):
    """The first measure, CKA: :func:`relative_progress` of the linear CKA of each epoch's Gram
    matrices against the last epoch's, the floor between two seeds' final outputs."""
    last = epochs[-1]
    to_final = {s: {e: {l: analysis.linear_cka(grams[s][e][l], grams[s][last][l]) for l in LAYERS} for e in epochs}
                for s in seeds}
    return relative_progress(to_final, {s: grams[s][last] for s in seeds}, analysis.linear_cka, seeds, epochs)


def unit_progress(same, final, seeds, epochs):
    """The rule's measure: :func:`relative_progress` of the mean same-unit correlation with the
    last epoch, the floor the mean correlation of two seeds' final units paired one to one."""
    paired = lambda a, b: float(np.mean(analysis.matched_unit_correlations(a, b)))
    return relative_progress(same, final, paired, seeds, epochs)


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
    s1 = settings(ctx, seeds[0])
    _, _, x_val, _ = holdout(ctx.dataset().limit(s1.limit), s1)
    probes = x_val[:PROBES if not ctx.quick else 50]
    grams, same, final, runs, first = {}, {}, {}, {}, None
    for seed in seeds:
        s = settings(ctx, seed)
        run_dir = ctx.trained("fig4-small", cfg, s, ctx.dataset().limit(s.limit))
        runs[seed] = rep.run_label(run_dir)
        if first is None:  # seed 1: the pictures and the per-map settle epochs
            first = analyse_run(ctx, run_dir, s)
            draw(ctx, first)
        o = probe_outputs(ctx, run_dir, first["epochs"], probes)
        grams[seed], same[seed], final[seed] = o["grams"], o["same_unit"], o["final"]
        ctx.log("[fig4] seed %d: probe outputs at %d epochs" % (seed, len(first["epochs"])))
    epochs = first["epochs"]
    floor, prog = unit_progress(same, final, seeds, epochs)
    floor_cka, prog_cka = progress(grams, seeds, epochs)
    few = max(e for e in epochs if e <= FEW) if not ctx.quick else epochs[0]
    late = max(e for e in epochs if e <= LATE) if not ctx.quick else epochs[0]
    at = lambda l, e: [prog[sd][l][epochs.index(e)] for sd in seeds]
    tests = {"lower layers converge within a few epochs": rep.effect(at("conv1", few), [CONVERGED] * len(seeds), ">"),
             "upper layers develop late": rep.effect(at("conv5", late), [CONVERGED] * len(seeds), "<")}
    outcomes = {k: t["outcome"] for k, t in tests.items()}
    ctx.params.update(seeds=list(seeds), epochs=epochs, probes=len(probes), converged=CONVERGED, few=few,
                      late=late, maps_per_layer=MAPS, train_subset=SUBSET,
                      measure="each unit's responses on the probes against its own at the final epoch (correlation, "
                              "mean over the layer's units), relative to two seeds' final units paired one to one",
                      reported_measure="linear CKA of the layer's output on the probes against the final epoch's, "
                                       "relative to the CKA between two seeds' final outputs",
                      settled="(seed 1, reported) top image unchanged and projection correlation >= %.2f at "
                              "every later kept step" % SETTLED_CORR,
                      settings={k: v for k, v in settings(ctx, seeds[0]).to_dict().items() if k != "seed"})
    medians = {l: first["layers"][l]["median_settle_epoch"] for l in LAYERS}
    ctx.write_csv("progress.csv", ["measure", "seed", "layer"] + ["epoch %d" % e for e in epochs],
                  [[name, sd, l] + p[sd][l] for name, p in (("units", prog), ("cka", prog_cka))
                   for sd in seeds for l in LAYERS])
    ctx.write_csv("settle.csv", ["seed", "layer", "median_settle_epoch", "mean_settle_epoch"],
                  [[seeds[0], l, medians[l], float(np.mean(first["layers"][l]["settle_epochs"]))] for l in LAYERS])

    plt = plots.pyplot()
    fig, (a, c, b) = plt.subplots(1, 3, figsize=(15, 3.8))
    for ax, p, name in ((a, prog, "units (the rule)"), (c, prog_cka, "CKA (reported)")):
        for l in LAYERS:
            v = np.array([p[sd][l] for sd in seeds])
            ax.errorbar(epochs, v.mean(0), yerr=v.std(0, ddof=1) if len(seeds) > 1 else None, fmt="o-", capsize=2, label=l)
        ax.axhline(CONVERGED, color="grey", ls="--", label="converged")
        ax.set_xscale("log"); ax.set_xlabel("epoch"); ax.set_ylabel("progress to the final layer")
        ax.set_title("%s; 0 = another seed's layer" % name, fontsize=9)
        ax.grid(alpha=.3); ax.legend(fontsize=7)
    for l in LAYERS:
        b.plot(epochs, first["layers"][l]["weight_distance_to_final"], "o-", label=l)
    b.set_xscale("log"); b.set_xlabel("epoch"); b.set_ylabel("||W_e - W_final|| / ||W_final|| (seed %d)" % seeds[0])
    b.legend(fontsize=7); b.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("stability.png"), dpi=100)

    mean_at = lambda l, e: float(np.mean(at(l, e)))
    ours = ("progress to the final layer (units' responses on %d probes; 0 = another seed's net, 1 = final), mean over seeds "
            "%s: at epoch %d conv1..conv5 %s; at epoch %d %s; noise floors %s; conv1 converged by epoch %d: %s; "
            "conv5 not yet at epoch %d: %s" % (
                len(probes), ", ".join(map(str, seeds)), few, " / ".join("%.2f" % mean_at(l, few) for l in LAYERS),
                late, " / ".join("%.2f" % mean_at(l, late) for l in LAYERS),
                " / ".join("%.2f" % floor[l] for l in LAYERS), few, outcomes["lower layers converge within a few epochs"],
                late, outcomes["upper layers develop late"]))
    return {"epochs": epochs, "seeds": list(seeds), "runs": runs, "noise_floor": floor, "progress": prog,
            "noise_floor_cka": floor_cka, "progress_cka": prog_cka,
            "same_unit_correlation": {sd: {l: [same[sd][e][l] for e in epochs] for l in LAYERS} for sd in seeds},
            "tests": tests, "outcomes": outcomes,
            "seed1_per_map": {"channels": first["channels"], "layers": first["layers"]},
            "seed1_median_settle_epoch": medians,
            "summary": {
                "paper": "Lower layers converge within a few epochs; upper layers (conv5) only after 40-50 "
                         "epochs (ImageNet, 70 epochs)",
                "ours": ours,
                "holds": rep.verdict_of(outcomes.values()),
                "deviation": "Fashion-MNIST 28x28, 9,000 training images, %d epochs at a constant lr; checkpoints "
                             "at the paper's epochs %s" % (EPOCHS, ", ".join(map(str, PAPER_EPOCHS)))}}
