"""Run the paper's experiments: ``python -m zfnet reproduce <name> [--quick]``.

Each experiment lives in ``experiments/<name>/run.py`` and defines
``run(ctx)``, which writes its figures and numbers into ``ctx.out`` and
returns a results dict. The dict's ``summary`` entry (paper's claim, ours,
whether the claim holds, the deviation) feeds the comparison table of
``experiments/README.md``, which :func:`write_summary_table` rewrites from the
committed ``results.json`` files, so no number in it is typed by hand.

Training runs are expensive, so they are cached and shared: :meth:`Context.trained`
keys a run folder under ``runs/shared/`` by a hash of its configuration,
settings and data; a finished run is reused, an interrupted one resumes.

Paths come from this file's location (the repository) and from two
environment variables, for tests and for users who keep runs elsewhere:
``ZFNET_RUNS_DIR`` (default ``<repo>/runs``) and ``ZFNET_EXPERIMENTS_DIR``
(default ``<repo>/experiments``).
"""
import copy
import hashlib
import importlib.util
import json
import os
import platform
import sys
import time
from collections import OrderedDict

import numpy as np

from .. import files
from ..errors import UsageError
from ..report import info

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def experiments_dir():
    return os.environ.get("ZFNET_EXPERIMENTS_DIR", os.path.join(REPO, "experiments"))


def runs_dir():
    return os.environ.get("ZFNET_RUNS_DIR", os.path.join(REPO, "runs"))


def experiment_names():
    """The experiments: sub-folders of ``experiments/`` holding a ``run.py``, sorted."""
    root = experiments_dir()
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "run.py")))


def load_experiment(name):
    names = experiment_names()
    if name not in names:
        raise UsageError("Unknown experiment %r: expected one of %s (or 'all')" % (name, names))
    path = os.path.join(experiments_dir(), name, "run.py")
    spec = importlib.util.spec_from_file_location("zfnet_experiment_%s" % name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "run"):
        raise UsageError("%s defines no run(ctx)" % path)
    return mod


def _jsonable(obj):
    if isinstance(obj, dict):
        return OrderedDict((str(k), _jsonable(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def run_key(*parts):
    """A short stable hash of JSON-able parts (configuration, settings, data)."""
    blob = json.dumps(_jsonable(list(parts)), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


class Context(object):
    """What an experiment gets: where to write, quick or full, and shared helpers.

    Attributes
    ----------
    name : experiment name
    out : folder for this experiment's results (created)
    quick : tiny settings (a smoke run in minutes, used by the tests)
    params : dict; everything an experiment records here is written into
        ``results.json`` next to its numbers.
    """

    def __init__(self, name, out, quick=False, log=info, progress=True, run=None, dataset=None):
        self.name, self.out, self.quick = name, out, bool(quick)
        self.log, self.progress = log, progress
        self.params = OrderedDict(quick=self.quick)
        self._datasets = {}
        self.user_run, self.user_dataset = run, dataset
        if run is not None:
            for f in ("settings.json", os.path.join("final", "model.json")):
                if not os.path.exists(os.path.join(run, f)):
                    raise UsageError("--run %s is not a training run folder (no %s); expected the "
                                     "--out folder of `python -m zfnet train`" % (run, f))
            with open(os.path.join(run, "settings.json")) as f:
                self.user_run_info = json.load(f)
            self.params["user_run"] = os.path.abspath(run)
        if dataset is not None:
            self.params["user_dataset"] = dataset
        os.makedirs(out, exist_ok=True)

    @property
    def default_data(self):
        """True on the project's own protocol (Fashion-MNIST base model), False with --run/--dataset."""
        return self.user_run is None and self.user_dataset is None

    def require_default_data(self, why):
        """Stop an experiment that only makes sense on the project's own data."""
        if not self.default_data:
            raise UsageError("%s runs on the project's Fashion-MNIST protocol only: %s"
                             % (self.name, why))

    def dataset(self):
        """The experiment's dataset: ``--dataset``, else the one ``--run`` was trained on,
        else Fashion-MNIST."""
        if self.user_dataset is None and self.user_run is None:
            return self.fashion_mnist()
        if "user" not in self._datasets:
            from ..data import load_dataset
            name = self.user_dataset or self.user_run_info["dataset"]
            ds = load_dataset(name)
            if self.user_run is not None:
                lim = self.user_run_info["settings"].get("limit")
                ds = ds.limit(lim)
            self._datasets["user"] = ds
        return self._datasets["user"]

    # ------------------------------------------------------------ data
    def fashion_mnist(self):
        """Fashion-MNIST; with ``quick``, the first 1,200 train and 500 test images."""
        if "fm" not in self._datasets:
            from ..data.dataset import Dataset
            from ..data.fashion_mnist import load_fashion_mnist
            ds = load_fashion_mnist()
            if self.quick:
                ds = Dataset(ds.name, ds.x_train[:1200], ds.y_train[:1200],
                             ds.x_test[:500], ds.y_test[:500], ds.class_names)
            self._datasets["fm"] = ds
        return self._datasets["fm"]

    def tiny_imagenet(self):
        """Tiny ImageNet (``data fetch tiny-imagenet``): the official training images and the
        official validation images as the test split; with ``quick``, about 2,000 training and
        500 validation images taken at a regular stride (every class, few images)."""
        if "tin" not in self._datasets:
            from ..data.dataset import Dataset
            from ..data.natural import load_tiny_imagenet
            ds = load_tiny_imagenet()
            if self.quick:
                a, b = max(1, len(ds.x_train) // 2000), max(1, len(ds.x_test) // 500)
                ds = Dataset(ds.name, np.asarray(ds.x_train[::a]), ds.y_train[::a],
                             np.asarray(ds.x_test[::b]), ds.y_test[::b], ds.class_names)
            self._datasets["tin"] = ds
        return self._datasets["tin"]

    # ------------------------------------------------------------ training cache
    def trained(self, key, cfg, settings, dataset):
        """Train ``cfg`` on ``dataset`` once and share it: returns the run folder.

        The folder is ``runs/shared/<key>-<hash>`` where the hash covers the
        configuration, the settings, the dataset's name and sizes, and ``quick``.
        A finished run is reused as it is; an unfinished one resumes where it
        stopped (training checkpoints are written atomically).
        """
        from .. import train as trainmod
        ident = run_key(cfg, settings.to_dict(), dataset.name, len(dataset.x_train),
                        len(dataset.x_test), self.quick)
        out = os.path.join(runs_dir(), "shared", "%s-%s" % (key, ident))
        log_json = os.path.join(out, "log.json")
        if os.path.exists(log_json):
            with open(log_json) as f:
                hist = json.load(f)
            if hist and hist[-1]["epoch"] >= settings.epochs and \
                    os.path.isdir(os.path.join(out, "final")):
                self.log("[%s] reusing trained run %s" % (self.name, out))
                return out
        self.log("[%s] training %s -> %s" % (self.name, key, out))
        trainmod.train(cfg, dataset, settings, out, resume=True, progress=self.progress,
                       log=self.log)
        return out

    # ------------------------------------------------------------ output
    def path(self, *parts):
        p = os.path.join(self.out, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write_json(self, filename, obj):
        files.atomic_write_json(self.path(filename), _jsonable(obj))

    def write_csv(self, filename, header, rows):
        import csv
        import io
        buf = io.StringIO(newline="")
        w = csv.writer(buf)
        w.writerow(header)
        for r in rows:
            w.writerow([("%.6g" % v) if isinstance(v, (float, np.floating)) else v for v in r])
        files.atomic_write_bytes(self.path(filename), buf.getvalue().encode())


SUMMARY_KEYS = ("paper", "ours", "holds", "deviation")


def reproduce(name, quick=False, out=None, log=info, progress=True, run=None, dataset=None):
    """Run one experiment; write ``results.json`` (numbers + parameters) into its folder.

    ``out`` defaults to ``experiments/<name>/results`` (full run),
    ``runs/quick/<name>`` (quick run) or ``runs/reproduce/<run>/<name>`` (with
    ``run``/``dataset``), so only the project's own full protocol writes the
    committed results.

    ``run``: a training run folder (``python -m zfnet train --out``) to use instead
    of the shared base model, e.g. ``zf`` trained on ImageNet; its configuration,
    settings and dataset are used for the experiment's variants. ``dataset``: the
    dataset to use with it (default: the one the run was trained on).
    """
    mod = load_experiment(name)
    if out is None:
        if run is not None or dataset is not None:
            tag = os.path.basename(os.path.normpath(run)) if run else "dataset"
            out = os.path.join(runs_dir(), "reproduce", tag, name)
        else:
            out = (os.path.join(runs_dir(), "quick", name) if quick
                   else os.path.join(experiments_dir(), name, "results"))
    ctx = Context(name, out, quick=quick, log=log, progress=progress, run=run, dataset=dataset)
    t0 = time.time()
    results = mod.run(ctx)
    summary = results.get("summary", {})
    missing = [k for k in SUMMARY_KEYS if k not in summary]
    if missing:
        raise UsageError("experiment %s returned a summary without %s" % (name, missing))
    doc = OrderedDict()
    doc["experiment"] = name
    doc["command"] = "python -m zfnet reproduce %s%s%s%s" % (
        name, " --quick" if quick else "", " --run %s" % run if run else "",
        " --dataset %s" % dataset if dataset else "")
    doc["summary"] = summary
    doc["results"] = OrderedDict((k, v) for k, v in results.items() if k != "summary")
    doc["params"] = ctx.params
    doc["seconds"] = round(time.time() - t0, 1)
    doc["machine"] = {"python": sys.version.split()[0], "platform": platform.platform(),
                      "cpus": os.cpu_count()}
    ctx.write_json("results.json", doc)
    log("[%s] results in %s (%.0f s)" % (name, out, doc["seconds"]))
    if not quick and os.path.abspath(out) == os.path.abspath(
            os.path.join(experiments_dir(), name, "results")):
        write_experiment_readme(name, doc)
        write_summary_table()
    return doc


def _replace_between(path, start, end, body):
    with open(path) as f:
        text = f.read()
    if start not in text or end not in text:
        raise UsageError("%s has no results markers (%s ... %s)" % (path, start, end))
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    files.atomic_write_bytes(path, (head + start + "\n" + body + "\n" + end + tail).encode())
    return path


RESULTS_START = "<!-- results: written by `python -m zfnet reproduce`, do not edit -->"
RESULTS_END = "<!-- end of results -->"


def write_experiment_readme(name, doc):
    """Fill the results section of ``experiments/<name>/README.md`` from ``doc`` (if it
    has the markers): the summary, the run's time, and the figures."""
    readme = os.path.join(experiments_dir(), name, "README.md")
    if not os.path.exists(readme):
        return None
    with open(readme) as f:
        if RESULTS_START not in f.read():
            return None
    s = doc["summary"]
    figs = doc["results"].get("figures") or sorted(
        f for f in os.listdir(os.path.join(experiments_dir(), name, "results")) if f.endswith(".png"))
    lines = ["| | |", "|---|---|",
             "| paper | %s |" % _cell(s["paper"]), "| ours | %s |" % _cell(s["ours"]),
             "| holds here? | %s |" % _cell(s["holds"]), "| deviation | %s |" % _cell(s["deviation"]),
             "", "`%s`: %.0f s on %d CPU cores once the shared training runs existed (a first "
             "run trains them too); every parameter is in [results/results.json](results/results.json)."
             % (doc["command"], doc["seconds"], doc["machine"]["cpus"] or 0), ""]
    lines += ["![%s](results/%s)" % (f[:-4], f) for f in figs]
    return _replace_between(readme, RESULTS_START, RESULTS_END, "\n".join(lines))


TABLE_START = "<!-- results table: written by `python -m zfnet reproduce`, do not edit -->"
TABLE_END = "<!-- end of results table -->"


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


#: the paper's figures and tables (v3), in its order
PAPER_ORDER = ["Fig. %d" % i for i in range(1, 10)] + ["Table %d" % i for i in range(1, 8)]

#: why an item of the paper has no experiment here
NOT_COVERED = {
    "Fig. 1": "A diagram of the method, not a result. The deconvnet it draws is `zfnet/vis/deconv.py` "
              "(unpooling with the forward pass's switches, the ReLU rule, transposed filters), tested "
              "against float64 numpy references, finite differences and Theano's own gradient.",
    "Fig. 3": "A diagram of the architecture, not a result. `python -m zfnet train --config zf` builds it "
              "(`zfnet/nn/configs.py`; its layer sizes and its 62,357,608 parameters are tested).",
}


def _constant(name, key, root=None):
    """The literal value of ``key = ...`` at the top of an experiment's ``run.py``, read without
    importing it (None when absent)."""
    import ast
    path = os.path.join(root or experiments_dir(), name, "run.py")
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == key for t in node.targets):
            return ast.literal_eval(node.value), path
    return None, path


def experiment_tier(name, root=None):
    """``'natural'`` for an experiment on the natural-image model (its ``run.py`` says
    ``TIER = "natural"``), else ``'fashion-mnist'``."""
    tier, path = _constant(name, "TIER", root)
    if tier not in (None, "natural", "fashion-mnist"):
        raise UsageError("%s: TIER %r: expected 'natural' or 'fashion-mnist'" % (path, tier))
    return tier or "fashion-mnist"


def experiment_role(name, root=None):
    """``'control'`` for an experiment that runs beside the paper's setting as a control
    (its ``run.py`` says ``ROLE = "control"``), else ``'main'``."""
    role, path = _constant(name, "ROLE", root)
    if role not in (None, "main", "control"):
        raise UsageError("%s: ROLE %r: expected 'main' or 'control'" % (path, role))
    return role or "main"


def paper_items(name, root=None):
    """The paper items an experiment reproduces: its ``run.py``'s ``PAPER_ITEMS = [...]``, read
    without importing it."""
    items, path = _constant(name, "PAPER_ITEMS", root)
    if items is None:
        return []
    unknown = [i for i in items if i not in PAPER_ORDER]
    if unknown:
        raise UsageError("%s: PAPER_ITEMS %r are not items of the paper (%s)"
                         % (path, unknown, ", ".join(PAPER_ORDER)))
    return list(items)


def _row(name, root, item=None):
    """A table row for experiment ``name``; an experiment covering several paper items may
    give each its own summary under ``results.item_summaries[item]``."""
    path = os.path.join(root, name, "results", "results.json")
    if not os.path.exists(path):
        return "[%s](%s/) | `python -m zfnet reproduce %s` | | not run yet | | |" % (name, name, name)
    with open(path) as f:
        doc = json.load(f)
    s = doc["summary"]
    per_item = doc.get("results", {}).get("item_summaries") or {}
    if item in per_item:
        s = per_item[item]
    return "[%s](%s/) | `%s` | %s | %s | %s | %s |" % (
        name, name, doc["command"], _cell(s["paper"]), _cell(s["ours"]), _cell(s["holds"]),
        _cell(s["deviation"]))


def summary_table(root=None):
    """Markdown built from every ``experiments/*/results/results.json``: one row per figure and
    table of the paper in its order (an experiment names its items in ``PAPER_ITEMS``; the
    others say why they are not covered), then the experiments beyond the paper."""
    root = root or experiments_dir()
    names = experiment_names()
    items = {n: paper_items(n, root) for n in names}
    rows = ["| paper | experiment | command | the paper says | ours | holds here? | deviation |",
            "|---|---|---|---|---|---|---|"]
    role = {n: experiment_role(n, root) for n in names}
    tier = {n: experiment_tier(n, root) for n in names}
    for item in PAPER_ORDER:
        # the natural-image result first (the row's main result), then the Fashion-MNIST tier
        # beside it, then the controls
        covering = sorted((n for n in names if item in items[n]),
                          key=lambda n: (role[n] == "control", tier[n] != "natural", n))
        natural = any(tier[n] == "natural" for n in covering)
        if not covering:
            rows.append("| %s | | | | %s | not covered | |" % (item, _cell(NOT_COVERED.get(item, "Not yet."))))
        for n in covering:
            label = item + (" (control)" if role[n] == "control" else
                            " (natural images)" if tier[n] == "natural" else
                            " (Fashion-MNIST tier)" if natural else "")
            rows.append("| %s | %s" % (label, _row(n, root, item)))
    others = [n for n in names if not items[n]]
    if others:
        rows += ["", "Beyond the paper's figures and tables:", "",
                 "| experiment | command | claim | ours | holds here? | deviation |",
                 "|---|---|---|---|---|---|"]
        rows += ["| " + _row(n, root) for n in others]
    return "\n".join(rows)


def refresh_readmes():
    """Rewrite every experiment's results section and the comparison table from the
    committed ``results.json`` files (no experiment is run)."""
    for name in experiment_names():
        path = os.path.join(experiments_dir(), name, "results", "results.json")
        if os.path.exists(path):
            with open(path) as f:
                write_experiment_readme(name, json.load(f))
    return write_summary_table()


def write_summary_table(readme=None):
    """Replace the table between the markers of ``experiments/README.md``."""
    readme = readme or os.path.join(experiments_dir(), "README.md")
    return _replace_between(readme, TABLE_START, TABLE_END, summary_table(os.path.dirname(readme)))


# ------------------------------------------------------------------ shared pieces
def base_settings(quick, **overrides):
    """The one training protocol shared by the experiments (recorded in every run).

    Full: 10 epochs of Fashion-MNIST (55,000 train / 5,000 validation), batch
    32, Nesterov momentum 0.9, lr 0.01 x0.1 after epoch 6, weight decay 5e-4,
    feature scale clipping 0.1, random 28x28 crops of the 2-padded image and
    flips. Quick: 2 epochs on 1,200 images. Until the first lr drop, a run with
    ``schedule='none'`` and fewer epochs gives exactly the base run's weights
    at that epoch (every epoch is seeded from (seed, epoch)); the short-run
    experiments use this to reuse the base run's checkpoint as their baseline.
    """
    from ..train import TrainSettings
    kw = dict(epochs=10, batch_size=32, lr=0.01, keep=(1, 2, 3, 5, 10), seed=1, step_size=6)
    if quick:
        kw.update(epochs=2, keep=(1, 2), step_size=2)
    kw.update(overrides)
    return TrainSettings(**kw)


SHORT_EPOCHS = {False: 3, True: 2}  # the short protocol of Fig. 6 and Table 3


def base_config(ctx):
    """The configuration the experiments start from: ``small``, or the ``--run``'s."""
    from ..nn.configs import get_config
    if ctx.user_run is not None:
        return copy.deepcopy(ctx.user_run_info["config"])
    return get_config("small")


def base_settings_for(ctx):
    """The base run's settings: :func:`base_settings`, or the ``--run``'s."""
    from ..train import TrainSettings
    if ctx.user_run is not None:
        return TrainSettings(**ctx.user_run_info["settings"])
    return base_settings(ctx.quick)


def short_settings_for(ctx, **overrides):
    """The short protocol (3 epochs, quick 2, no lr drop) on top of the base run's settings."""
    from ..train import TrainSettings
    kw = base_settings_for(ctx).to_dict()
    kw.update(epochs=SHORT_EPOCHS[ctx.quick], schedule="none", keep=(SHORT_EPOCHS[ctx.quick],))
    kw.update(overrides)
    return TrainSettings(**kw)


#: the training seeds of every comparison that feeds a verdict (quick runs: one seed)
SEEDS = (1, 2, 3)


def seeds_for(ctx):
    """The training seeds an experiment repeats its runs over: :data:`SEEDS`, one with
    ``--quick`` or ``--run`` (a user's run is one training)."""
    if ctx.quick or ctx.user_run is not None:
        return [SEEDS[0]]
    return list(SEEDS)


def base_model(ctx, seed=None):
    """The model the experiments look at: returns (run folder, final checkpoint).

    The shared Fashion-MNIST ``small`` run (trained here once) of training seed ``seed``
    (default the first of :data:`SEEDS`), or the ``--run`` folder.
    """
    if ctx.user_run is not None:
        run = ctx.user_run
        info = ctx.user_run_info
        ctx.params["base_run"] = {"folder": os.path.abspath(run), "settings": info["settings"],
                                  "config": info["config"]["name"], "dataset": info["dataset"],
                                  "train_images": info.get("train_images")}
        return run, os.path.join(run, "final")
    ds = ctx.dataset()
    seed = SEEDS[0] if seed is None else int(seed)
    settings = base_settings(ctx.quick, seed=seed)
    run = ctx.trained("fm-small", base_config(ctx), settings, ds)
    if seed != SEEDS[0]:
        ctx.params.setdefault("base_runs", {})[seed] = os.path.relpath(run, REPO)
        return run, os.path.join(run, "final")
    ctx.params["base_run"] = {"folder": os.path.relpath(run, REPO), "settings": settings.to_dict(),
                              "config": "small", "dataset": ds.name,
                              "train_images": len(ds.x_train), "test_images": len(ds.x_test)}
    return run, os.path.join(run, "final")


def natural_settings(quick, **overrides):
    """The natural-image protocol: ``zf64`` on Tiny ImageNet (recorded in every run).

    Full: 10 epochs on 95,000 training images (5,000 held out for validation), batch 64,
    Nesterov momentum 0.9, lr 0.01 x0.1 after epoch 6, weight decay 5e-4, feature scale
    clipping 0.1 with conv1 started at N(0, 0.01^2) (below the radius, as fig6 measured)
    and He elsewhere, random 56x56 crops of the 64x64 image and flips. 10 epochs is what
    fits the 3-hour budget on 2 cores (one epoch ~16 min, measured). Quick: 2 epochs.
    """
    from ..train import TrainSettings
    kw = dict(epochs=10, batch_size=64, lr=0.01, momentum=0.9, weight_decay=5e-4,
              init="gauss-conv1", clip_radius=0.1, schedule="step", step_size=6, gamma=0.1,
              crop_pad=0, flip=True, val_size=5000, seed=1, keep=(1, 2, 5, 10))
    if quick:
        kw.update(epochs=2, keep=(1, 2), step_size=2, val_size=200)
    kw.update(overrides)
    return TrainSettings(**kw)


def natural_config(num_classes=200):
    """The natural-image network: ``zf64`` (56x56 crops of 64x64 colour images)."""
    from ..nn.configs import get_config
    return get_config("zf64", num_classes=num_classes)


def natural_model(ctx, seed=None):
    """The shared Tiny ImageNet ``zf64`` run of training seed ``seed`` (default the first of
    :data:`SEEDS`): returns (run folder, final checkpoint); or the ``--run`` folder."""
    if ctx.user_run is not None:
        return base_model(ctx)
    ds = ctx.tiny_imagenet()
    seed = SEEDS[0] if seed is None else int(seed)
    settings = natural_settings(ctx.quick, seed=seed)
    run = ctx.trained("tin-zf64", natural_config(len(ds.class_names)), settings, ds)
    ctx.params.setdefault("natural_runs", OrderedDict())[str(seed)] = {
        "folder": os.path.basename(run), "settings": settings.to_dict(), "config": "zf64",
        "dataset": ds.name, "train_images": len(ds.x_train), "test_images": len(ds.x_test)}
    return run, os.path.join(run, "final")


def base_holdout(ctx):
    """The base model's training and validation images: (x_train, y_train, x_val, y_val)."""
    from ..train import holdout
    return holdout(ctx.dataset(), base_settings_for(ctx))


def short_run_checkpoint(ctx, run_dir):
    """The short protocol's run of the base configuration: the base run's checkpoint at the
    short protocol's last epoch when the two agree up to it (the project's base run), else
    a short run trained (and cached) here."""
    E = SHORT_EPOCHS[ctx.quick]
    base = base_settings_for(ctx)
    path = os.path.join(run_dir, "checkpoints", "epoch-%03d" % E)
    agree = base.schedule == "none" or (base.schedule == "step" and base.step_size >= E)
    if agree and base.epochs >= E and os.path.isdir(path):
        return path
    return os.path.join(ctx.trained("short-base", base_config(ctx), short_settings_for(ctx),
                                    ctx.dataset()), "final")


def checkpoint_at(run, epoch):
    """``run/checkpoints/epoch-NNN`` (must exist)."""
    path = os.path.join(run, "checkpoints", "epoch-%03d" % epoch)
    if not os.path.isdir(path):
        raise UsageError("run %s has no checkpoint of epoch %d" % (run, epoch))
    return path


def verdict(ok, partly=False):
    """'yes', 'partly' or 'no' for the summary table, from a computed test."""
    return "yes" if ok else ("partly" if partly else "no")


def fmt_pct(x, digits=1):
    return ("%." + str(digits) + "f%%") % (100.0 * x)


def error_gap_significant(err_a, err_b, n_a, n_b=None):
    """True when error rate ``err_a`` exceeds ``err_b`` by more than two standard errors of
    the difference (binomial, independent test sets of ``n_a`` and ``n_b`` images): the
    smallest gap the verdicts count as real."""
    n_b = n_b or n_a
    se = np.sqrt(err_a * (1 - err_a) / float(n_a) + err_b * (1 - err_b) / float(n_b))
    return bool(err_a - err_b > 2 * se)


def seed_effect(a, b):
    """An effect ``a - b`` measured in several training seeds (``a[i]``, ``b[i]`` from seed i):
    the per-seed differences, their mean, standard deviation and standard error, and whether it
    is **beyond the seed spread** by the rule the experiments state: the mean difference exceeds
    two standard errors *and* has the same sign in every seed. One seed is never enough."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise UsageError("seed_effect needs two equally long lists of per-seed values, got %r and %r"
                         % (a.shape, b.shape))
    d = a - b
    n = len(d)
    mean = float(d.mean()) if n else float("nan")
    sd = float(d.std(ddof=1)) if n > 1 else float("nan")
    se = sd / np.sqrt(n) if n > 1 else float("nan")
    same_sign = bool(n > 0 and (np.all(d > 0) or np.all(d < 0)))
    beyond = bool(n > 1 and same_sign and abs(mean) > 2 * se)
    return {"per_seed": d.tolist(), "mean": mean, "sd": sd, "se": float(se), "same_sign": same_sign,
            "beyond_spread": beyond}


def effect(a, b, claim=">", paired=True, level=0.95):
    """The effect ``a - b`` over repeated measurements (training seeds, data splits), tested
    with Student's t at ``level`` two-sided: **paired** over matched measurements (``a[i]``
    and ``b[i]`` from the same seed or split), else **Welch's** test (unequal variances, the
    Welch-Satterthwaite degrees of freedom) for arms that are different things.

    ``claim``: the direction the paper claims, ``">"`` (a above b) or ``"<"``. The outcome is
    one of three: ``holds`` (the confidence interval lies wholly on the claimed side),
    ``contradicted`` (wholly on the other side), ``not shown`` (it covers 0: neither; with few
    measurements this is not evidence of no effect). Returns the mean, its standard error,
    the degrees of freedom, the critical t, the interval and the outcome."""
    from scipy import stats
    if claim not in (">", "<"):
        raise UsageError("claim %r: expected '>' or '<'" % (claim,))
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if paired:
        if a.shape != b.shape or len(a) < 2:
            raise UsageError("a paired effect needs two equally long lists of at least 2 values, got "
                             "%d and %d" % (len(a), len(b)))
        d = a - b
        mean, n = float(d.mean()), len(d)
        se, df = float(d.std(ddof=1) / np.sqrt(n)), n - 1
        test = "paired t"
    else:
        if len(a) < 2 or len(b) < 2:
            raise UsageError("Welch's test needs at least 2 values per arm, got %d and %d" % (len(a), len(b)))
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        mean, se = float(a.mean() - b.mean()), float(np.sqrt(va + vb))
        df = float((va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))) if va + vb > 0 else float(len(a) + len(b) - 2)
        test = "Welch t"
    t = float(stats.t.ppf(0.5 + level / 2.0, df))
    lo, hi = mean - t * se, mean + t * se
    above, below = lo > 0, hi < 0
    if claim == "<":
        above, below = below, above
    outcome = "holds" if above else ("contradicted" if below else "not shown")
    return {"test": test, "level": level, "claim": "a %s b" % claim, "mean": mean, "se": se, "df": df,
            "t_critical": t, "ci": [lo, hi], "outcome": outcome,
            "a": a.tolist(), "b": b.tolist()}


def verdict_of(outcomes):
    """A row's verdict from the outcomes of the parts of its claim: ``yes`` when every part
    holds, ``partly`` when some hold, ``no`` when none holds and some are contradicted,
    ``not shown`` otherwise."""
    outcomes = list(outcomes)
    if outcomes and all(o == "holds" for o in outcomes):
        return "yes"
    if any(o == "holds" for o in outcomes):
        return "partly"
    if any(o == "contradicted" for o in outcomes):
        return "no"
    return "not shown"
