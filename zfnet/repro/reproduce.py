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

The runner is this module; the rest of the reproduction wing has one job per module:
:mod:`.paths` (where experiments and runs live), :mod:`.protocol` (the shared training
protocols), :mod:`.stats` (the statistics of the verdicts), :mod:`.pages` (the READMEs and
the comparison table). Their names are importable from here too (``rep.base_model``,
``rep.effect`` ...), which is how the experiments use them.
"""
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

from .paths import REPO, experiment_names, experiments_dir, run_label, runs_dir  # noqa: F401
from .pages import *  # noqa: F401,F403
from .pages import write_experiment_readme, write_summary_table
from .protocol import *  # noqa: F401,F403
from .stats import *  # noqa: F401,F403


def load_experiment(name):
    """The module ``experiments/<name>/run.py`` (it must define ``run(ctx)``)."""
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


class Pieces(object):
    """Finished pieces of a computation, keyed by strings, in one JSON file (see
    :meth:`Context.pieces`)."""

    def __init__(self, path):
        self.path = path
        self.done = {}
        if os.path.exists(path):
            try:
                with open(path) as f:
                    self.done = json.load(f)
            except (OSError, ValueError) as e:
                raise UsageError("%s is not a store of finished pieces (%s); move it away to start "
                                 "those pieces again" % (path, e))
            if not isinstance(self.done, dict):
                raise UsageError("%s is not a store of finished pieces (a JSON object); move it away to "
                                 "start those pieces again" % path)

    def get(self, key):
        """The value stored for ``key``, or None."""
        return self.done.get(str(key))

    def put(self, key, value):
        """Store ``value`` (JSON) for ``key`` and write the file at once, atomically."""
        self.done[str(key)] = _jsonable(value)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        files.atomic_write_json(self.path, self.done)
        return value


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

    def pieces(self, name, *key_parts):
        """A store of the finished pieces of a long computation that is not a training run (one
        from-scratch training of a baseline, say), shared and kept across sessions like the
        training runs: ``runs/shared/<name>-<hash>.json``, the hash over ``key_parts`` and
        ``quick``. :meth:`Pieces.put` writes each piece as soon as it is done, atomically, so an
        interrupted experiment resumes from the pieces it finished."""
        return Pieces(os.path.join(runs_dir(), "shared", "%s-%s.json" % (name, run_key(*(key_parts + (self.quick,))))))

    # ------------------------------------------------------------ output
    def path(self, *parts):
        """A path inside the experiment's output folder (its folder created)."""
        p = os.path.join(self.out, *parts)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        return p

    def write_json(self, filename, obj):
        """Write ``obj`` as JSON (numpy values converted) into the output folder, atomically."""
        files.atomic_write_json(self.path(filename), _jsonable(obj))

    def write_csv(self, filename, header, rows):
        """Write a CSV (floats to 6 significant digits) into the output folder, atomically."""
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
        # from the file as written (its keys are strings, as the prose test reads them)
        with open(ctx.path("results.json")) as f:
            write_experiment_readme(name, json.load(f))
        write_summary_table()
    return doc
