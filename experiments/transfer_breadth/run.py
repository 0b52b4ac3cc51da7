"""Transfer against the breadth of the pre-training source: the dose-response behind the
Fashion-MNIST transfer rows.

``transfer_classes`` pre-trains on five Fashion-MNIST classes and transfers to the other five;
the pre-trained features lose to a network trained from scratch there, and so do the other
transfer rows, which share its design. The paper's claim is about a broad source (1,000
ImageNet classes). This experiment asks whether the gap moves with the source's breadth.

For each of :data:`PARTITIONS` random partitions of the ten classes (``RandomState(p)``):
the first two classes of the permutation are the **target** (a two-way task never seen in
pre-training), the next 2, 5 and 8 are **sources** of growing breadth (nested: the 2 are among
the 5, the 5 among the 8). For each source, ``small`` with a k-way fc8 is pre-trained with a
shortened base protocol (:data:`PRETRAIN_EPOCHS` epochs, lr x0.1 after epoch
:data:`STEP`, the library's default init, training seed 1) on every training image of its
classes. On the target, with :data:`DRAWS` draws of n images per class (100 per class set
aside for early stopping):

* **pre-trained**: the frozen network up to ``relu7`` + a new softmax (Table 4's protocol), at
  n = :data:`SIZES`; and a linear SVM on each layer's features at n = :data:`LAYER_SIZE`
  (Table 7's protocol);
* **scratch**: the same architecture trained from scratch on the same images with early
  stopping (as ``transfer_classes``), at n = :data:`SCRATCH_SIZE`.

Tested over the partitions (paired t at 95%, three outcomes): (1) **dose-response**: the
pre-trained softmax's accuracy at n = :data:`SCRATCH_SIZE` is higher from 8 source classes
than from 2; (2) for each breadth, pre-trained against scratch at that n (reported, and
the row's claim "a broad enough source beats scratch" is the test at 8).
"""

PAPER_ITEMS = []
import os

import numpy as np

from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.repro import reproduce as rep
from zfnet.repro.analysis import linear_probe
from zfnet.train import Trainer, TrainSettings
from zfnet.vis import plots

PARTITIONS = 3
BREADTHS = (2, 5, 8)
TARGET = 2
PRETRAIN_EPOCHS, STEP = 5, 3
SIZES = (5, 15, 30)
SCRATCH_SIZE = 15
LAYER_SIZE = 30
DRAWS = 3
VAL_PER_CLASS = 100


def partition(p, n_classes=10):
    """Partition ``p``: (target classes, {breadth: source classes}), nested sources."""
    perm = np.random.RandomState(p).permutation(n_classes).tolist()
    return perm[:TARGET], {k: sorted(perm[TARGET:TARGET + k]) for k in BREADTHS}


def _tc():
    return rep.load_experiment("transfer_classes")


def pretrain_settings(quick):
    """The base protocol shortened to PRETRAIN_EPOCHS (quick: the base quick protocol)."""
    if quick:
        return rep.base_settings(True, seed=1)
    return rep.base_settings(False, seed=1, epochs=PRETRAIN_EPOCHS, step_size=STEP, keep=(PRETRAIN_EPOCHS,))


def pretrained_run(ctx, classes):
    """The shared run of ``small`` pre-trained on ``classes`` (a k-way fc8)."""
    tc = _tc()
    tag = "classes-" + "-".join(map(str, classes))
    return ctx.trained("fm%d-breadth" % len(classes), tc.network(len(classes)), pretrain_settings(ctx.quick),
                       tc.class_subset(ctx.fashion_mnist(), classes, tag))


def run(ctx):
    from zfnet.report import progress_bar
    ctx.require_default_data("it splits Fashion-MNIST's classes into sources and targets")
    tc = _tc()
    fm = ctx.fashion_mnist()
    parts = PARTITIONS if not ctx.quick else 2
    breadths = BREADTHS if not ctx.quick else (2, 8)
    sizes, scratch_n, layer_n = (SIZES, SCRATCH_SIZE, LAYER_SIZE) if not ctx.quick else ((3, 5), 5, 5)
    draws = DRAWS if not ctx.quick else 2
    max_updates, every, patience = (tc.MAX_UPDATES, tc.EVERY, tc.PATIENCE) if not ctx.quick else (40, 10, 20)
    layers = tc.LAYERS
    pre = {}      # pre[p][k][n] = accuracy per draw (softmax on relu7)
    lay = {}      # lay[p][k][layer] = accuracy per draw (linear SVM at layer_n)
    scratch = {}  # scratch[p] = accuracy per draw at scratch_n
    info = {}
    bar = progress_bar(ctx.progress, total=parts * (len(breadths) + 1), desc="breadth", leave=False)
    for p in range(parts):
        target, sources = partition(p)
        tgt = tc.class_subset(fm, target, "target-%d" % p)
        x, y, xt, yt = tgt.x_train, tgt.y_train, tgt.x_test, tgt.y_test
        pool, val = tc.split_pool(y, VAL_PER_CLASS if not ctx.quick else 10)
        idx = {(n, d): tc.draw(pool, y, n, d) for n in set(sizes) | {scratch_n, layer_n} for d in range(draws)}
        info[p] = {"target": [fm.class_names[c] for c in target],
                   "sources": {k: [fm.class_names[c] for c in sources[k]] for k in breadths}, "runs": {}}
        pre[p], lay[p] = {}, {}
        for k in breadths:
            run_dir = pretrained_run(ctx, sources[k])
            info[p]["runs"][k] = rep.run_label(run_dir)
            model = load_model(os.path.join(run_dir, "final"))
            imgs = np.unique(np.concatenate(list(idx.values())))
            pos = {int(i): j for j, i in enumerate(imgs)}
            rows = lambda n, d: [pos[int(i)] for i in idx[n, d]]
            pre[p][k], lay[p][k] = {n: [] for n in sizes}, {}
            for name, layer in layers:
                f_tr, f_te = tc.layer_features(model, layer, x[imgs], xt)
                lay[p][k][name] = [linear_probe(f_tr[rows(layer_n, d)], y[idx[layer_n, d]], f_te, yt, kind="svm")
                                   for d in range(draws)]
                if layer == "relu7":
                    for n in sizes:
                        pre[p][k][n] = [linear_probe(f_tr[rows(n, d)], y[idx[n, d]], f_te, yt, kind="softmax")
                                        for d in range(draws)]
            ctx.log("[breadth] partition %d, %d source classes: softmax %s" % (p, k, ", ".join(
                "%d/class %.1f%%" % (n, 100 * np.mean(pre[p][k][n])) for n in sizes)))
            bar.update(1)
        # from scratch on the target (independent of the source)
        trainer = Trainer(tc.network(TARGET), TrainSettings(batch_size=32, lr=0.01, clip_radius=0.1, seed=7))
        init = modelmod.get_weights(trainer.net)
        scratch[p] = []
        for d in range(draws):
            tr = idx[scratch_n, d]
            scratch[p].append(tc.scratch_accuracy(trainer, init, x[tr], y[tr], (x[val], y[val]), xt, yt,
                                                  1000 * scratch_n + d, max_updates, every, patience)[0])
        ctx.log("[breadth] partition %d scratch %d/class: %.1f%%" % (p, scratch_n, 100 * np.mean(scratch[p])))
        bar.update(1)
    bar.close()

    # per partition, the mean over draws
    P = list(range(parts))
    m_pre = {k: {n: [float(np.mean(pre[p][k][n])) for p in P] for n in sizes} for k in breadths}
    m_lay = {k: {name: [float(np.mean(lay[p][k][name])) for p in P] for name, _ in layers} for k in breadths}
    m_scr = [float(np.mean(scratch[p])) for p in P]
    lo, hi = breadths[0], breadths[-1]
    tests = {"dose-response: %d vs %d source classes" % (hi, lo): rep.effect(m_pre[hi][scratch_n], m_pre[lo][scratch_n], ">")}
    for k in breadths:
        tests["pre-trained (%d classes) vs scratch" % k] = rep.effect(m_pre[k][scratch_n], m_scr, ">")
    dose = tests["dose-response: %d vs %d source classes" % (hi, lo)]["outcome"]
    broad = tests["pre-trained (%d classes) vs scratch" % hi]["outcome"]
    ctx.params.update(partitions=info, breadths=list(breadths), target_classes=TARGET, sizes=list(sizes),
                      scratch_size=scratch_n, layer_size=layer_n, draws=draws,
                      pretrain_settings=pretrain_settings(ctx.quick).to_dict(),
                      early_stopping={"val_per_class": VAL_PER_CLASS if not ctx.quick else 10, "every": every,
                                      "patience": patience, "max_updates": max_updates},
                      classifier={"softmax": "LogisticRegression C=1 on standardised relu7",
                                  "layers": "linear SVM, C by 3-fold CV, L2-normalised features"})

    # ---- files
    names = [n for n, _ in layers]
    ctx.write_csv("breadth.csv", ["source classes"] + ["pre-trained %d/class %% (mean over partitions)" % n for n in sizes]
                  + ["scratch %d/class %%" % scratch_n, "pre-trained - scratch at %d/class" % scratch_n],
                  [[k] + [100 * np.mean(m_pre[k][n]) for n in sizes] + [100 * np.mean(m_scr),
                   100 * (np.mean(m_pre[k][scratch_n]) - np.mean(m_scr))] for k in breadths])
    ctx.write_csv("layers.csv", ["features"] + ["%d source classes, SVM %d/class %%" % (k, layer_n) for k in breadths]
                  + ["scratch %d/class %%" % scratch_n],
                  [[name] + [100 * np.mean(m_lay[k][name]) for k in breadths] + [100 * np.mean(m_scr)]
                   for name in names])
    plt = plots.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    ax = axes[0]
    for p in P:
        ax.plot(breadths, [100 * (m_pre[k][scratch_n][p] - m_scr[p]) for k in breadths], "o-", alpha=.6,
                label="partition %d (target: %s)" % (p, " / ".join(info[p]["target"])))
    ax.axhline(0, color="grey", ls="--")
    ax.set_xticks(breadths); ax.set_xlabel("pre-training classes")
    ax.set_ylabel("pre-trained - scratch, %d/class (points)" % scratch_n); ax.legend(fontsize=7); ax.grid(alpha=.3)
    ax = axes[1]
    for k, mk in zip(breadths, ("s-", "o-", "^-")):
        v = np.array([m_lay[k][name] for name in names]) * 100
        ax.errorbar(range(len(names)), v.mean(1), yerr=v.std(1, ddof=1) if v.shape[1] > 1 else None, fmt=mk,
                    capsize=3, label="%d source classes" % k)
    ax.axhline(100 * np.mean(m_scr), color="grey", ls="--", label="scratch, %d/class" % scratch_n)
    ax.set_xticks(range(len(names))); ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("target accuracy, SVM %d/class (%%)" % layer_n); ax.legend(fontsize=7); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("breadth.png"), dpi=100)

    best_layer = {k: max(names, key=lambda name: np.mean(m_lay[k][name])) for k in breadths}
    ours = ("two-way targets, %d partitions, %d/class: pre-trained relu7 + softmax from %s source classes: %s; "
            "scratch %s; pre-trained - scratch: %s; more sources help: %s; best layer (SVM %d/class): %s" % (
                parts, scratch_n, " / ".join(map(str, breadths)),
                " / ".join(rep.fmt_pct(np.mean(m_pre[k][scratch_n])) for k in breadths),
                rep.fmt_pct(np.mean(m_scr)),
                " / ".join("%+.1f" % (100 * (np.mean(m_pre[k][scratch_n]) - np.mean(m_scr))) for k in breadths),
                dose, layer_n, " / ".join(best_layer[k] for k in breadths)))
    return {"partitions": parts, "pretrained": {k: {n: {"per_partition": m_pre[k][n], "per_draw": {p: pre[p][k][n] for p in P}}
                                                   for n in sizes} for k in breadths},
            "layers": m_lay, "scratch": {"per_partition": m_scr, "per_draw": scratch}, "tests": tests,
            "outcomes": {"dose-response": dose, "broad source beats scratch": broad}, "best_layer": best_layer,
            "figures": ["breadth.png"],
            "summary": {
                "paper": "(not a paper item) Transfer from a network pre-trained on more classes is better; "
                         "a broad enough source beats training from scratch on few images",
                "ours": ours, "holds": rep.verdict_of([dose, broad]),
                "deviation": "Fashion-MNIST classes as sources (2/5/8) and a two-way target; %d epochs of "
                             "pre-training (the base protocol has 10); one pre-training seed per source, the "
                             "spread is over class partitions" % (PRETRAIN_EPOCHS if not ctx.quick else 2)}}
