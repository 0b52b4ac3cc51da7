"""The names of the projection methods, modes and rankings (no Theano: the command line
and the explorer page list them without compiling anything). See :mod:`zfnet.vis.deconv`."""
from ..errors import UsageError

METHODS = ("deconvnet", "guided", "gradient", "smoothgrad", "lrp")  # rules: zfnet.vis.rules
MODES = ("max", "map")
RANKS = ("max", "l2")


def check_method(method):
    """``method`` if it is one of :data:`METHODS`, else a :class:`UsageError` naming them."""
    if method not in METHODS:
        raise UsageError("Unknown method %r: expected one of %s" % (method, ", ".join(METHODS)))
    return method
