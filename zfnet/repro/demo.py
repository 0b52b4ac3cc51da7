"""The main job (``python -m zfnet demo``, ``make demo``): fetch Fashion-MNIST, train the
small network, evaluate it, and draw its filters, deconvnet projections and top-9 grids."""
import os
import textwrap

from ..data import load_dataset
from ..data.fashion_mnist import fetch_fashion_mnist
from ..files import atomic_write_json
from ..io.checkpoint import read_checkpoint
from ..vis.plots import save_filters_png
from ..vis.render import pixels_to_rgb, save_png
from ..report import info
from ..train import train_run  # training enters through zfnet.train

DEMO_LAYERS = ["conv1", "conv2", "conv3", "conv4", "conv5"]


def run_demo(config, dataset, settings, out, resume=True, progress=True, log=info):
    """Train, evaluate, draw; write ``out/summary.json`` and print where everything is.

    A killed demo resumes from its last complete epoch (``resume``, the default); a complete
    one (its ``summary.json`` written after the last epoch) only prints its summary again."""
    from ..evaluate import evaluate_checkpoint
    done = _finished_summary(out, settings)
    if resume and done is not None:
        log(_summary_text(done, settings.epochs, "(already complete: %s)" % os.path.join(out, "summary.json")))
        return done
    fetch_fashion_mnist(verbose=False)
    ds = load_dataset(dataset)  # once, for training, evaluation and figures
    r = train_run(config, ds, settings, out, resume, progress)
    final = r["checkpoint"]
    ev = evaluate_checkpoint(final, ds, progress=progress)
    doc, arrays = read_checkpoint(final)
    fpng = save_filters_png(arrays["conv1.W"], os.path.join(out, "conv1_filters.png"), layer="conv1")
    summary = {"test_accuracy": 1 - ev["top1"], "test_top1_error": ev["top1"],
               "test_top5_error": ev["top5"], "test_loss": ev["loss"], "epochs": settings.epochs,
               "checkpoint": final, "log": os.path.join(out, "log.csv"),
               "curves": os.path.join(out, "curves.png"), "filters": fpng,
               "train_seconds": sum(h["seconds"] for h in r["history"])}
    figures = demo_figures(final, out, ds, progress)
    summary.update(figures)
    summary["settings"] = settings.to_dict()
    atomic_write_json(os.path.join(out, "summary.json"), summary)
    log(_summary_text(summary, settings.epochs, "summary         %s" % os.path.join(out, "summary.json")))
    return summary


def _finished_summary(out, settings):
    """The demo's ``summary.json`` if it finished a run with these settings, else None."""
    import json
    path = os.path.join(out, "summary.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    same = summary.get("settings") == json.loads(json.dumps(settings.to_dict()))
    return summary if same and os.path.isdir(summary.get("checkpoint", "")) else None


def _summary_text(summary, epochs, last_line):
    return textwrap.dedent("""
        ==== zfnet demo: small ZF network on Fashion-MNIST ====
        test accuracy   %.2f%%  (top-5 error %.2f%%)
        training time   %.0f s for %d epochs
        checkpoint      %s
        log / curves    %s, %s
        conv1 filters   %s
        deconvnet       %s (projections of 2 test images, conv1-conv5)
        top-9 (Fig. 2)  %s
        %s
        """ % (100 * summary["test_accuracy"], 100 * summary["test_top5_error"], summary["train_seconds"],
               epochs, summary["checkpoint"], summary["log"], summary["curves"], summary["filters"],
               summary["visualize"], summary["topk"], last_line))


def demo_figures(checkpoint, out, ds, progress=True):
    """Deconvnet projections of two test images and the Fig. 2 top-9 grids."""
    from ..io.checkpoint import load_model
    from ..vis.figures import topk, visualize
    img_dir = os.path.join(out, "images")
    os.makedirs(img_dir, exist_ok=True)
    paths = []
    for i in (0, 1):
        p = os.path.join(img_dir, "test%d_%s.png" % (i, ds.class_names[ds.y_test[i]].split("/")[0].replace(" ", "_")))
        save_png(pixels_to_rgb(ds.x_test[i]), p)
        paths.append(p)
    model = load_model(checkpoint)  # built once for both figures
    vis = os.path.join(out, "visualize")
    visualize(model, paths, DEMO_LAYERS, vis, top=9)
    tk = os.path.join(out, "topk")
    topk(model, DEMO_LAYERS, tk, dataset=ds, split="test", maps=4, progress=progress)
    return {"visualize": vis, "topk": tk}
