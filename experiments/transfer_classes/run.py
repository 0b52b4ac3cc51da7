"""Tables 4, 5, 7 and Fig. 9: transfer to classes the network never saw.

The paper pre-trains on ImageNet and transfers to Caltech-101/256, whose classes the
network was not trained on. Here Fashion-MNIST is split by class:

* pre-training classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat): ``small`` with a
  5-way fc8, trained with the base protocol (10 epochs, 25,000 train / 5,000 validation
  images), once per training seed 1, 2, 3;
* held-out classes 5-9 (Sandal, Shirt, Sneaker, Bag, Ankle boot): the transfer task. 100
  training images per class are set aside (seed 0) as the early-stopping split of the
  networks trained from scratch; the few-shot training sets are drawn from the other 5,900
  per class (5 draws per size, the same draws for every method and seed); testing is on all
  5,000 test images of these classes.

Table 4 / Table 5 / Fig. 9: *pretrained* = the frozen network up to ``relu7`` + a new softmax
(multinomial logistic regression, C=1, standardised features) on the few-shot images;
*scratch* = the same architecture, randomly initialised, trained on the same images by SGD
(batch 32, lr 0.01, Nesterov 0.9, weight decay 5e-4, clipping 0.1, random crops of the
2-padded image) until the early-stopping split's accuracy has not improved for
:data:`PATIENCE` updates (checked every :data:`EVERY`), keeping the best weights.

Table 7: a linear SVM (C by 3-fold cross-validation) and a softmax on the features of one
layer at a time, at 15, 30 and 60 images per class.
"""

PAPER_ITEMS = ["Table 4", "Fig. 9", "Table 5", "Table 7"]
import os

import numpy as np

from zfnet.data import dataset as datamod
from zfnet.data.dataset import Dataset
from zfnet.evaluate import batched, features_function
from zfnet.io.checkpoint import load_model
from zfnet.nn import configs
from zfnet.nn import model as modelmod
from zfnet.repro import reproduce as rep
from zfnet.repro.analysis import linear_probe
from zfnet.repro.scratch import train_from_scratch
from zfnet.train import Trainer, TrainSettings
from zfnet.vis import plots

PRETRAIN, HELD_OUT = (0, 1, 2, 3, 4), (5, 6, 7, 8, 9)
SIZES = [1, 3, 6, 10, 15, 30, 45, 60]        # Fig. 9 (and Table 5's 15/30/45/60)
SCRATCH_SIZES = [15, 30, 45, 60]              # Tables 4 and 5
TAB7_SIZES = [15, 30, 60]
DRAWS = 5
VAL_PER_CLASS = 100
EVERY, PATIENCE, MAX_UPDATES = 50, 300, 2000
LAYERS = [("pixels", None), ("layer 1", "norm1"), ("layer 2", "norm2"), ("layer 3", "relu3"),
          ("layer 4", "relu4"), ("layer 5", "pool5"), ("layer 6", "relu6"), ("layer 7", "relu7")]
PAPER = {"Table 4: Caltech-101 (15 / 30 per class)": {"pretrained": [83.8, 86.5], "scratch": [22.8, 46.5]},
         "Table 5: Caltech-256 (15 / 30 / 45 / 60 per class)": {"pretrained": [65.7, 70.6, 72.7, 74.2],
                                                               "scratch": [9.0, 22.5, 31.2, 38.8]},
         "Table 7: Caltech-101 30/class | Caltech-256 60/class, layers 1-5, 7":
             {"cal101": [44.8, 66.2, 72.3, 76.6, 86.2, None, 85.5],
              "cal256": [24.6, 39.6, 46.0, 51.3, 65.6, None, 71.7]}}


def class_subset(ds, classes, tag):
    """``ds`` restricted to ``classes``, relabelled 0..len(classes)-1."""
    classes = list(classes)
    lut = np.full(max(10, max(classes) + 1), -1, np.int32)
    lut[classes] = np.arange(len(classes))
    mtr, mte = np.isin(ds.y_train, classes), np.isin(ds.y_test, classes)
    return Dataset("%s-%s" % (ds.name, tag), ds.x_train[mtr], lut[ds.y_train[mtr]], ds.x_test[mte],
                   lut[ds.y_test[mte]], [ds.class_names[c] for c in classes])


def pretrain_data(ctx):
    return class_subset(ctx.fashion_mnist(), PRETRAIN, "classes-0-4")


def held_out_data(ctx):
    return class_subset(ctx.fashion_mnist(), HELD_OUT, "classes-5-9")


def network(n_classes):
    cfg = configs.small(num_classes=n_classes)
    cfg["name"] = "small-%dway" % n_classes
    return cfg


def pretrained_run(ctx, seed):
    """The network pre-trained on classes 0-4 with training seed ``seed`` (shared, cached)."""
    return ctx.trained("fm5-small", network(len(PRETRAIN)), rep.base_settings(ctx.quick, seed=seed),
                       pretrain_data(ctx))


def split_pool(y, val_per_class, seed=0):
    """Indices (pool, val): ``val_per_class`` images of each class for early stopping, the
    rest as the pool the few-shot training sets are drawn from."""
    rng = np.random.RandomState(seed)
    val = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:val_per_class] for c in np.unique(y)])
    return np.setdiff1d(np.arange(len(y)), val), np.sort(val)


def draw(pool, y, n, d):
    """Draw ``d`` of ``n`` images per class from ``pool`` (indices into ``y``); nested in ``n``
    (the 15 of a draw are the first 15 of its 30), as a fixed order per class and draw."""
    rng = np.random.RandomState(1000 + d)
    return np.sort(np.concatenate([rng.permutation(pool[y[pool] == c])[:n] for c in np.unique(y)]))


def layer_features(model, layer, *xs):
    """Each uint8 image batch of ``xs`` as flat features of ``layer`` of ``model`` (its
    preprocessed pixels when ``layer`` is None)."""
    if layer is None:
        return [model.preprocess(x).reshape(len(x), -1) for x in xs]
    fn = features_function(model.net, [layer])
    return [batched(fn, model.preprocess(x))[0].reshape(len(x), -1) for x in xs]


def scratch_accuracy(trainer, init, x, y, val, xt, yt, seed, max_updates, every, patience):
    """Train ``trainer``'s net from ``init`` on (x, y) with early stopping on ``val``; returns
    (test accuracy on (xt, yt), the update whose weights were kept)."""
    mean, std, u, _ = train_from_scratch(trainer, init, x, y, seed, max_updates, val=val, every=every,
                                         patience=patience)
    lg = batched(trainer.logits_fn, xt, prepare=lambda b: datamod.normalize(b, mean, std))[0]
    return float((lg.argmax(1) == yt).mean()), u


def overall(verdicts):
    """One verdict for the experiment from its items': 'yes' when all are, 'no' when all are,
    else 'partly' (each item keeps its own row on the page)."""
    if all(v == "yes" for v in verdicts):
        return "yes"
    return "no" if all(v == "no" for v in verdicts) else "partly"


def _stats(v):
    v = np.asarray(v, np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else None}


def run(ctx):
    from zfnet.report import progress_bar
    ctx.require_default_data("it splits Fashion-MNIST's classes into pre-training and transfer halves")
    seeds = rep.seeds_for(ctx)
    held = held_out_data(ctx)
    pool, val = split_pool(held.y_train, VAL_PER_CLASS if not ctx.quick else 10)
    sizes = SIZES if not ctx.quick else [1, 5]
    scratch_sizes = SCRATCH_SIZES if not ctx.quick else [5]
    tab7_sizes = TAB7_SIZES if not ctx.quick else [5]
    draws = DRAWS if not ctx.quick else 2
    max_updates, every, patience = (MAX_UPDATES, EVERY, PATIENCE) if not ctx.quick else (40, 10, 20)
    x, y, xt, yt = held.x_train, held.y_train, held.x_test, held.y_test
    idx = {(n, d): draw(pool, y, n, d) for n in sorted(set(sizes) | set(scratch_sizes) | set(tab7_sizes))
           for d in range(draws)}
    runs = {s: pretrained_run(ctx, s) for s in seeds}
    ctx.params.update(
        split={"pretrain_classes": [ctx.fashion_mnist().class_names[c] for c in PRETRAIN],
               "held_out_classes": held.class_names},
        pretrain_settings=rep.base_settings(ctx.quick).to_dict(), seeds=seeds,
        pretrained_runs={s: rep.run_label(r) for s, r in runs.items()},
        sizes=sizes, scratch_sizes=scratch_sizes, tab7_sizes=tab7_sizes, draws=draws,
        early_stopping={"val_per_class": int(len(val) // len(HELD_OUT)), "every": every,
                        "patience": patience, "max_updates": max_updates},
        test_images=len(xt), features="relu7 (fc7 after ReLU)", classifier="LogisticRegression C=1")

    # ---- pretrained features + softmax (Tables 4, 5, Fig. 9) and per-layer probes (Table 7)
    pre = {s: {n: [] for n in sizes} for s in seeds}
    t7 = {k: {s: {name: {n: [] for n in tab7_sizes} for name, _ in LAYERS} for s in seeds}
          for k in ("svm", "softmax")}
    # every draw's images (the draws are nested, so this is about the largest draws), their
    # features computed once per layer and seed; relu7's serve the new softmax too
    imgs = np.unique(np.concatenate(list(idx.values())))
    pos = {int(i): j for j, i in enumerate(imgs)}
    rows = lambda n, d: [pos[int(i)] for i in idx[n, d]]
    bar = progress_bar(ctx.progress, total=len(seeds) * len(LAYERS), desc="transfer features", leave=False)
    for s in seeds:
        model = load_model(os.path.join(runs[s], "final"))
        for name, layer in LAYERS:
            f_tr, f_te = layer_features(model, layer, x[imgs], xt)
            for n in tab7_sizes:
                for d in range(draws):
                    for k in ("svm", "softmax"):
                        t7[k][s][name][n].append(linear_probe(f_tr[rows(n, d)], y[idx[n, d]], f_te, yt, kind=k))
            if layer == "relu7":
                for n in sizes:
                    for d in range(draws):
                        pre[s][n].append(linear_probe(f_tr[rows(n, d)], y[idx[n, d]], f_te, yt, kind="softmax"))
            bar.update(1)
        ctx.log("[transfer] seed %d pretrained softmax: %s" % (s, ", ".join(
            "%d/class %.1f%%" % (n, 100 * np.mean(pre[s][n])) for n in sizes)))
    bar.close()

    # ---- from scratch, with early stopping (independent of the pre-training seed)
    settings = TrainSettings(batch_size=32, lr=0.01, clip_radius=0.1, init="he", seed=7)
    trainer = Trainer(network(len(HELD_OUT)), settings)
    init = modelmod.get_weights(trainer.net)
    scratch = {n: [] for n in scratch_sizes}
    scratch_updates = {n: [] for n in scratch_sizes}
    bar = progress_bar(ctx.progress, total=len(scratch_sizes) * draws, desc="from scratch", leave=False)
    for n in scratch_sizes:
        for d in range(draws):
            acc, u = scratch_accuracy(trainer, init, x[idx[n, d]], y[idx[n, d]], (x[val], y[val]), xt, yt,
                                      1000 * n + d, max_updates, every, patience)
            scratch[n].append(acc)
            scratch_updates[n].append(u)
            bar.update(1)
        ctx.log("[transfer] scratch %d/class: %.1f%% (best after %s updates)"
                % (n, 100 * np.mean(scratch[n]), scratch_updates[n]))
    bar.close()

    # ---- numbers: per seed the mean over draws; per draw the mean over seeds
    pre_seed = {n: [float(np.mean(pre[s][n])) for s in seeds] for n in sizes}
    pre_draw = {n: [float(np.mean([pre[s][n][d] for s in seeds])) for d in range(draws)] for n in sizes}
    stats_pre = {n: dict(_stats(pre_seed[n]), per_seed=pre_seed[n], per_draw=pre_draw[n]) for n in sizes}
    stats_scr = {n: dict(_stats(scratch[n]), per_draw=scratch[n], updates=scratch_updates[n])
                 for n in scratch_sizes}

    def beats(n_pre, n_scr):
        """Pretrained at n_pre vs scratch at n_scr, a paired t test over the draws (each draw's
        pretrained accuracy averaged over the seeds), 95%, three outcomes."""
        return rep.effect(pre_draw[n_pre], scratch[n_scr], ">")

    cmp = {n: beats(n, n) for n in scratch_sizes}
    t4 = [n for n in (15, 30) if n in scratch_sizes] or scratch_sizes
    t5 = [n for n in (15, 30, 45, 60) if n in scratch_sizes] or scratch_sizes
    few, many = (6, 60) if not ctx.quick else (1, 5)
    fig9 = beats(few, many)
    # Fig. 9's second part: accuracy rises with the images per class (largest vs smallest size),
    # for the pre-trained arm (paired over the seeds) and for scratch (paired over the draws)
    rise = {"pretrained": rep.effect(pre_seed[sizes[-1]], pre_seed[sizes[0]], ">") if len(seeds) > 1 else None,
            "scratch": rep.effect(scratch[scratch_sizes[-1]], scratch[scratch_sizes[0]], ">")
            if len(scratch_sizes) > 1 else None}
    rises = rep.combine_outcomes(e["outcome"] for e in rise.values() if e is not None)

    # Table 7: accuracy per layer, mean over draws, per seed
    t7_seed = {k: {name: {n: [float(np.mean(t7[k][s][name][n])) for s in seeds] for n in tab7_sizes}
                   for name, _ in LAYERS} for k in t7}
    names = [n for n, _ in LAYERS]
    deep_vs_shallow = {}
    for k in t7:
        for n in tab7_sizes:
            top = [max(t7_seed[k][L][n][i] for L in ("layer 5", "layer 6", "layer 7")) for i in range(len(seeds))]
            low = [max(t7_seed[k][L][n][i] for L in ("layer 1", "layer 2")) for i in range(len(seeds))]
            deep_vs_shallow["%s %d/class" % (k, n)] = rep.effect(top, low, ">") if len(seeds) > 1 else None

    # ---- files
    ctx.write_csv("fig9_table5.csv", ["images per class", "pretrained mean %", "pretrained sd over seeds",
                                      "scratch mean %", "scratch sd over draws"],
                  [[n, 100 * stats_pre[n]["mean"], 100 * (stats_pre[n]["sd"] or 0),
                    100 * stats_scr[n]["mean"] if n in stats_scr else "",
                    100 * (stats_scr[n]["sd"] or 0) if n in stats_scr else ""] for n in sizes])
    ctx.write_csv("table7.csv", ["features", "layer"] + ["%s %d/class mean %%" % (k, n) for k in t7
                                                         for n in tab7_sizes],
                  [[name, layer or "input"] + [100 * np.mean(t7_seed[k][name][n]) for k in t7
                                               for n in tab7_sizes] for name, layer in LAYERS])
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(sizes, [100 * stats_pre[n]["mean"] for n in sizes],
                yerr=[100 * (stats_pre[n]["sd"] or 0) for n in sizes], fmt="o-", capsize=3,
                label="pre-trained on classes 0-4, relu7 + softmax (sd over %d seeds)" % len(seeds))
    ax.errorbar(scratch_sizes, [100 * stats_scr[n]["mean"] for n in scratch_sizes],
                yerr=[100 * (stats_scr[n]["sd"] or 0) for n in scratch_sizes], fmt="s--", capsize=3,
                label="from scratch, early stopping (sd over %d draws)" % draws)
    ax.set_xscale("log"); ax.set_xticks(sizes); ax.set_xticklabels(sizes)
    ax.set_xlabel("training images per class (classes 5-9, never seen in pre-training)")
    ax.set_ylabel("test accuracy (%)"); ax.legend(fontsize=8); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("fig9_accuracy_vs_images.png"), dpi=100)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    for ax, k in zip(axes, ("svm", "softmax")):
        for n, m in zip(tab7_sizes, ("o-", "s-", "^-")):
            v = np.array([t7_seed[k][name][n] for name in names]) * 100
            ax.errorbar(range(len(names)), v.mean(1), yerr=v.std(1, ddof=1) if v.shape[1] > 1 else None,
                        fmt=m, capsize=3, label="%d/class" % n)
        ax.set_xticks(range(len(names))); ax.set_xticklabels(names, rotation=20)
        ax.set_title("linear %s on one layer's features" % ("SVM" if k == "svm" else "softmax"))
        ax.grid(alpha=.3); ax.legend(fontsize=8)
    axes[0].set_ylabel("held-out classes test accuracy (%)")
    plots.save_figure(fig, ctx.path("table7_layers.png"), dpi=100)

    pct = lambda v: "%.1f" % (100 * v)
    dev = ("Fashion-MNIST split by class (pre-train 0-4, transfer to 5-9) instead of ImageNet -> "
           "Caltech; %d pre-training seeds, %d draws per size" % (len(seeds), draws))
    t4_out = rep.combine_outcomes(cmp[n]["outcome"] for n in t4)
    t5_out = rep.combine_outcomes(cmp[n]["outcome"] for n in t5)
    t7_out = rep.combine_outcomes(e["outcome"] if e else "not shown" for e in deep_vs_shallow.values())
    items = {
        "Table 4": {"paper": "Caltech-101 15/30 per class: pretrained 83.8 / 86.5% vs scratch 22.8 / 46.5%",
                    "ours": "; ".join("%d/class: pretrained %s%% vs scratch %s%% (difference %+.1f, 95%% CI "
                                      "[%+.1f, %+.1f], %s)" % (
                                          n, pct(stats_pre[n]["mean"]), pct(stats_scr[n]["mean"]), 100 * cmp[n]["mean"],
                                          100 * cmp[n]["ci"][0], 100 * cmp[n]["ci"][1], cmp[n]["outcome"]) for n in t4),
                    "holds": rep.verdict_of([t4_out]), "deviation": dev},
        "Fig. 9": {"paper": "Caltech-256: with 6 images per class the pre-trained features beat the best "
                            "published result trained on 60 per class; accuracy rises with images per class",
                   "ours": "pretrained: %s%% at %s per class; pretrained at %d/class %s%% vs scratch at "
                           "%d/class %s%% (%s); accuracy rises with images per class: %s" % (
                               " / ".join(pct(stats_pre[n]["mean"]) for n in sizes), "/".join(map(str, sizes)),
                               few, pct(stats_pre[few]["mean"]), many, pct(stats_scr[many]["mean"]),
                               fig9["outcome"], rises),
                   "holds": rep.verdict_of([fig9["outcome"], rises]), "deviation": dev +
                   "; the published baseline is replaced by our network trained from scratch on 60/class"},
        "Table 5": {"paper": "Caltech-256 15/30/45/60 per class: pretrained 65.7 / 70.6 / 72.7 / 74.2% vs "
                             "scratch 9.0 / 22.5 / 31.2 / 38.8%",
                    "ours": "pretrained %s%% vs scratch %s%% at %s per class" % (
                        " / ".join(pct(stats_pre[n]["mean"]) for n in t5),
                        " / ".join(pct(stats_scr[n]["mean"]) for n in t5), "/".join(map(str, t5))),
                    "holds": rep.verdict_of([t5_out]), "deviation": dev},
        "Table 7": {"paper": "Caltech-101 linear SVM: 44.8 / 66.2 / 72.3 / 76.6 / 86.2 / - / 85.5% for layers "
                             "1-5, 7: features get more discriminative with depth",
                    "ours": "held-out classes, %d/class, layers 1..7: SVM %s; softmax %s" % (
                        tab7_sizes[min(1, len(tab7_sizes) - 1)],
                        " / ".join(pct(np.mean(t7_seed["svm"][L][tab7_sizes[min(1, len(tab7_sizes) - 1)]]))
                                   for L in names[1:]),
                        " / ".join(pct(np.mean(t7_seed["softmax"][L][tab7_sizes[min(1, len(tab7_sizes) - 1)]]))
                                   for L in names[1:])),
                    "holds": rep.verdict_of([t7_out]),
                    "deviation": dev}}
    return {"seeds": seeds, "pretrained": {n: dict(stats_pre[n], runs={s: pre[s][n] for s in seeds})
                                           for n in sizes},
            "scratch": stats_scr, "pretrained_vs_scratch": cmp, "fig9_few_vs_many": fig9, "fig9_rise": rise,
            "table7": {k: {name: {n: dict(_stats(t7_seed[k][name][n]), per_seed=t7_seed[k][name][n])
                                  for n in tab7_sizes} for name in names} for k in t7},
            "table7_deep_vs_shallow": deep_vs_shallow, "paper": PAPER,
            "item_summaries": items,
            "summary": {"paper": "; ".join("%s: %s" % (k, v["paper"]) for k, v in items.items()),
                        "ours": "; ".join("%s: %s" % (k, v["ours"]) for k, v in items.items()),
                        "holds": overall([v["holds"] for v in items.values()]),
                        "deviation": dev}}
