"""The one place Theano and Lasagne are imported.

Importing this module configures Theano (:mod:`zfnet.theano_config`), applies
the Lasagne 0.1 shim (:mod:`zfnet.compat`; its compile-cache patches only on the Theano
release they were written for) and silences Theano's deprecation noise. It does not change
how the process allocates memory: the heavy commands opt into :mod:`zfnet.memory` themselves.
Every module that computes does ``from .backend import theano, T, lasagne``.
"""
import logging
import sys
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

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import theano  # noqa: E402
    import theano.tensor as T  # noqa: E402
    from . import compat  # noqa: E402
    compat.install()
    import lasagne  # noqa: E402

floatX = theano.config.floatX

__all__ = ["theano", "T", "lasagne", "floatX"]
