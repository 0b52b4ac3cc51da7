"""Table 3: architecture ablations under one protocol.

Variants of the ``small`` network, each trained with the short protocol
(3 epochs of Fashion-MNIST, lr 0.01 throughout, see ``zfnet.reproduce.short_settings_for``):
the paper's removals (conv3-4, fc7, fc6-7, conv3-4 and fc6-7), fc width halved and
doubled, and conv3-5 widened (the paper's 384/384/256 -> 512/1024/512, i.e. x1.33,
x2.67, x2: here 96/96/64 -> 128/256/128). Train error is measured on 10,000 training
images without augmentation or dropout; test error on the 10,000 test images.
"""

PAPER_ITEMS = ["Table 3"]
import copy
import os

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


CONV34 = ("conv3", "relu3", "conv4", "relu4")
FC7 = ("fc7", "relu7", "drop7")
FC67 = ("fc6", "relu6", "drop6") + FC7


def variants(base):
    """The paper's variants applied to ``base`` (``small``, or a --run's configuration):
    fc6-7 halved and doubled, conv3-5 widened by the paper's factors (x4/3, x8/3, x2:
    ZF's 384/384/256 -> 512/1024/512; ``small``'s 96/96/64 -> 128/256/128), removals."""
    w = {l["name"]: l.get("num_filters", l.get("num_units")) for l in base["layers"]}
    return [("ZF model (ours: small)", None),
            ("fc6, fc7 halved", _set(base, fc6=w["fc6"] // 2, fc7=w["fc7"] // 2)),
            ("fc6, fc7 doubled", _set(base, fc6=w["fc6"] * 2, fc7=w["fc7"] * 2)),
            ("conv3-5 widened", _set(base, conv3=w["conv3"] * 4 // 3, conv4=w["conv4"] * 8 // 3,
                                     conv5=w["conv5"] * 2)),
            ("- conv3, conv4", _drop(base, CONV34)),
            ("- fc7", _drop(base, FC7)),
            ("- fc6, fc7", _drop(base, FC67)),
            ("- conv3, conv4, fc6, fc7", _drop(base, CONV34 + FC67))]


def run(ctx):
    run_dir, _ = rep.base_model(ctx)
    ds = ctx.dataset()
    x_tr, y_tr, _, _ = rep.base_holdout(ctx)
    settings = rep.short_settings_for(ctx)
    base_cfg = rep.base_config(ctx)
    key = "fm" if ctx.default_data else base_cfg["name"]
    E = settings.epochs
    res, rows = {}, []
    for i, (name, cfg) in enumerate(variants(base_cfg)):
        if cfg is None:
            path = rep.short_run_checkpoint(ctx, run_dir)  # the base run's epoch 3 here
        else:
            cfg["name"] = "%s-ablation-%d" % (base_cfg["name"], i)
            path = os.path.join(ctx.trained("%s-ablation-%d" % (key, i), cfg, settings, ds), "final")
        model = load_model(path)
        net = model.net
        fn = logits_function(net)
        te = evaluate_net(model, ds.x_test, ds.y_test, progress=False, logits_fn=fn)
        tr = evaluate_net(model, x_tr[:10000], y_tr[:10000], progress=False, logits_fn=fn)
        res[name] = {"train_top1": tr["top1"], "test_top1": te["top1"], "test_top5": te["top5"],
                     "params": modelmod.count_params(net), "checkpoint": os.path.relpath(path, rep.REPO)}
        p = PAPER.get(name, (None, None, None))
        rows.append([name, 100 * tr["top1"], 100 * te["top1"], 100 * te["top5"], res[name]["params"],
                     p[0], p[1], p[2]])
        ctx.log("[tab3] %-26s train %.2f%% test %.2f%%" % (name, 100 * tr["top1"], 100 * te["top1"]))
    ctx.write_csv("table3.csv", ["variant", "train top-1 %", "test top-1 %", "test top-5 %", "parameters",
                                 "paper train top-1 %", "paper val top-1 %", "paper val top-5 %"], rows)
    ctx.params.update(protocol=settings.to_dict(), train_error_on="first 10,000 training images, "
                      "deterministic (no dropout, no augmentation)")

    plt = plots._plt()
    names = list(res)
    fig, ax = plt.subplots(figsize=(9, 3.8))
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, [100 * res[n]["train_top1"] for n in names], 0.4, label="train top-1")
    ax.bar(xs + 0.2, [100 * res[n]["test_top1"] for n in names], 0.4, label="test top-1")
    ax.set_xticks(xs); ax.set_xticklabels(names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("error (%)"); ax.legend(); ax.grid(alpha=.3, axis="y")
    plots.save_figure(fig, ctx.path("ablation.png"), dpi=100)

    base = res[names[0]]["test_top1"]
    d = {n: res[n]["test_top1"] - base for n in names}
    e, n = {k: res[k]["test_top1"] for k in names}, len(ds.x_test)
    conv_worse = rep.error_gap_significant(e["- conv3, conv4"], e["- fc7"], n)
    both_worst = d["- conv3, conv4, fc6, fc7"] == max(d.values()) and \
        rep.error_gap_significant(e["- conv3, conv4, fc6, fc7"], base, n)
    ours = ("test error change vs the full model: -conv3,4 %+.2f, -fc7 %+.2f, -fc6,7 %+.2f, "
            "-conv3,4,fc6,7 %+.2f points; fc halved %+.2f, doubled %+.2f, conv3-5 wide %+.2f" % tuple(
                100 * d[n] for n in ["- conv3, conv4", "- fc7", "- fc6, fc7", "- conv3, conv4, fc6, fc7",
                                     "fc6, fc7 halved", "fc6, fc7 doubled", "conv3-5 widened"]))
    return {"variants": res, "test_error_change": d,
            "summary": {
                "paper": "-conv3,4 +4.9, -fc7 -0.5, -fc6,7 +4.3, -conv3,4,fc6,7 +30.8 val top-1 points: "
                         "conv depth matters more than any single fc layer",
                "ours": ours,
                "holds": rep.verdict(conv_worse and both_worst, partly=conv_worse or both_worst),
                "deviation": "%d epochs on Fashion-MNIST, not 70 on ImageNet; one seed per variant "
                             "(run-to-run spread not measured)" % E}}
