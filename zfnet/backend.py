"""The one place Theano and Lasagne are imported.

Importing this module configures Theano (:mod:`zfnet.theano_config`), applies
the Lasagne 0.1 shim (:mod:`zfnet.compat`; its compile-cache patches only on the Theano
release they were written for) and silences Theano's deprecation noise. It does not change
how the process allocates memory: the heavy commands opt into :mod:`zfnet.memory` themselves.
Every module that computes does ``from .backend import theano, T, lasagne``.
"""
import contextlib
import logging
import os
import sys
import sysconfig
import types
import warnings

from . import theano_config

theano_config.configure()
theano_config.silence_warnings()
# Theano looks for a file named like "-l<name>" and warns that it found none when
# the library is linked by file name ("-l:libopenblasp-....so"); the link works.
logging.getLogger("theano.tensor.blas").setLevel(logging.ERROR)
# "Waiting for existing lock" lines from a second process compiling, and cache notices: shown
# only with --verbose (zfnet.report.configure), not to scripts or the command line otherwise
logging.getLogger("theano.gof.compilelock").setLevel(logging.WARNING)
logging.getLogger("theano.gof.cmodule").setLevel(logging.ERROR)
# scan's Cython extension does not build on Python 3.11; use the pure-Python scan.
sys.modules.setdefault("theano.scan_module.scan_perform_ext", None)


def _pkg_resources_stand_in():
    """What Lasagne 0.1 asks of ``pkg_resources`` (its own version), from ``importlib.metadata``."""
    import importlib.metadata
    mod = types.ModuleType("pkg_resources")
    mod.get_distribution = lambda name: types.SimpleNamespace(version=importlib.metadata.version(name))
    return mod


@contextlib.contextmanager
def lean_theano_import():
    """Import Theano and Lasagne without what a zfnet process never uses from them (a third
    of a first picture's start-up, ``python -X importtime``):

    * ``mpi4py.MPI``: Theano's own MPI ops (unused here) import it, which initialises MPI in
      every process. It is hidden while Theano imports; ``zfnet.cluster.mpi`` imports it when
      a run asks for MPI.
    * setuptools' ``distutils`` shim: ``import distutils`` would load setuptools and
      ``pkg_resources`` (Theano wants ``distutils.spawn`` and ``distutils.sysconfig`` only). The
      standard library's ``distutils`` is used when this Python has one.
    * ``pkg_resources`` for Lasagne's version string: a stand-in reads it from
      ``importlib.metadata`` while Lasagne imports.
    """
    hide_mpi = "mpi4py.MPI" not in sys.modules and "mpi4py" not in sys.modules
    if hide_mpi:
        sys.modules["mpi4py.MPI"] = None  # "from mpi4py import MPI" raises ImportError
    stand_in = "pkg_resources" not in sys.modules
    if stand_in:
        sys.modules["pkg_resources"] = _pkg_resources_stand_in()
    shims = []
    if "distutils" not in sys.modules and os.path.isfile(
            os.path.join(sysconfig.get_paths()["stdlib"], "distutils", "__init__.py")):
        shims = [f for f in sys.meta_path if type(f).__name__ == "DistutilsMetaFinder"]
        for f in shims:
            sys.meta_path.remove(f)
    try:
        yield
    finally:
        for f in reversed(shims):
            sys.meta_path.insert(0, f)
        if stand_in and getattr(sys.modules.get("pkg_resources"), "__file__", None) is None:
            sys.modules.pop("pkg_resources", None)
        if hide_mpi and sys.modules.get("mpi4py.MPI", False) is None:
            del sys.modules["mpi4py.MPI"]


with warnings.catch_warnings(), lean_theano_import():
    warnings.simplefilter("ignore")
    import theano  # noqa: E402
    import theano.tensor as T  # noqa: E402
    from . import compat  # noqa: E402
    compat.install()
    import lasagne  # noqa: E402

floatX = theano.config.floatX

__all__ = ["theano", "T", "lasagne", "floatX"]
