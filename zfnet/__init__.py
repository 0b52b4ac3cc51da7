"""zfnet: Zeiler & Fergus (2014) in Theano/Lasagne — train, deconvolve, reproduce.

Importing the package only configures Theano's flags (no Theano import), so
drawing code can use :mod:`zfnet.vis.render` without paying for Theano.
"""
from . import theano_config as _theano_config

_theano_config.configure()
_theano_config.silence_warnings()

__version__ = "0.3.0"
