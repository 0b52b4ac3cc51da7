"""Table 3: architecture ablations under one protocol, over training seeds.

Variants of the ``small`` network, each trained with training seeds 1, 2, 3 to convergence with
the base protocol (10 epochs, lr 0.01 x0.1 after epoch 6, the library's default init) on a
20,000-image subset of Fashion-MNIST's training split (18,000 to train, 2,000 held out)
(:func:`settings`): the paper's removals (conv3-4, fc7, fc6-7, conv3-4 and fc6-7), fc width
halved and doubled, conv3-5 widened (the paper's 384/384/256 -> 512/1024/512, i.e. x1.33,
x2.67, x2: here 96/96/64 -> 128/256/128), and both widenings together. Train error is measured
on 10,000 training images without augmentation or dropout; test error on the 10,000 test
images.

The paper's lesson in six parts, each tested on test error with Welch's t test across the
architectures (different networks, seeds do not pair them) at 95%, three outcomes:

1. removing fc6-7 costs little: its error is below that of removing conv3-4 and fc6-7 together;
2. removing conv3-4 costs little: likewise;
3. removing both is much worse than the full model;
4. fc width matters little: halving and doubling fc6-7 each change the error by less than
   :data:`SMALL` points (an equivalence test: the interval inside +-SMALL);
5. a wider conv part helps: conv3-5 widened has lower error than the full model;
6. widening both overfits: the gap test - train error of the doubly widened net is larger than
   that of the conv-widened one.
"""

PAPER_ITEMS = ["Table 3"]
import copy
import os
from collections import OrderedDict

import numpy as np

from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.vis import plots
from zfnet.repro import reproduce as rep
from zfnet.evaluate import evaluate_net, logits_function

PAPER = {  # train top-1, val top-1, val top-5 (ImageNet)
    "ZF model (ours: small)": (33.1, 38.4, 16.5),
    "fc6, fc7 halved": (38.2, 40.2, 17.6),
    "fc6, fc7 doubled": (22.0, 38.8, 17.0),
    "conv3-5 widened": (18.8, 37.5, 16.0),
    "conv3-5 widened + fc6, fc7 doubled": (None, None, None),  # the row is not in our copy of the summary
    "Krizhevsky: none removed": (35.1, 40.5, 18.1),
    "- conv3, conv4": (41.8, 45.4, 22.1),
    "- fc7": (27.4, 40.0, 18.4),
    "- fc6, fc7": (27.4, 44.8, 22.4),
    "- conv3, conv4, fc6, fc7": (71.1, 71.3, 50.1),
}


def _drop(cfg, names):
    cfg = copy.deepcopy(cfg)
    cfg["layers"] = [l for l in cfg["layers"] if l["name"] not in names]
    return cfg


def _set(cfg, **widths):
    cfg = copy.deepcopy(cfg)
    for l in cfg["layers"]:
        if l["name"] in widths:
            l["num_filters" if l["type"] == "conv" else "num_units"] = widths[l["name"]]
    return cfg


SUBSET = 20000
SMALL = 0.01  # "matters little": within 1 point of test error
CONV34 = ("conv3", "relu3", "conv4", "relu4")
FC7 = ("fc7", "relu7", "drop7")
FC67 = ("fc6", "relu6", "drop6") + FC7


def variants(base):
    """The paper's variants applied to ``base`` (``small``, or a --run's configuration):
    fc6-7 halved and doubled, conv3-5 widened by the paper's factors (x4/3, x8/3, x2:
    ZF's 384/384/256 -> 512/1024/512; ``small``'s 96/96/64 -> 128/256/128), both widenings
    together (the paper's overfitting row), and the removals."""
    w = {l["name"]: l.get("num_filters", l.get("num_units")) for l in base["layers"]}
    wide_conv = dict(conv3=w["conv3"] * 4 // 3, conv4=w["conv4"] * 8 // 3, conv5=w["conv5"] * 2)
    wide_fc = dict(fc6=w["fc6"] * 2, fc7=w["fc7"] * 2)
    return [("ZF model (ours: small)", None),
            ("fc6, fc7 halved", _set(base, fc6=w["fc6"] // 2, fc7=w["fc7"] // 2)),
            ("fc6, fc7 doubled", _set(base, **wide_fc)),
            ("conv3-5 widened", _set(base, **wide_conv)),
            ("- conv3, conv4", _drop(base, CONV34)),
            ("- fc7", _drop(base, FC7)),
            ("- fc6, fc7", _drop(base, FC67)),
            ("- conv3, conv4, fc6, fc7", _drop(base, CONV34 + FC67)),
            ("conv3-5 widened + fc6, fc7 doubled", _set(_set(base, **wide_conv), **wide_fc))]


def settings(ctx, seed):
    """The ablation protocol: the base run's settings (10 epochs with the lr drop; a ``--run``'s
    own) on a 20,000-image subset of the default data (quick: the quick protocol)."""
    from zfnet.train import TrainSettings
    kw = rep.base_settings_for(ctx).to_dict()
    kw.update(seed=seed)
    if not ctx.quick and ctx.default_data:
        kw.update(limit=SUBSET)
    return TrainSettings(**kw)


def _checkpoint(ctx, i, name, cfg, base_cfg, s, seed):
    key = "fm" if ctx.default_data else base_cfg["name"]
    cfg = copy.deepcopy(base_cfg if cfg is None else cfg)
    cfg["name"] = "%s-ablation-%d" % (base_cfg["name"], i)
    return os.path.join(ctx.trained("%s-ablation-%d" % (key, i), cfg, s, ctx.dataset().limit(s.limit)), "final")


LESSON = ("removing fc6-7 costs little", "removing conv3-4 costs little", "removing both is much worse",
          "fc width matters little", "a wider conv part helps", "widening both overfits")


def lesson(res, base):
    """The six parts of the paper's lesson from per-seed errors ``res[variant]["test_top1"]``
    and ``["train_top1"]``: (the tests, {part: outcome})."""
    err = lambda n: res[n]["test_top1"]
    gap = lambda n: [te - tr for te, tr in zip(res[n]["test_top1"], res[n]["train_top1"])]
    both, wide, wider = "- conv3, conv4, fc6, fc7", "conv3-5 widened", "conv3-5 widened + fc6, fc7 doubled"
    welch = lambda a, b, claim: rep.effect(a, b, claim, paired=False)
    t = OrderedDict()
    t["removing fc6-7 costs little"] = [welch(err("- fc6, fc7"), err(both), "<")]
    t["removing conv3-4 costs little"] = [welch(err("- conv3, conv4"), err(both), "<")]
    t["removing both is much worse"] = [welch(err(both), err(base), ">")]
    t["fc width matters little"] = [rep.equivalence(err("fc6, fc7 halved"), err(base), SMALL, paired=False),
                                    rep.equivalence(err("fc6, fc7 doubled"), err(base), SMALL, paired=False)]
    t["a wider conv part helps"] = [welch(err(wide), err(base), "<")]
    t["widening both overfits"] = [welch(gap(wider), gap(wide), ">")]
    return t, OrderedDict((k, rep.combine_outcomes(e["outcome"] for e in v)) for k, v in t.items())


def run(ctx):
    from zfnet.train import holdout
    seeds = rep.seeds_for(ctx)
    s1 = settings(ctx, seeds[0])
    ds = ctx.dataset()
    x_tr, y_tr, _, _ = holdout(ds.limit(s1.limit), s1)
    base_cfg = rep.base_config(ctx)
    E = s1.epochs
    vs = variants(base_cfg)
    names = [n for n, _ in vs]
    res = {n: {"train_top1": [], "test_top1": [], "test_top5": [], "checkpoints": []} for n in names}
    for seed in seeds:
        st = settings(ctx, seed)
        for i, (name, cfg) in enumerate(vs):
            path = _checkpoint(ctx, i, name, cfg, base_cfg, st, seed)
            model = load_model(path)
            fn = logits_function(model.net)
            te = evaluate_net(model, ds.x_test, ds.y_test, progress=False, logits_fn=fn)
            tr = evaluate_net(model, x_tr[:10000], y_tr[:10000], progress=False, logits_fn=fn)
            r = res[name]
            r["train_top1"].append(tr["top1"]); r["test_top1"].append(te["top1"])
            r["test_top5"].append(te["top5"]); r["checkpoints"].append(rep.run_label(path))
            r["params"] = modelmod.count_params(model.net)
            ctx.log("[tab3] seed %d %-36s train %.2f%% test %.2f%%"
                    % (seed, name, 100 * tr["top1"], 100 * te["top1"]))
    rows = []
    for name in names:
        r = res[name]
        for k in ("train_top1", "test_top1", "test_top5"):
            v = np.asarray(r[k])
            r[k + "_mean"] = float(v.mean())
            r[k + "_sd"] = float(v.std(ddof=1)) if len(v) > 1 else None
        p = PAPER.get(name, (None, None, None))
        rows.append([name, 100 * r["train_top1_mean"], 100 * r["test_top1_mean"],
                     100 * (r["test_top1_sd"] or 0.0), 100 * r["test_top5_mean"], r["params"],
                     " ".join("%.2f" % (100 * e) for e in r["test_top1"]), p[0], p[1], p[2]])
    ctx.write_csv("table3.csv", ["variant", "train top-1 % (mean)", "test top-1 % (mean)",
                                 "test top-1 % (sd over seeds)", "test top-5 % (mean)", "parameters",
                                 "test top-1 % per seed", "paper train top-1 %", "paper val top-1 %",
                                 "paper val top-5 %"], rows)
    ctx.params.update(protocol=s1.to_dict(),
                      train_error_on="first 10,000 training images, deterministic (no dropout, "
                      "no augmentation)", test="Welch t across architectures, 95%, three outcomes",
                      small_margin=SMALL)

    base = names[0]
    eff = {n: rep.effect(res[n]["test_top1"], res[base]["test_top1"], ">", paired=False)
           if len(seeds) > 1 else None for n in names[1:]}
    for n in names[1:]:
        res[n]["test_change_vs_full"] = eff[n]
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(10, 4))
    xs = np.arange(len(names))
    for off, k, lab in ((-0.2, "train_top1", "train top-1"), (0.2, "test_top1", "test top-1")):
        m = [100 * res[n][k + "_mean"] for n in names]
        sd = [100 * (res[n][k + "_sd"] or 0) for n in names]
        ax.bar(xs + off, m, 0.4, yerr=sd, capsize=3, label=lab + " (mean, sd over %d seeds)" % len(seeds))
        for j, n in enumerate(names):
            ax.plot([j + off] * len(res[n][k]), [100 * v for v in res[n][k]], "k.", ms=3)
    ax.set_xticks(xs); ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("error (%)"); ax.legend(fontsize=8); ax.grid(alpha=.3, axis="y")
    plots.save_figure(fig, ctx.path("ablation.png"), dpi=100)

    parts, outcomes = lesson(res, base) if len(seeds) > 1 else (OrderedDict(), OrderedDict(
        (k, "not shown") for k in LESSON))
    err = lambda n: res[n]["test_top1"]
    pm = lambda e: "%+.2f [%+.2f, %+.2f]" % (100 * e["mean"], 100 * e["ci"][0], 100 * e["ci"][1])
    ours = ("test error of the full model %.2f%%; change vs the full model (mean, 95%% CI, points): %s. "
            "Lesson: %s" % (
                100 * res[base]["test_top1_mean"],
                "; ".join("%s %s" % (n.replace(" ", ""), pm(eff[n]) if eff[n] else "n/a") for n in names[1:]),
                "; ".join("%s: %s" % (k, v) for k, v in outcomes.items())))
    return {"seeds": seeds, "variants": res, "test_error_change": {n: float(np.mean(err(n)) - np.mean(err(base)))
                                                                   for n in names[1:]},
            "tests": parts, "outcomes": outcomes,
            "summary": {
                "paper": "Removing fc6-7 or conv3-4 costs little, removing both much more (+4.3, +4.9, +30.8 "
                         "val top-1 points); fc width matters little; a wider conv part helps; widening both "
                         "overfits",
                "ours": ours,
                "holds": rep.verdict_of(outcomes.values()),
                "deviation": "%d epochs (lr drop after %d) on %s Fashion-MNIST images, not 70 on ImageNet; %d "
                             "training seeds per variant" % (E, s1.step_size or E, "{:,}".format(len(x_tr)), len(seeds))}}
