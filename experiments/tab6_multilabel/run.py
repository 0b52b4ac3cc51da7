"""Table 6 analogue: multi-label images (PASCAL 2012 in the paper) from single-object training.

PASCAL images hold several objects; ImageNet images mostly one. Here: 56x56 mosaics, a 2x2 grid
of 28x28 cells holding 2-4 Fashion-MNIST items of the held-out classes 5-9 (Sandal, Shirt,
Sneaker, Bag, Ankle boot; the split of ``transfer_classes``), the other cells black; a mosaic's
labels are the classes present. 1,000 training mosaics are built from the held-out classes'
training images, 1,000 test mosaics from their test images (seed 0).

Features: the fully convolutional network run on the whole 56x56 mosaic gives a 5x5 map of
``relu7`` vectors; the feature of a mosaic is their maximum over positions (256-d). Classifier:
one-vs-rest logistic regression per class (C=1, standardised features), scored by average
precision on the test mosaics, and mean AP over the 5 classes.

* pre-trained: the networks pre-trained on classes 0-4 (``transfer_classes``, seeds 1-3);
* from scratch: the same architecture trained on 60 single images per held-out class with
  early stopping (as in ``transfer_classes``; init seeds 1-3), used the same way.

Each arm is also scored on single items (:data:`N_TRAIN` / :data:`N_TEST` single images of
the held-out classes, one label each, the same classifier). The paper's Table 6 makes two
claims, judged separately over the seeds at 95% with three outcomes:

* **single objects carry over to multi-object images**: features trained on single items of
  these classes (the scratch arm) lose less than :data:`MARGIN` of mean AP on mosaics against
  single items (a non-inferiority test, paired over seeds: mosaic - single > -MARGIN);
* **pre-trained features transfer**: the pre-trained arm's mosaic mean AP beats the scratch
  arm's (Welch's t: the arms are different networks).
"""

PAPER_ITEMS = ["Table 6"]
import os

import numpy as np

from zfnet.data import dataset as datamod
from zfnet.evaluate import batched, features_function
from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.repro import reproduce as rep
from zfnet.repro.scratch import train_from_scratch
from zfnet.train import Trainer, TrainSettings
from zfnet.vis import plots, render

N_TRAIN, N_TEST, CELL = 1000, 1000, 28
SCRATCH_PER_CLASS = 60
MARGIN = 0.05  # "carries over": at most 5 points of mean AP lost on mosaics
PAPER = {"PASCAL 2012 mean AP": {"ours (ImageNet-pretrained)": 79.0, "best published (Yan et al. 2012, NUS-PSL)": 82.2}}


def mosaics(x, y, n, n_classes, seed):
    """``n`` 2x2 mosaics of 2-4 items drawn from (x, y): images (n, C, 2*h, 2*w) and a
    multi-hot label matrix (n, n_classes)."""
    rng = np.random.RandomState(seed)
    c, h, w = x.shape[1:]
    out = np.zeros((n, c, 2 * h, 2 * w), np.uint8)
    lab = np.zeros((n, n_classes), np.int32)
    for i in range(n):
        k = rng.randint(2, 5)
        cells = rng.choice(4, k, replace=False)
        for cell, j in zip(cells, rng.choice(len(x), k, replace=False)):
            r, q = divmod(int(cell), 2)
            out[i, :, r * h:(r + 1) * h, q * w:(q + 1) * w] = x[j]
            lab[i, y[j]] = 1
    return out, lab


def spatial_max_relu7(model, *xs):
    """max over positions of ``relu7`` of the network run fully convolutionally on each image
    batch of ``xs`` (all of one size; the network is built and compiled once)."""
    net = modelmod.build(model.config, input_shape=xs[0].shape[1:])
    modelmod.set_weights(net, modelmod.get_weights(model.net))
    fn = features_function(net, ["relu7"])
    shape = tuple(net["relu7"].output_shape[1:])
    return [batched(fn, model.preprocess(x))[0].reshape((len(x),) + shape).max(axis=(2, 3)) for x in xs]


def ap_scores(f_tr, lab_tr, f_te, lab_te):
    """Per-class average precision of one-vs-rest logistic regressions."""
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import average_precision_score
    from sklearn.preprocessing import StandardScaler
    sc = StandardScaler().fit(f_tr)
    a, b = sc.transform(f_tr), sc.transform(f_te)
    aps = []
    for c in range(lab_tr.shape[1]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(a, lab_tr[:, c])
        aps.append(float(average_precision_score(lab_te[:, c], clf.decision_function(b))))
    return aps


def run(ctx):
    ctx.require_default_data("its mosaics are built from Fashion-MNIST's held-out classes")
    tc = rep.load_experiment("transfer_classes")
    seeds = rep.seeds_for(ctx)
    held = tc.held_out_data(ctx)
    n_tr, n_te = (N_TRAIN, N_TEST) if not ctx.quick else (60, 60)
    nc = len(held.class_names)
    pool, val = tc.split_pool(held.y_train, tc.VAL_PER_CLASS if not ctx.quick else 10)
    x_tr, lab_tr = mosaics(held.x_train[pool], held.y_train[pool], n_tr, nc, seed=0)
    x_te, lab_te = mosaics(held.x_test, held.y_test, n_te, nc, seed=1)
    ctx.params.update(mosaic="2x2 cells of 28x28, 2-4 items, black elsewhere", train_mosaics=n_tr,
                      test_mosaics=n_te, classes=held.class_names, seeds=seeds,
                      features="max over the 5x5 positions of relu7 on the 56x56 mosaic",
                      classifier="one-vs-rest LogisticRegression C=1 on standardised features",
                      scratch_images_per_class=SCRATCH_PER_CLASS)
    # single items of the same classes, one label each
    rng = np.random.RandomState(2)
    s_tr = rng.choice(pool, n_tr, replace=False)
    s_te = rng.choice(len(held.x_test), n_te, replace=False)
    one_hot = lambda y: np.eye(nc, dtype=np.int32)[y]

    def single(model):
        f_tr, f_te = spatial_max_relu7(model, held.x_train[s_tr], held.x_test[s_te])
        return ap_scores(f_tr, one_hot(held.y_train[s_tr]), f_te, one_hot(held.y_test[s_te]))
    res = {"pretrained": {}, "scratch": {}}
    res_single = {"pretrained": {}, "scratch": {}}
    for s in seeds:
        model = load_model(os.path.join(tc.pretrained_run(ctx, s), "final"))
        f_tr, f_te = spatial_max_relu7(model, x_tr, x_te)
        res["pretrained"][s] = ap_scores(f_tr, lab_tr, f_te, lab_te)
        res_single["pretrained"][s] = single(model)
        ctx.log("[tab6] pretrained seed %d: mAP %.3f" % (s, np.mean(res["pretrained"][s])))
    # from scratch on single images of the held-out classes, then used the same way
    per_class = SCRATCH_PER_CLASS if not ctx.quick else 5
    mu, mx, pat = (tc.MAX_UPDATES, tc.EVERY, tc.PATIENCE) if not ctx.quick else (40, 10, 20)
    idx = tc.draw(pool, held.y_train, per_class, 0)
    for s in seeds:
        settings = TrainSettings(batch_size=32, lr=0.01, clip_radius=0.1, seed=s)
        trainer = Trainer(tc.network(nc), settings)
        init = modelmod.get_weights(trainer.net)
        mean, std, _, _ = train_from_scratch(trainer, init, held.x_train[idx], held.y_train[idx], s, mu,
                                             val=(held.x_train[val], held.y_train[val]), every=mx, patience=pat)
        model = _Scratch(tc.network(nc), trainer.net, mean, std)
        f_tr, f_te = spatial_max_relu7(model, x_tr, x_te)
        res["scratch"][s] = ap_scores(f_tr, lab_tr, f_te, lab_te)
        res_single["scratch"][s] = single(model)
        ctx.log("[tab6] scratch seed %d: mAP %.3f" % (s, np.mean(res["scratch"][s])))

    m = {k: [float(np.mean(v[s])) for s in seeds] for k, v in res.items()}
    m1 = {k: [float(np.mean(v[s])) for s in seeds] for k, v in res_single.items()}
    tests = {}
    if len(seeds) > 1:
        tests["carries over"] = rep.effect(m["scratch"], [v - MARGIN for v in m1["scratch"]], ">")
        tests["pre-trained transfers"] = rep.effect(m["pretrained"], m["scratch"], ">", paired=False)
    outcome = {k: tests[k]["outcome"] if k in tests else "not shown" for k in ("carries over", "pre-trained transfers")}
    per_class_ap = {k: {c: float(np.mean([v[s][i] for s in seeds])) for i, c in enumerate(held.class_names)}
                    for k, v in res.items()}
    ctx.write_csv("ap.csv", ["class", "pretrained AP (mean over seeds)", "scratch AP (mean over seeds)"],
                  [[c, per_class_ap["pretrained"][c], per_class_ap["scratch"][c]] for c in held.class_names]
                  + [["mean AP", float(np.mean(m["pretrained"])), float(np.mean(m["scratch"]))]])
    # picture: some test mosaics with their labels, and the per-class APs
    tiles = [render.fit_tile(render.pixels_to_rgb(x_te[i]), 84) for i in range(8)]
    render.save_png(render.tile(tiles, cols=8, pad=2), ctx.path("mosaics.png"))
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    xs = np.arange(nc + 1)
    for off, k in ((-0.2, "pretrained"), (0.2, "scratch")):
        vals = [[v[s][i] for s in seeds] for i in range(nc) for v in [res[k]]] + [m[k]]
        ax.bar(xs + off, [100 * np.mean(v) for v in vals], 0.4,
               yerr=[100 * np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals], capsize=3,
               label={"pretrained": "pre-trained on classes 0-4", "scratch": "from scratch (60/class)"}[k])
    ax.set_xticks(xs); ax.set_xticklabels(held.class_names + ["mean AP"], rotation=20, fontsize=8)
    ax.set_ylabel("average precision (%)"); ax.legend(fontsize=8); ax.grid(alpha=.3, axis="y")
    plots.save_figure(fig, ctx.path("ap.png"), dpi=100)
    return {"seeds": seeds, "mAP": {k: {"mean": float(np.mean(v)), "per_seed": v} for k, v in m.items()},
            "mAP_single_items": {k: {"mean": float(np.mean(v)), "per_seed": v} for k, v in m1.items()},
            "per_class_AP": per_class_ap, "AP_runs": res, "AP_runs_single_items": res_single,
            "tests": tests, "outcomes": outcome, "margin": MARGIN,
            "paper": PAPER, "figures": ["mosaics.png", "ap.png"],
            "summary": {
                "paper": "PASCAL 2012 (several objects per image) with ImageNet features: mean AP 79.0%, "
                         "close to the best published 82.2%, though ImageNet images hold mostly one object",
                "ours": "mean AP on 2-4-item mosaics of unseen classes vs single items: from scratch on single "
                        "items %.1f%% vs %.1f%% (carries over within %.0f points: %s); pre-trained on classes "
                        "0-4 %.1f%% vs from scratch %.1f%% (pre-trained transfers: %s)" % (
                            100 * np.mean(m["scratch"]), 100 * np.mean(m1["scratch"]), 100 * MARGIN,
                            outcome["carries over"], 100 * np.mean(m["pretrained"]), 100 * np.mean(m["scratch"]),
                            outcome["pre-trained transfers"]),
                "holds": rep.verdict_of(outcome.values()),
                "deviation": "Fashion-MNIST mosaics of held-out classes instead of PASCAL; the published "
                             "baseline is replaced by our network trained from scratch on single items; "
                             "%d seeds" % len(seeds)}}


class _Scratch(object):
    """What :func:`spatial_max_relu7` needs of a model, for a network trained here."""

    def __init__(self, config, net, mean, std):
        self.config, self.net = config, net
        self.preprocessing = {"mean": mean, "std": std}
        self.preprocess = lambda x: datamod.normalize(x, mean, std)
