"""Fig. 7 on natural images: a grey square swept over Tiny ImageNet validation photos.

The natural-image model (``zf64`` trained on Tiny ImageNet, the shared run of
``tab2_tiny_imagenet``) and the official validation images, which come with the object's
bounding box: a square position is **object** when at least half of the square lies inside
the box, **background** when none of it does. Images: the first ones (one per class, classes
in order) that the model classifies correctly and whose box leaves at least a fifth of the
image as background. Squares of a quarter and an eighth of the input side (14 and 7 px of 56),
mean-grey, swept in steps of 2 px.

The paper's claim, in three parts, each tested over the images (paired t at 95%, three
outcomes: holds / contradicted / not shown):

* **object**: covering the object lowers the correct class's log-odds more than covering
  background: per image, the mean drop in log-odds over object positions minus the mean drop
  over background positions, claimed > 0;
* **background**: covering only background leaves the prediction: per image, the share of
  background positions where the most probable label stays the true class, claimed > 0.5 (a
  one-sample test of share - 0.5);
* **layer 5** (the paper's words): the strongest layer-5 map's activity drops when the square
  covers the region its visualisation shows: per image, the correlation over positions between
  the map's total activation and the share of its projection's energy under the square,
  claimed < 0.

Each part is tested at both square sizes; it holds when it holds at both (``rep.combine_outcomes``:
in part when at one). One training run of
the model (the 3-hour budget), so the spread is over images, not over training seeds.
"""

TIER = "natural"
PAPER_ITEMS = ["Fig. 7"]
import os

import numpy as np

from zfnet.data.natural import tiny_val_boxes
from zfnet.evaluate import features_function, logits_function
from zfnet.io.checkpoint import load_model
from zfnet.repro import reproduce as rep
from zfnet.vis import plots, render
from zfnet.vis.deconv import Projector
from zfnet.vis.topk import scan_topk
from zfnet.vis.occlusion import occlusion_study

IMAGES = 60
SIZES = (4, 8)           # the square is the input side over these (14 and 7 px at 56)
STEP = 2
MIN_BACKGROUND = 0.2     # share of the image outside the box
SHOWN = 3


def box_mask(box, h, w):
    """The (h, w) mask of an inclusive box (x0, y0, x1, y1)."""
    m = np.zeros((h, w), bool)
    m[int(box[1]):int(box[3]) + 1, int(box[0]):int(box[2]) + 1] = True
    return m


def choose(model, ds, boxes, n, quick):
    """The first correctly classified validation image of each class (classes in order) whose
    box leaves at least MIN_BACKGROUND of the image outside it."""
    logits = logits_function(model.net)
    c, h, w = model.input_shape
    from zfnet.data.dataset import crop_batch
    out = []
    for cls in range(len(ds.class_names)):
        for i in np.flatnonzero(ds.y_test == cls):
            x0, y0, x1, y1 = boxes[i]
            area = (x1 - x0 + 1) * (y1 - y0 + 1) / float(ds.x_test.shape[2] * ds.x_test.shape[3])
            if area > 1 - MIN_BACKGROUND and not quick:
                continue
            img = crop_batch(np.asarray(ds.x_test[i:i + 1]), (h, w))[0]
            if quick or int(logits(model.preprocess(img)).argmax()) == cls:
                out.append(int(i))
                break
        if len(out) >= n:
            break
    return out


def run(ctx):
    from zfnet.data.dataset import crop_batch
    run_dir, final = rep.natural_model(ctx)
    ds = ctx.tiny_imagenet()
    boxes_all = tiny_val_boxes()
    if ctx.quick:  # the quick dataset keeps every b-th validation image
        step = max(1, len(boxes_all) // 500)
        boxes_all = boxes_all[::step]
    model = load_model(final)
    net = model.net
    c, H, W = model.input_shape
    off = ((ds.x_test.shape[2] - H) // 2, (ds.x_test.shape[3] - W) // 2)  # the centre crop's offset
    idx = choose(model, ds, boxes_all, IMAGES if not ctx.quick else 2, ctx.quick)
    grey = np.round(model.preprocessing["mean"]).astype(np.uint8)
    logits, feat = logits_function(net), features_function(net, ["relu5"])
    proj = Projector(net, "deconvnet")
    sizes = [max(1, H // k) for k in SIZES]
    per_size, draw = {}, {}
    for size in sizes:
        per_size[size] = {}
        for i in idx:
            img = crop_batch(np.asarray(ds.x_test[i:i + 1]), (H, W))[0]
            b = boxes_all[i]
            box = (np.clip(b[0] - off[1], 0, W - 1), np.clip(b[1] - off[0], 0, H - 1),
                   np.clip(b[2] - off[1], 0, W - 1), np.clip(b[3] - off[0], 0, H - 1))
            m, d = occlusion_study(model, img, int(ds.y_test[i]), size, STEP, grey, box_mask(box, H, W),
                                   proj, logits, feat)
            m["class"] = ds.class_names[int(ds.y_test[i])]
            m["box"] = [int(v) for v in box]
            per_size[size][i] = m
            if size == sizes[0] and i in idx[:SHOWN]:
                draw[i] = (img, box, d)
    ctx.params.update(checkpoint=os.path.basename(run_dir), images=idx, square_sizes=sizes, step=STEP,
                      grey=grey.tolist(), min_background=MIN_BACKGROUND,
                      layer5="relu5 (conv5 after ReLU, before pooling)",
                      object_position="at least half of the square inside the object's box",
                      background_position="no part of the square inside the box")

    # the parts of the claim, at each size
    tests = {}
    for size in sizes:
        ms = list(per_size[size].values())
        both = [m for m in ms if m["drop_object"] is not None and m["drop_background"] is not None]
        keep = [m["background_keeps_label"] for m in ms if m["background_keeps_label"] is not None]
        corr = [m["corr_activation_projection_covered"] for m in ms
                if m["corr_activation_projection_covered"] is not None and np.isfinite(m["corr_activation_projection_covered"])]
        t = {}
        if len(both) >= 2:
            t["object"] = rep.effect([m["drop_object"] for m in both], [m["drop_background"] for m in both], ">")
        if len(keep) >= 2:
            t["background"] = rep.effect(keep, [0.5] * len(keep), ">")
        if len(corr) >= 2:
            t["layer5"] = rep.effect(corr, [0.0] * len(corr), "<")
        tests[size] = t
    outcome = {part: rep.combine_outcomes(tests[s][part]["outcome"] for s in sizes if part in tests[s])
               for part in ("object", "background", "layer5")}
    verdict = rep.verdict_of(outcome.values())

    # the figure: the first SHOWN images at the larger square
    size = sizes[0]
    pre = model.preprocessing
    others = {}
    val = np.asarray(crop_batch(np.asarray(ds.x_test[::max(1, len(ds.x_test) // 2000)]), (H, W)))
    for i, (img, box, d) in draw.items():
        top = scan_topk(model, val, ["relu5"], {"relu5": [d["ch"]]}, k=3, progress=False)["relu5"]["images"][0]
        res = proj.project(model.preprocess(val[top]), ["relu5"], channels=[d["ch"]])["relu5"]
        others[i] = [render.projection_rgb(res.reconstructions[j, 0], pre)
                     for j in range(len(top))]
    plt = plots.pyplot()
    fig, axes = plt.subplots(max(1, len(draw)), 5, figsize=(14, 2.9 * max(1, len(draw))), squeeze=False)
    for r, (i, (img, box, d)) in enumerate(draw.items()):
        y = int(ds.y_test[i])
        rows, cols = d["rows"], d["cols"]
        ext = [-0.5 + size / 2.0, cols[-1] + size / 2.0 - 0.5, rows[-1] + size / 2.0 - 0.5, -0.5 + size / 2.0]
        ax = axes[r]
        ax[0].imshow(render.pixels_to_rgb(img))
        ax[0].add_patch(plt.Rectangle((box[0] - 0.5, box[1] - 0.5), box[2] - box[0] + 1, box[3] - box[1] + 1,
                                      ec="yellow", fc="none", lw=1.5))
        ax[0].add_patch(plt.Rectangle((-0.5, -0.5), size, size, ec="r", fc=(0.5, 0.5, 0.5, 0.9)))
        ax[0].set_title("(a) %s, box, square %d px" % (ds.class_names[y][:24], size), fontsize=8)
        im = ax[1].imshow(d["amap"], extent=ext, cmap="viridis"); fig.colorbar(im, ax=ax[1], fraction=.046)
        ax[1].set_title("(b) total activation, relu5 map %d" % d["ch"], fontsize=8)
        here = render.projection_rgb(d["rec"], pre)
        ax[2].imshow(render.tile([here] + others[i], cols=2, pad=1), vmin=0, vmax=1)
        ax[2].set_title("(c) map %d: this image | top-3 others" % d["ch"], fontsize=8)
        im = ax[3].imshow(d["pmap"], extent=ext, cmap="jet", vmin=0, vmax=1)
        fig.colorbar(im, ax=ax[3], fraction=.046)
        ax[3].set_title("(d) P(true) (unoccluded %.2f)" % d["p0"], fontsize=8)
        labels = d["lmap"]
        uniq = list(dict.fromkeys([y] + [int(v) for v in np.unique(labels) if v != y]))[:8]
        code = np.vectorize(lambda v: uniq.index(v) if v in uniq else len(uniq))(labels)
        im = ax[4].imshow(code, extent=ext, cmap="tab10", vmin=-0.5, vmax=9.5)
        cb = fig.colorbar(im, ax=ax[4], fraction=.046, ticks=range(len(uniq)))
        cb.ax.set_yticklabels([ds.class_names[v][:14] for v in uniq], fontsize=5)
        ax[4].set_title("(e) most probable label", fontsize=8)
        for a in ax:
            a.set_xticks([]); a.set_yticks([])
    plots.save_figure(fig, ctx.path("occlusion.png"), dpi=90)

    def fmt(part):
        return "; ".join("%d px: mean %.2f, 95%% CI [%.2f, %.2f], %s" % (
            s, tests[s][part]["mean"], tests[s][part]["ci"][0], tests[s][part]["ci"][1], tests[s][part]["outcome"])
            for s in sizes if part in tests[s])
    ours = ("%d images. object - background log-odds drop: %s. background keeps the true label (share - 0.5): %s. "
            "relu5 map activity vs its projection covered (r): %s" % (len(idx), fmt("object"), fmt("background"),
                                                                      fmt("layer5")))
    return {"images": {s: per_size[s] for s in sizes}, "tests": tests, "outcomes": outcome,
            "summary": {
                "paper": "Covering the object drops the correct class's probability, covering background "
                         "does not; the strongest layer-5 map's activity drops when its visualised region "
                         "is covered",
                "ours": ours, "holds": verdict,
                "deviation": "Tiny ImageNet photos at 56 px with the annotation boxes, zf64 (one training "
                             "run); squares of %s px" % "/".join(map(str, sizes))}}
