"""Where the experiments and the runs live.

``REPO`` is the clone this package runs from, or None for an installed package (whose
experiments are not shipped: ``zfnet reproduce`` then says where to get them). Two environment
variables move the folders: ``ZFNET_EXPERIMENTS_DIR`` (default ``<repo>/experiments``) and
``ZFNET_RUNS_DIR`` (default ``<repo>/runs``, or ``<data dir>/../zfnet-runs`` when installed).
"""
import os


def _find_repo():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    clone = os.path.isdir(os.path.join(root, "experiments")) and os.path.isdir(os.path.join(root, "zfnet"))
    return root if clone else None


#: the clone's root, or None when the package is installed without its repository
REPO = _find_repo()


def _base():
    if REPO is not None:
        return REPO
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "zfnet")


def experiments_dir():
    """The experiments' folder: ``$ZFNET_EXPERIMENTS_DIR``, else the clone's ``experiments/``."""
    return os.environ.get("ZFNET_EXPERIMENTS_DIR", os.path.join(_base(), "experiments"))


def runs_dir():
    """Where training runs go: ``$ZFNET_RUNS_DIR``, else the clone's ``runs/``."""
    return os.environ.get("ZFNET_RUNS_DIR", os.path.join(_base(), "runs"))


def experiment_names():
    """The experiments: sub-folders of ``experiments/`` holding a ``run.py``, sorted."""
    root = experiments_dir()
    if not os.path.isdir(root):
        return []
    return sorted(d for d in os.listdir(root) if os.path.isfile(os.path.join(root, d, "run.py")))


def run_label(path):
    """How a results file names a run or checkpoint folder: relative to the clone (as the
    committed results do), or absolute when there is no clone."""
    return os.path.relpath(path, REPO) if REPO is not None else os.path.abspath(path)
