"""Table 2 on natural images: ``zf64`` trained on Tiny ImageNet, its error next to a published
from-scratch result on the same data.

The shared natural-image run (``zfnet.repro.reproduce.natural_settings``): 10 epochs on the
95,000 training images that are not held out (5,000 are, for validation and the schedule),
batch 64, Nesterov momentum 0.9, lr 0.01 then 0.001 from epoch 7, weight decay 5e-4, dropout
0.5 on fc6/fc7, feature scale clipping 0.1 with conv1 started below the radius, random 56x56
crops of the 64x64 images and flips. Evaluated on the official 10,000 validation images (our
test split; the test split's labels are not public), one centre crop, no ensembling.

Published from scratch on the same data: Yao & Miller (Stanford CS231N report, 2015), a
5-conv / 3-fc network with dropout and weight decay trained on the 100,000 training images:
58.2% top-1 error for their best single model (56.7% for an ensemble of 3), on the 10,000
test images. Yu (CS231N report, 2017) found networks trained from scratch plateau at or below
50% validation accuracy. The paper's own numbers are on ImageNet (1,000 classes, 224 px): they
are not comparable, so this row states ours beside them and gives no verdict.
"""

TIER = "natural"
PAPER_ITEMS = ["Table 2"]
import json
import os

from zfnet.evaluate import evaluate_net, logits_function
from zfnet.io.checkpoint import load_model
from zfnet.repro import reproduce as rep
from zfnet.vis import plots

PUBLISHED = [("Yao & Miller 2015, best single model (5 conv + 3 fc, dropout, weight decay; 100,000 "
              "training images)", "Tiny ImageNet test (10,000)", 58.2, None),
             ("Yao & Miller 2015, ensemble of 3", "Tiny ImageNet test (10,000)", 56.7, None)]
PAPER = [("ZF 1 convnet (their Fig. 3 model)", "ImageNet 2012 val", 38.4, 16.5)]


def run(ctx):
    run_dir, final = rep.natural_model(ctx)
    ds = ctx.tiny_imagenet() if ctx.user_run is None else ctx.dataset()
    model = load_model(final)
    fn = logits_function(model.net)
    test = evaluate_net(model, ds.x_test, ds.y_test, progress=ctx.progress, logits_fn=fn)
    with open(os.path.join(run_dir, "log.json")) as f:
        hist = json.load(f)
    plots.plot_curves(hist, ctx.path("curves.png"))
    hours = sum(h["seconds"] for h in hist) / 3600.0
    rows = [[n, d, t1, t5 if t5 is not None else ""] for n, d, t1, t5 in PAPER + PUBLISHED]
    rows.append(["zfnet zf64, 1 convnet (ours), %d epochs" % hist[-1]["epoch"], "Tiny ImageNet val (10,000)",
                 100 * test["top1"], 100 * test["top5"]])
    ctx.write_csv("table2.csv", ["model", "data", "top-1 error %", "top-5 error %"], rows)
    ctx.params.update(checkpoint=os.path.basename(run_dir), crops="one (the centre 56x56 of 64x64)",
                      training_hours=round(hours, 2), epochs=hist[-1]["epoch"])
    return {"test": test, "training_hours": hours, "published": PUBLISHED, "paper": PAPER,
            "epochs": [dict(epoch=h["epoch"], lr=h["lr"], train_err=h["train_err"], val_top1=h["val_top1"],
                            test_top1=h["test_top1"], test_top5=h["test_top5"], seconds=h["seconds"])
                       for h in hist],
            "summary": {
                "paper": "ZF 1 net 38.4% / 16.5% top-1/top-5 error on ImageNet val (1,000 classes, 224 px)",
                "ours": "zf64 on Tiny ImageNet val: %.1f%% / %.1f%% top-1/top-5 error after %d epochs "
                        "(%.1f h on 2 cores); published from scratch on the same data: 58.2%% top-1 "
                        "(Yao & Miller 2015, best single model)" % (
                            100 * test["top1"], 100 * test["top5"], hist[-1]["epoch"], hours),
                "holds": "n/a (other dataset)",
                "deviation": "200 classes at 64 px (56 px crops), 95,000 training images, 10 epochs: "
                             "beside a published Tiny ImageNet number, not the paper's ImageNet one"}}
