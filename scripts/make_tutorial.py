"""Write docs/tutorial.ipynb from the cells below and execute it, so the committed notebook shows
its pictures. Usage (from the clone, after `make test` has fetched Fashion-MNIST and the photos):

    .venv/bin/python scripts/make_tutorial.py [--no-execute]

Set ZFNET_TUTORIAL_COLOUR to a colour checkpoint (e.g. the Tiny ImageNet run's final folder) and
ZFNET_DATA to where `zfnet data fetch tiny-imagenet` put its arrays for the colour section to show
a trained network on Tiny ImageNet; without them it uses zf64 with random weights on the photos.
tests/test_tutorial.py executes the same notebook.
"""
import os
import sys

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = os.path.join(ROOT, "docs", "tutorial.ipynb")

CELLS = [
    ("md", """# zfnet in one notebook: train, look inside, occlude, and the same in colour

This tutorial walks through what zfnet does, with pictures inline:

1. train a small ZF-style network on Fashion-MNIST (a minute on two cores);
2. project its units back to pixels with the **deconvnet** of Zeiler & Fergus and its relatives
   (guided backpropagation, the gradient, LRP-ε, SmoothGrad) side by side;
3. a **dataset top-9**: the nine test images that excite a feature map most, projected;
4. **occlusion**: how the true class's probability falls as a grey square covers each part;
5. the same on **natural colour images** with the 64-px `zf64` network.

The test suite runs this notebook from top to bottom (`tests/test_tutorial.py`), so every cell
works with the release it ships with. Run it from the repository's root folder."""),
    ("code", """import os, tempfile
import numpy as np
import matplotlib.pyplot as plt
from IPython.display import Image, display

from zfnet.report import configure
configure()                      # Theano quiet: only errors
%matplotlib inline
from zfnet.data import load_dataset
from zfnet.io.checkpoint import load_model
from zfnet.vis import render
from zfnet.vis.deconv import Projector
from zfnet.vis.smoothgrad import SmoothGrad

work = tempfile.mkdtemp(prefix="zfnet-tutorial-")
rng = np.random.RandomState(0)"""),
    ("md", """## 1. A small model

`zfnet.train.train_run` is what `python -m zfnet train` runs: Nesterov momentum, weight decay,
feature scale clipping, a checkpoint per epoch written so that a crash never breaks one. Two
epochs on 3,000 images (a minute) reach about 60% test accuracy, enough to see structure;
`python -m zfnet demo` trains the full model (91%, ten minutes). Set `ZFNET_TUTORIAL_RUN` to a
trained checkpoint (e.g. `runs/demo/final`) to use it instead."""),
    ("code", """from zfnet.train import TrainSettings, train_run

ds = load_dataset("fashion-mnist")
ckpt = os.environ.get("ZFNET_TUTORIAL_RUN")
if not ckpt:
    settings = TrainSettings(epochs=2, batch_size=16, lr=0.03, limit=3000, val_size=300, seed=1)
    result = train_run("small", "fashion-mnist", settings, os.path.join(work, "run"), progress=False)
    ckpt = result["checkpoint"]
model = load_model(ckpt)
print(model)
from zfnet.evaluate import evaluate_net
test = evaluate_net(model, ds.x_test[:2000], ds.y_test[:2000], progress=False)
print("test accuracy on 2,000 images: %.1f%%" % (100 * (1 - test["top1"])))
assert test["top1"] < 0.6   # far better than chance (90% error)"""),
    ("md", """## 2. The deconvnet and its relatives

A `Projector` compiles one function per request: a forward pass that records the pooling
switches, then one walk down to the pixels for every requested layer at once. Each projection
starts at one unit: the strongest activation of a feature map (`mode="max"`, the paper). The
methods differ in the rule at each ReLU (`zfnet/vis/rules.py`); SmoothGrad is a wrapper built
over the projector. Every projection lies inside its unit's receptive field (`boxes`)."""),
    ("code", """i = 0                                   # an ankle boot
pixels = ds.x_test[i:i + 1]             # uint8 (1, 1, 28, 28): the Projector preprocesses it
proj = Projector(model)
layers = ["conv1", "conv3", "conv5"]
methods = ["deconvnet", "guided", "gradient", "lrp"]
results = {m: proj.project(pixels, layers, top=1, method=m) for m in methods}
results["smoothgrad"] = SmoothGrad(proj, samples=8, noise=0.15).project(pixels, layers, top=1)

fig, axes = plt.subplots(len(layers), len(results) + 1, figsize=(2 * (len(results) + 1), 2 * len(layers)))
for r, layer in enumerate(layers):
    axes[r, 0].imshow(pixels[0, 0], cmap="gray"); axes[r, 0].set_ylabel(layer)
    for c, (m, res) in enumerate(results.items(), 1):
        one = res[layer][0]
        axes[r, c].imshow(render.projection_rgb(one.reconstructions[0], model.preprocessing), cmap="gray")
        t, l, b, rr = one.boxes[0]
        axes[r, c].add_patch(plt.Rectangle((l - .5, t - .5), rr - l, b - t, fill=False, color="red"))
        if r == 0:
            axes[r, c].set_title(m)
for a in axes.flat:
    a.set_xticks([]); a.set_yticks([])
plt.tight_layout(); display(fig); plt.close(fig)

# the deconvnet's projection of a conv1 unit is zero outside the unit's 3x3 receptive field
one = results["deconvnet"]["conv1"][0]
t, l, b, rr = one.boxes[0]
outside = one.reconstructions[0].copy(); outside[:, t:b, l:rr] = 0
assert np.abs(outside).max() == 0 and np.abs(one.reconstructions[0]).max() > 0"""),
    ("md", """## 3. A dataset top-9 (the paper's Fig. 2)

`zfnet.vis.figures.topk` scans a split with one compiled function, keeps each feature map's nine
strongest activations, projects them and draws them beside the image patches they come from
(`python -m zfnet topk` on the command line)."""),
    ("code", """from zfnet.vis.figures import topk
found = topk(model, ["conv3"], os.path.join(work, "topk"), dataset=ds, maps=4, k=9, limit=2000,
             progress=False, log=lambda *a: None)
display(Image(filename=found.pngs[0]))"""),
    ("md", """## 4. Occlusion (the paper's Fig. 7)

A grey square (the training mean) swept over the image; at each position, the probability of
the true class. Where it drops, the network was looking."""),
    ("code", """from zfnet.evaluate import logits_function
from zfnet.vis.occlusion import occlusion_sweep
logits = logits_function(model.net)

def prob_true(batch, y=int(ds.y_test[i])):
    z = logits(model.preprocess(batch))
    p = np.exp(z - z.max(1, keepdims=True)); p /= p.sum(1, keepdims=True)
    return p[:, y]

grey = np.round(model.preprocessing["mean"]).astype(np.uint8).reshape(-1, 1, 1)
(pmap,), _ = occlusion_sweep(ds.x_test[i], 7, 2, grey, prob_true)
print("p(%s): %.3f unoccluded, %.3f to %.3f occluded" % (
    ds.class_names[ds.y_test[i]], prob_true(ds.x_test[i:i + 1])[0], pmap.min(), pmap.max()))
fig = plt.figure(figsize=(5, 3))
plt.imshow(render.occlusion_picture(render.pixels_to_rgb(ds.x_test[i]), pmap, 7, 2))
plt.axis("off"); display(fig); plt.close(fig)"""),
    ("md", """## 5. Natural colour images

The rendering keeps colour: each projection is scaled by one factor for all three channels
(`scale="common"`), so a unit that responds to a blue-orange edge draws blue and orange; scaling
each channel on its own (`scale="each"`) would change its hue. With `ZFNET_TUTORIAL_COLOUR` set
to the Tiny ImageNet `zf64` run (`python -m zfnet reproduce tab2_tiny_imagenet`) and its data
(`ZFNET_DATA`), this shows a trained network on Tiny ImageNet's validation images; without them,
`zf64` with random weights on the ImageNet photos (`make test` fetches them), which shows the
mechanics but not what a trained network sees."""),
    ("code", """from zfnet.nn.configs import get_config
colour = os.environ.get("ZFNET_TUTORIAL_COLOUR")
if colour:
    cmodel = load_model(colour)
    from zfnet.data.dataset import crop_batch
    tin = load_dataset("tiny-imagenet")
    pick = rng.choice(len(tin.x_test), 4, replace=False)
    images = crop_batch(np.asarray(tin.x_test[pick]), cmodel.input_shape[1:])
    names = [tin.class_names[y].split(",")[0] for y in tin.y_test[pick]]
    cnet = cmodel.net
else:
    from zfnet.data.photos import load_imagenet_photos
    from zfnet.nn import model as modelmod
    from zfnet.backend import lasagne
    lasagne.random.set_rng(np.random.RandomState(0))
    cnet = modelmod.build(get_config("zf64"))          # random He weights
    photos = load_imagenet_photos(size=56)
    images, names = photos.x_test[:4], [photos.class_names[y].split(",")[0] for y in photos.y_test[:4]]
    cmodel = None
pre = cmodel.preprocessing if cmodel else {"mean": [120.0] * 3, "std": [60.0] * 3}
x = ((images - np.array(pre["mean"]).reshape(1, 3, 1, 1)) / np.array(pre["std"]).reshape(1, 3, 1, 1)).astype("float32")
cproj = Projector(cnet)
clayers = ["conv1", "conv2", "conv5"]
res = cproj.project(x, clayers, top=1)
fig, axes = plt.subplots(len(images), len(clayers) + 2, figsize=(2 * (len(clayers) + 2), 2 * len(images)))
for r in range(len(images)):
    axes[r, 0].imshow(images[r].transpose(1, 2, 0)); axes[r, 0].set_ylabel(names[r][:14])
    for c, layer in enumerate(clayers, 1):
        axes[r, c].imshow(render.projection_rgb(res[layer].reconstructions[r, 0], pre))
        if r == 0:
            axes[r, c].set_title(layer)
    axes[r, -1].imshow(render.projection_rgb(res["conv5"].reconstructions[r, 0], pre, scale="each"))
    if r == 0:
        axes[r, -1].set_title("conv5, scale=each")
for a in axes.flat:
    a.set_xticks([]); a.set_yticks([])
plt.tight_layout(); display(fig); plt.close(fig)
rgb = render.projection_rgb(res["conv1"].reconstructions[0, 0], pre)
assert rgb.shape == images.shape[2:] + (3,) and rgb.std(axis=2).max() > 0   # colour, not grey"""),
    ("md", """## Where next

* `python -m zfnet serve runs/demo/final` opens the explorer in a browser: any image, any unit,
  every method, occlusion and top-9 on demand.
* `python -m zfnet reproduce --list`: every figure and table of the paper as an experiment.
* `python -m zfnet export-onnx CHECKPOINT --out model.onnx` takes a network to onnxruntime."""),
]


def build():
    nb = new_notebook()
    nb.cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def execute(nb, cwd=ROOT, timeout=900):
    """Run every cell in a fresh kernel (``cwd`` the clone); returns the executed notebook."""
    from nbclient import NotebookClient
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": cwd}}).execute()
    return nb


if __name__ == "__main__":
    nb = build()
    if "--no-execute" not in sys.argv:
        execute(nb)
    os.makedirs(os.path.dirname(PATH), exist_ok=True)
    nbformat.write(nb, PATH)
    print("wrote", PATH)
