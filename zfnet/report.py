"""How the library reports: messages through :mod:`logging` (logger ``zfnet``), progress
bars through tqdm that hide themselves where no one watches.

Library functions take ``log=`` (default :func:`info`) and ``progress=``; the command line
(:func:`configure`) sends the ``zfnet`` logger's messages to standard output, one line
each, and silences Theano's compile-lock and cache chatter unless ``--verbose``. In a
script, ``logging.basicConfig(level=logging.INFO)`` shows the same lines. No Theano here.
"""
import logging
import sys

logger = logging.getLogger("zfnet")
THEANO_CHATTER = ("theano.gof.compilelock", "theano.gof.cmodule", "theano.tensor.blas")


def info(message):
    """Report one line of progress or results (the ``zfnet`` logger, INFO)."""
    logger.info(message)


def progress_bar(enabled=True, **kwargs):
    """A tqdm bar; ``enabled=False`` (``--quiet``) hides it, and it hides itself when the
    output is not a terminal (a log file, CI), where a bar is a wall of carriage returns."""
    from tqdm import tqdm
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(disable=None if enabled else True, **kwargs)


class _StdoutHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stdout`` is when a message is emitted (not the one
    of the first call: a caller that redirects stdout, such as a test, keeps its messages)."""

    def __init__(self):
        super(_StdoutHandler, self).__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value):
        pass


def configure(verbose=False):
    """For the command line: ``zfnet`` messages to stdout as plain lines; Theano's INFO lines
    (compile locks) and cache warnings only with ``verbose``."""
    if not any(getattr(h, "_zfnet", False) for h in logger.handlers):
        h = _StdoutHandler()
        h.setFormatter(logging.Formatter("%(message)s"))
        h._zfnet = True
        logger.addHandler(h)
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in THEANO_CHATTER:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
