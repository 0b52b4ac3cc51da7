"""Seed 003's VGG16 run: for every convolution layer of VGG16, the top 3 feature maps by L2
norm, each whole map projected to pixels with the deconvnet, all layers in a single pass;
timed next to the same projections done layer by layer (the seed's "deconv loop").

The weights: an imported Keras VGG16 checkpoint when ``ZFNET_VGG16_CHECKPOINT`` names one
(``python -m zfnet import-keras vgg16_weights_tf_dim_ordering_tf_kernels.h5 --out DIR``),
otherwise VGG16 with random He weights drawn with seed 0 (the real file is not reachable
here); results say which. Images: the natural photos bundled with scikit-learn (china, flower) and matplotlib
(grace_hopper), short side resized to 224 and centre-cropped.
"""
import os
import time

import numpy as np

from zfnet.io import checkpoint as ckpt
from zfnet.io.checkpoint import load_model
from zfnet.nn import configs
from zfnet.data.dataset import normalize
from zfnet.data.images import load_image
from zfnet.nn import model as modelmod
from zfnet.vis import render
from zfnet.vis.deconv import Projector

SEED_SECONDS = {"GPU, single pass (GTX 1070)": 1.5, "GPU, loop": 2.29, "CPU, single pass (4-core i7-7820HK)": 3.4}


def photos():
    from zfnet.data.photos import list_photos
    return [p["path"] for p in list_photos(which=("packages",))]


def run(ctx):
    path = os.environ.get("ZFNET_VGG16_CHECKPOINT")
    if path:
        model = load_model(path, batch_size=1)
        net = model.net
        weights = "imported: %s" % path
    else:
        cfg = configs.get_config("vgg16")
        from zfnet.backend import lasagne
        lasagne.random.set_rng(np.random.RandomState(0))  # the same random weights in every run
        net = modelmod.build(cfg, batch_size=1)
        model = ckpt.Model(None, net, ckpt.model_json(cfg, net, {"mean": [123.68, 116.779, 103.939],
                                                                 "std": [1.0, 1.0, 1.0]}))
        weights = "random He initialisation (no VGG16 weight file here)"
    layers = [l["name"] for l in model.config["layers"] if l["type"] == "conv" and l["name"].startswith("block")]
    files = photos()[:1 if ctx.quick else 3]
    repeats = 1 if ctx.quick else 3
    ctx.params.update(weights=weights, layers=layers, top=3, rank="l2", mode="map (whole feature map)",
                      method="deconvnet", images=[os.path.basename(f) for f in files], best_of=repeats)
    pre = model.preprocessing
    proj = Projector(net, "deconvnet")
    single, loop, per_image = [], [], {}
    for f in files:
        x_u8 = load_image(f, size=224, channels=3)[None]
        x = normalize(x_u8, pre["mean"], pre["std"])
        ts = []
        for _ in range(repeats + 1):  # the first call compiles
            t0 = time.time(); res = proj.project(x, layers, top=3, mode="map", rank="l2"); ts.append(time.time() - t0)
        single.append(min(ts[1:]) if repeats else ts[0])
        if not ctx.quick:
            tl = []
            for _ in range(repeats + 1):
                t0 = time.time(); proj.project_loop(x, layers, top=3, mode="map", rank="l2"); tl.append(time.time() - t0)
            loop.append(min(tl[1:]))
        tiles = [render.pixels_to_rgb(x_u8[0])] * 3
        for l in layers:
            tiles += [render.projection_rgb(res[l].reconstructions[0, j], pre)
                      for j in range(3)]
        name = os.path.splitext(os.path.basename(f))[0]
        # one row per layer (first row: the photo), three maps per row
        render.save_png(render.tile(tiles, cols=3, size=(96, 96)), ctx.path("%s_projections.png" % name))
        per_image[name] = {"channels": {l: res[l].units[0, :, 0].tolist() for l in layers},
                           "single_pass_s": single[-1], "loop_s": loop[-1] if loop else None}
        ctx.log("[seed003] %s: single pass %.2f s%s" % (name, single[-1], ", loop %.2f s" % loop[-1] if loop else ""))
    s = float(np.mean(single)); lp = float(np.mean(loop)) if loop else None
    ours = "single pass %.1f s per image on 2 CPU cores%s (%s)" % (
        s, ", loop %.1f s" % lp if lp else "", "random weights" if not path else "imported weights")
    return {"single_pass_s": s, "loop_s": lp, "images": per_image, "seed_seconds": SEED_SECONDS,
            "summary": {
                "paper": "Seed 003 (TensorFlow VGG16): top-3 maps by L2 of every block, single pass 1.5 s GPU "
                         "/ 3.4 s CPU per image (loop 2.29 s GPU)",
                "ours": ours,
                "holds": "yes" if (lp and lp > s) else ("partly" if not lp else "no"),
                "deviation": "all 13 conv layers (39 projections) on a 2-core CPU; %s" % weights}}
