"""Table 7: a linear SVM on the features of one layer at a time.

Features of the base model (trained on Fashion-MNIST), taken after each layer
block: layer 1 ``norm1``, 2 ``norm2``, 3 ``relu3``, 4 ``relu4``, 5 ``pool5``,
6 ``relu6``, 7 ``relu7`` (and the input pixels, "layer 0"). A linear SVM on
L2-normalised features (C by 3-fold cross-validation on the training images), on two tasks:

* digits (scikit-learn, 28x28 like MNIST): 30 training images per class (the
  paper's Caltech-101 setting), the rest for testing; 5 random splits;
* held-out Fashion-MNIST: 100 images per class from the validation split (never
  trained on), tested on 5,000 test images; 5 random splits.

Both are controls beside ``transfer_classes`` (the paper's setting: classes never seen in
pre-training): digits is a far transfer, Fashion-MNIST an in-domain one. Every number is
measured on the base model of every training seed. Rule, per task: features get more
discriminative with depth when the best of layers 5-7 beats the best of layers 1-2: a paired
t test over the seeds at 95% with three outcomes (holds / contradicted / not shown). "yes"
when it holds on both tasks, "partly" on one.
"""

PAPER_ITEMS = ["Table 7"]
ROLE = "control"  # beside transfer_classes, the paper's setting
import numpy as np

from zfnet.data.digits import digits_as_fashion_mnist
from zfnet.evaluate import batched, features_function
from zfnet.repro.analysis import SVM_C_GRID, linear_probe, per_class_split
from zfnet.io.checkpoint import load_model
from zfnet.vis import plots
from zfnet.repro import reproduce as rep

LAYERS = [("pixels", None), ("layer 1", "norm1"), ("layer 2", "norm2"), ("layer 3", "relu3"),
          ("layer 4", "relu4"), ("layer 5", "pool5"), ("layer 6", "relu6"), ("layer 7", "relu7")]
PAPER = {"Caltech-101 (30/class)": [44.8, 66.2, 72.3, 76.6, 86.2, None, 85.5],
         "Caltech-256 (60/class)": [24.6, 39.6, 46.0, 51.3, 65.6, None, 71.7]}


def accuracies(model, tasks, per_class, splits, progress):
    """{task: {layer name: {mean, std, runs, dim, layer}}} for one network."""
    from zfnet.report import progress_bar
    net = model.net
    acc = {t: {} for t in tasks}
    bar = progress_bar(progress, total=len(LAYERS) * len(tasks), desc="tab7", leave=False)
    for name, layer in LAYERS:
        fn = None if layer is None else features_function(net, [layer])
        feats = lambda x: (model.preprocess(x).reshape(len(x), -1) if fn is None
                           else batched(fn, model.preprocess(x))[0])
        for t, (x, y, xt, yt) in tasks.items():
            f, ft = feats(x), (feats(xt) if xt is not None else None)
            runs = []
            for s in range(splits):
                tr, te = per_class_split(y, per_class[t], seed=s)
                if ft is None:
                    runs.append(linear_probe(f[tr], y[tr], f[te], y[te], kind="svm"))
                else:
                    runs.append(linear_probe(f[tr], y[tr], ft, yt, kind="svm"))
            acc[t][name] = {"mean": float(np.mean(runs)), "std": float(np.std(runs)), "runs": runs,
                            "dim": int(f.shape[1]), "layer": layer}
            bar.update(1)
    bar.close()
    return acc


def run(ctx):
    run_dir, final = rep.base_model(ctx)
    ds = ctx.dataset()
    _, _, x_val, y_val = rep.base_holdout(ctx)
    model = load_model(final)
    digits = list(model.input_shape) == [1, 28, 28]  # a transfer task for grey 28x28 models
    n_test = 5000 if not ctx.quick else 300
    per_class = {"digits": 30 if not ctx.quick else 5, "fashion-mnist": 100 if not ctx.quick else 5}
    splits = 5 if not ctx.quick else 2
    seeds = rep.seeds_for(ctx)
    ctx.params.update(checkpoint=rep.run_label(final), layers=dict(LAYERS),
                      per_class=per_class, splits=splits, fm_test_images=n_test, seeds=seeds,
                      classifier="linear SVM (libsvm, precomputed linear kernel, one-vs-one) on "
                                 "L2-normalised features; C by 3-fold CV among %s"
                                 % (SVM_C_GRID,))
    tasks = {"fashion-mnist": (x_val, y_val, ds.x_test[:n_test], ds.y_test[:n_test])}
    if digits:
        tasks["digits"] = digits_as_fashion_mnist() + (None, None)
    by_seed = {}
    for seed in seeds:
        m = model if seed == seeds[0] else load_model(rep.base_model(ctx, seed=seed)[1])
        by_seed[seed] = accuracies(m, tasks, per_class, splits, ctx.progress)
    acc = {t: {n: {"mean": float(np.mean([by_seed[sd][t][n]["mean"] for sd in seeds])),
                   "std": float(np.std([by_seed[sd][t][n]["mean"] for sd in seeds], ddof=1)) if len(seeds) > 1 else 0.0,
                   "per_seed": [by_seed[sd][t][n]["mean"] for sd in seeds],
                   "dim": by_seed[seeds[0]][t][n]["dim"], "layer": by_seed[seeds[0]][t][n]["layer"]}
               for n, _ in LAYERS} for t in tasks}
    names = [n for n, _ in LAYERS]
    ctx.write_csv("accuracy.csv", ["features", "layer", "dim"] + sum(
        [["%s mean %%" % t, "%s std" % t] for t in tasks], []),
        [[n, l or "input", acc["fashion-mnist"][n]["dim"]] + sum(
            [[100 * acc[t][n]["mean"], 100 * acc[t][n]["std"]] for t in tasks], [])
         for n, l in LAYERS])
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    for t, m in zip(tasks, ("s-", "o-")):
        ax.errorbar(range(len(names)), [100 * acc[t][n]["mean"] for n in names],
                    yerr=[100 * acc[t][n]["std"] for n in names], fmt=m, capsize=3,
                    label="%s (%d/class)" % (t, per_class[t]))
    ax.set_xticks(range(len(names))); ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("linear SVM accuracy (%%, sd over %d seeds)" % len(seeds)); ax.legend(); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("layers.png"), dpi=100)

    def rises(t):
        top = [max(by_seed[sd][t][n]["mean"] for n in ("layer 5", "layer 6", "layer 7")) for sd in seeds]
        low = [max(by_seed[sd][t][n]["mean"] for n in ("layer 1", "layer 2")) for sd in seeds]
        return rep.effect(top, low, ">") if len(seeds) > 1 else None
    rise = {t: rises(t) for t in tasks}
    outcome = {t: r["outcome"] if r else "not shown" for t, r in rise.items()}
    ours = "; ".join("%s layers 1..7: %s (deeper beats shallower: %s)" % (t, " / ".join(
        "%.1f" % (100 * acc[t][n]["mean"]) for n in names[1:]), outcome[t]) for t in tasks)
    return {"seeds": seeds, "accuracy": acc, "by_seed": by_seed, "deep_minus_shallow": rise, "paper": PAPER,
            "summary": {
                "paper": "Caltech-101: 44.8 / 66.2 / 72.3 / 76.6 / 86.2 / - / 85.5% for layers 1-5, 7: "
                         "features get more discriminative with depth",
                "ours": ours + " (mean over %d seeds)" % len(seeds),
                "holds": rep.verdict_of(outcome.values()),
                "deviation": "controls: digits (far transfer, never seen) and held-out images of the "
                             "training classes (in domain); the unseen-class test is transfer_classes"}}
