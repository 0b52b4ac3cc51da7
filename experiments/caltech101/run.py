"""Tables 4 and 7 and Fig. 9 on Caltech-101, by the paper's protocol (its Sec. 5.1).

The pre-trained network is ``zf64`` trained on Tiny ImageNet (``tab2_tiny_imagenet``'s shared
run; ``--run`` takes another, e.g. ``zf`` trained on ImageNet). Caltech-101: 102 classes
(101 categories and ``BACKGROUND_Google``, which the deep-feature papers following Fei-Fei et
al.'s protocol count as a class), images stored at 64x64 (short side, centre crop) and fed as
their centre 56x56. Each of 5 random splits takes ``n`` training images per class and tests on
up to 50 of the rest; the score is the mean over classes of each class's accuracy.

* **Table 4 / Fig. 9, pre-trained**: layers 1-7 kept fixed, a new softmax (multinomial
  logistic regression, C = 1, on standardised ``relu7`` features) trained on the ``n`` images.
* **Table 4 / Fig. 9, from scratch**: the same network, freshly initialised (another draw per
  split), trained on the same images by SGD (batch 32, lr 0.01, Nesterov 0.9, weight decay 5e-4,
  clipping 0.1, random 56x56 crops and flips) with early stopping: a fifth of each class's
  training images (at least one) is held out, accuracy checked every 100 updates, training
  stopped after 400 without improvement (at most 2,000), the best weights kept.
* **Table 7**: a linear SVM (C by 3-fold cross-validation) and a softmax on each layer's
  features (pixels, ``norm1``, ``norm2``, ``relu3``, ``relu4``, ``pool5``, ``relu6``, ``relu7``)
  at 30 images per class.

Rules (stated before the numbers; effects over the 5 splits, paired t at 95%, three outcomes):
Table 4 holds when pre-trained beats scratch at 15 and at 30 per class. Fig. 9 has two parts:
pre-trained beats scratch at every size where both are measured, and accuracy rises with the
training images (30 per class beats 5 per class, for each arm). Table 7 holds when the best of
layers 5-7 beats the best of layers 1-2 (SVM). The pre-trained network is one training run
(the 3-hour budget), so these effects are over splits, not over pre-training seeds.
"""

TIER = "natural"
PAPER_ITEMS = ["Table 4", "Fig. 9", "Table 7"]
import os

import numpy as np

from zfnet.data import dataset as datamod
from zfnet.data.natural import Caltech101
from zfnet.evaluate import batched, features_function
from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.repro import reproduce as rep
from zfnet.repro.analysis import class_mean_accuracy, linear_probe
from zfnet.repro.scratch import train_from_scratch
from zfnet.vis import plots

SIZES = [1, 2, 3, 5, 10, 15, 20, 25, 30]
SCRATCH_SIZES = [5, 15, 30]
SPLITS = 5
N_TEST = 50
UPDATES, EVERY, PATIENCE = 2000, 100, 400
LAYERS = [("pixels", None), ("layer 1", "norm1"), ("layer 2", "norm2"), ("layer 3", "relu3"),
          ("layer 4", "relu4"), ("layer 5", "pool5"), ("layer 6", "relu6"), ("layer 7", "relu7")]
PAPER = {"table4": {"pretrained": {15: 83.8, 30: 86.5}, "scratch": {15: 22.8, 30: 46.5}},
         "table7_svm_30": {"layer 1": 44.8, "layer 2": 66.2, "layer 3": 72.3, "layer 4": 76.6,
                           "layer 5": 86.2, "layer 7": 85.5}}


def _stats(v):
    return {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "runs": list(v)}


def _scratch(trainer, cfg, cal, x, in_hw, n, s, quick):
    """Accuracy of ``cfg`` trained from scratch on split ``s`` with ``n`` images per class, and
    the update whose weights were kept."""
    from zfnet.backend import lasagne
    tr, te = cal.split_indices(n, N_TEST, seed=s)
    hold = np.zeros(len(tr), bool)
    for c in np.unique(cal.y[tr]):  # a fifth of each class's training images for early stopping
        idx = np.flatnonzero(cal.y[tr] == c)
        hold[idx[:max(1, len(idx) // 5)]] = True
    if n == 1:
        hold[:] = False
    fit, val = tr[~hold], tr[hold]
    lasagne.random.set_rng(np.random.RandomState(1000 * n + s))  # a fresh initialisation per split
    init = modelmod.get_weights(modelmod.build(cfg, init="gauss-conv1"))
    centre = lambda idx: datamod.crop_batch(x[idx], in_hw)
    updates = UPDATES if not quick else 20
    v = (centre(val), cal.y[val]) if len(val) else None
    mean, std, best_u, best_acc = train_from_scratch(
        trainer, init, x[fit], cal.y[fit], 1000 * n + s, updates, val=v, every=EVERY if not quick else 10,
        patience=PATIENCE if not quick else 10, in_hw=in_hw, pad=0, flip=True)
    lg = batched(trainer.logits_fn, centre(te), prepare=lambda b: datamod.normalize(b, mean, std))[0]
    return class_mean_accuracy(cal.y[te], lg.argmax(1)), best_u


def run(ctx):
    from zfnet.report import progress_bar
    run_dir, final = rep.natural_model(ctx)
    model = load_model(final)
    cal = Caltech101()
    c, h, w = model.input_shape
    if c != 3:
        raise ValueError("caltech101 needs a colour model; %s takes %d channel(s)" % (final, c))
    x = cal.x
    if x.shape[2:] != (h, w) and (x.shape[2] < h or x.shape[3] < w):
        from zfnet.errors import UsageError
        raise UsageError("the stored Caltech-101 images are %dx%d, smaller than the model's %dx%d input; "
                         "fetch them at a larger size" % (x.shape[2], x.shape[3], h, w))
    xc = datamod.crop_batch(np.asarray(x), (h, w))
    quick = ctx.quick
    sizes = SIZES if not quick else [1, 3]
    scratch_sizes = SCRATCH_SIZES if not quick else [3]
    splits = SPLITS if not quick else 2
    per_layer_n = 30 if not quick else 3
    cfg = rep.natural_config(len(cal.class_names)) if ctx.user_run is None else \
        dict(rep.base_config(ctx), num_classes=len(cal.class_names))
    if ctx.user_run is not None:
        from zfnet.nn.configs import _set_num_classes
        _set_num_classes(cfg)
    ctx.params.update(checkpoint=final if ctx.user_run else os.path.basename(run_dir), classes=len(cal.class_names),
                      images=int(len(cal.x)), per_class=np.bincount(cal.y).tolist(), sizes=sizes,
                      scratch_sizes=scratch_sizes, splits=splits, test_per_class=N_TEST,
                      scratch={"updates": UPDATES, "every": EVERY, "patience": PATIENCE, "batch": 32,
                               "lr": 0.01, "held_out": "a fifth of each class's training images"},
                      measure="mean per-class accuracy", background_class=True)

    feats = {}
    bar = progress_bar(ctx.progress, total=len(LAYERS), desc="caltech101 features", leave=False)
    pre = model.preprocess(xc)
    for name, layer in LAYERS:
        feats[name] = pre.reshape(len(pre), -1) if layer is None else \
            batched(features_function(model.net, [layer]), pre)[0].reshape(len(pre), -1)
        bar.update(1)
    bar.close()

    # Table 4 / Fig. 9, pre-trained: relu7 + softmax
    pretrained = {n: [] for n in sizes}
    for n in sizes:
        for s in range(splits):
            tr, te = cal.split_indices(n, N_TEST, seed=s)
            pretrained[n].append(linear_probe(feats["layer 7"][tr], cal.y[tr], feats["layer 7"][te], cal.y[te],
                                              kind="softmax", measure=class_mean_accuracy))
    # from scratch: one compiled trainer, a fresh initialisation per split
    from zfnet.train import Trainer, TrainSettings
    trainer = Trainer(cfg, TrainSettings(batch_size=32, lr=0.01, clip_radius=0.1, init="gauss-conv1", seed=1))
    scratch, stopped = {n: [] for n in scratch_sizes}, {n: [] for n in scratch_sizes}
    # each training is kept as it finishes (about 10 minutes each here), so a killed run resumes
    done = ctx.pieces("caltech101-scratch", cfg, trainer.s.to_dict(), UPDATES, EVERY, PATIENCE, N_TEST,
                      np.bincount(cal.y).tolist(), [h, w])
    ctx.params["scratch_pieces"] = rep.run_label(done.path)
    bar = progress_bar(ctx.progress, total=len(scratch_sizes) * splits, desc="caltech101 scratch", leave=False)
    for n in scratch_sizes:
        for s in range(splits):
            got = done.get("%d/%d" % (n, s))
            acc, u = got if got is not None else done.put("%d/%d" % (n, s),
                                                          list(_scratch(trainer, cfg, cal, x, (h, w), n, s, quick)))
            scratch[n].append(acc); stopped[n].append(u)
            bar.update(1)
    bar.close()
    # Table 7: every layer at 30 per class
    table7 = {}
    for name, _ in LAYERS:
        runs = {"svm": [], "softmax": []}
        for s in range(splits):
            tr, te = cal.split_indices(per_layer_n, N_TEST, seed=s)
            f = feats[name]
            runs["svm"].append(linear_probe(f[tr], cal.y[tr], f[te], cal.y[te], kind="svm",
                                            measure=class_mean_accuracy))
            runs["softmax"].append(linear_probe(f[tr], cal.y[tr], f[te], cal.y[te], kind="softmax",
                                                measure=class_mean_accuracy, max_iter=500 if not quick else 50))
        table7[name] = {k: _stats(v) for k, v in runs.items()}
        table7[name]["dim"] = int(feats[name].shape[1])

    acc = {"pretrained": {n: _stats(v) for n, v in pretrained.items()},
           "scratch": {n: _stats(v) for n, v in scratch.items()}}
    # the rules
    t4 = {n: rep.effect(pretrained[n], scratch[n], ">") for n in (15, 30) if n in scratch}
    both = [n for n in scratch_sizes if n in pretrained]
    f9_beats = {n: rep.effect(pretrained[n], scratch[n], ">") for n in both}
    lo_n, hi_n = (5, 30) if not quick else (1, 3)
    f9_rises = {"pretrained": rep.effect(pretrained[hi_n], pretrained[lo_n], ">")}
    if lo_n in scratch and hi_n in scratch:
        f9_rises["scratch"] = rep.effect(scratch[hi_n], scratch[lo_n], ">")
    deep = [max(table7[n]["svm"]["runs"][s] for n in ("layer 5", "layer 6", "layer 7")) for s in range(splits)]
    shallow = [max(table7[n]["svm"]["runs"][s] for n in ("layer 1", "layer 2")) for s in range(splits)]
    t7 = rep.effect(deep, shallow, ">")

    ctx.write_csv("fig9.csv", ["images per class", "pretrained mean %", "pretrained sd", "scratch mean %", "scratch sd"],
                  [[n, 100 * acc["pretrained"][n]["mean"], 100 * acc["pretrained"][n]["std"],
                    100 * acc["scratch"][n]["mean"] if n in scratch else "",
                    100 * acc["scratch"][n]["std"] if n in scratch else ""] for n in sizes])
    ctx.write_csv("table7.csv", ["features", "layer", "dim", "svm mean %", "svm sd", "softmax mean %", "softmax sd", "paper svm %"],
                  [[n, l or "input", table7[n]["dim"], 100 * table7[n]["svm"]["mean"], 100 * table7[n]["svm"]["std"],
                    100 * table7[n]["softmax"]["mean"], 100 * table7[n]["softmax"]["std"],
                    PAPER["table7_svm_30"].get(n, "")] for n, l in LAYERS])
    plt = plots.pyplot()
    fig, ax = plt.subplots(figsize=(5.8, 3.9))
    for k, m, label in (("pretrained", "o-", "Tiny ImageNet features + softmax"), ("scratch", "s--", "trained from scratch")):
        ns = sorted(acc[k])
        ax.errorbar(ns, [100 * acc[k][n]["mean"] for n in ns], yerr=[100 * acc[k][n]["std"] for n in ns],
                    fmt=m, capsize=3, label=label)
    for k, m in (("pretrained", "o"), ("scratch", "s")):
        ax.plot([15, 30], [PAPER["table4"][k][15], PAPER["table4"][k][30]], m, mfc="none", color="grey",
                label="paper (ImageNet), %s" % k)
    ax.set_xlabel("training images per class"); ax.set_ylabel("Caltech-101 mean per-class accuracy (%)")
    ax.set_xscale("log"); ax.set_xticks(sizes); ax.set_xticklabels(sizes)
    ax.legend(fontsize=7); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("fig9.png"), dpi=100)
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    names = [n for n, _ in LAYERS]
    for k, m in (("svm", "o-"), ("softmax", "s-")):
        ax.errorbar(range(len(names)), [100 * table7[n][k]["mean"] for n in names],
                    yerr=[100 * table7[n][k]["std"] for n in names], fmt=m, capsize=3, label="ours, %s" % k)
    px = [i for i, n in enumerate(names) if n in PAPER["table7_svm_30"]]
    ax.plot(px, [PAPER["table7_svm_30"][names[i]] for i in px], "x", color="grey", label="paper, SVM (ImageNet)")
    ax.set_xticks(range(len(names))); ax.set_xticklabels(names, rotation=20)
    ax.set_ylabel("accuracy at %d/class (%%)" % per_layer_n); ax.legend(fontsize=7); ax.grid(alpha=.3)
    plots.save_figure(fig, ctx.path("table7.png"), dpi=100)

    parts = {"Table 4": [e["outcome"] for e in t4.values()],
             "Fig. 9": [e["outcome"] for e in f9_beats.values()] + [e["outcome"] for e in f9_rises.values()],
             "Table 7": [t7["outcome"]]}
    pct = lambda v: "%.1f" % (100 * v)
    t4_text = "; ".join("%d/class: pre-trained %s (sd %s) vs scratch %s (sd %s); paper %.1f vs %.1f; ours - paper "
                        "%+.1f / %+.1f" % (
        n, pct(acc["pretrained"][n]["mean"]), pct(acc["pretrained"][n]["std"]), pct(acc["scratch"][n]["mean"]),
        pct(acc["scratch"][n]["std"]), PAPER["table4"]["pretrained"][n], PAPER["table4"]["scratch"][n],
        100 * acc["pretrained"][n]["mean"] - PAPER["table4"]["pretrained"][n],
        100 * acc["scratch"][n]["mean"] - PAPER["table4"]["scratch"][n]) for n in (15, 30) if n in scratch)
    t7_text = "SVM at %d/class, layers 1-7: %s (ours - paper: %s); softmax: %s" % (
        per_layer_n, " / ".join(pct(table7[n]["svm"]["mean"]) for n in names[1:]),
        " / ".join("%+.1f" % (100 * table7[n]["svm"]["mean"] - PAPER["table7_svm_30"][n]) if n in PAPER["table7_svm_30"]
                   else "-" for n in names[1:]),
        " / ".join(pct(table7[n]["softmax"]["mean"]) for n in names[1:]))
    items = {
        "Table 4": {"paper": "Caltech-101 15/30 per class: pre-trained 83.8 / 86.5%, scratch 22.8 / 46.5%",
                    "ours": t4_text or "quick run", "holds": rep.verdict_of(parts["Table 4"]),
                    "deviation": "pre-trained on Tiny ImageNet (200 classes, 64 px, 95,000 images) with zf64, "
                                 "not ImageNet with ZF; images at 56 px; one pre-training run"},
        "Fig. 9": {"paper": "Caltech-256: pre-trained above scratch at every size, both rising with images per class",
                   "ours": "pre-trained %s at 1/class, %s at 30/class; scratch %s" % (
                       pct(acc["pretrained"][sizes[0]]["mean"]), pct(acc["pretrained"][sizes[-1]]["mean"]),
                       ", ".join("%s at %d" % (pct(acc["scratch"][n]["mean"]), n) for n in scratch_sizes)),
                   "holds": rep.verdict_of(parts["Fig. 9"]),
                   "deviation": "Caltech-101 instead of Caltech-256 (not reachable here); scratch at %s per class"
                                % "/".join(map(str, scratch_sizes))},
        "Table 7": {"paper": "SVM at 30/class: 44.8 / 66.2 / 72.3 / 76.6 / 86.2 / - / 85.5% (layers 1-5, 7)",
                    "ours": t7_text, "holds": rep.verdict_of(parts["Table 7"]),
                    "deviation": "Tiny ImageNet features (zf64); softmax beside the SVM"}}
    return {"accuracy": acc, "scratch_stopped_at": stopped, "table7": table7, "paper": PAPER,
            "tests": {"table4_pretrained_beats_scratch": t4, "fig9_pretrained_beats_scratch": f9_beats,
                      "fig9_rises_with_images": f9_rises, "table7_deep_beats_shallow": t7},
            "item_summaries": items,
            "summary": {"paper": "; ".join("%s: %s" % (k, v["paper"]) for k, v in items.items()),
                        "ours": "; ".join("%s: %s" % (k, v["ours"]) for k, v in items.items()),
                        "holds": rep.verdict_of(sum(parts.values(), [])),
                        "deviation": items["Table 4"]["deviation"]}}
