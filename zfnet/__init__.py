"""zfnet: Zeiler & Fergus (2014) in Theano/Lasagne — train, deconvolve, reproduce.

Importing the package only configures Theano's flags (no Theano import), so
drawing code can use :mod:`zfnet.vis.render` without paying for Theano.
"""
from . import theano_config as _theano_config

_theano_config.configure()
_theano_config.silence_warnings()


class _LasagneThroughBackend(object):
    """Lasagne 0.1 does not import on Theano 1.0 without the shim of :mod:`zfnet.compat`. After
    ``import zfnet``, a plain ``import lasagne`` goes through :mod:`zfnet.backend` (which applies
    the shim and imports Lasagne) and gets that module; nothing else is imported differently."""

    _busy = False

    def find_spec(self, name, path=None, target=None):
        import importlib
        import sys
        if name != "lasagne" or self._busy or "lasagne" in sys.modules or "zfnet.backend" in sys.modules:
            return None  # the backend (being) imported has applied the shim: the usual import
        type(self)._busy = True
        try:
            # imports Lasagne with the shim; done only when Lasagne is first imported (a lazy
            # hook, not a dependency of the package: the backend itself imports the package)
            importlib.import_module("zfnet.backend")
        finally:
            type(self)._busy = False
        import importlib.util  # noqa: F811
        # hand the import system the module the backend imported: taken out of sys.modules here
        # (else the import system would load Lasagne's source a second time) and put back by it
        module = sys.modules.pop("lasagne")

        class _Loaded(object):
            def create_module(self, spec):
                return module

            def exec_module(self, mod):
                pass
        return importlib.util.spec_from_loader("lasagne", _Loaded(), origin=getattr(module, "__file__", None))


def _install_lasagne_finder():
    import sys
    if not any(isinstance(f, _LasagneThroughBackend) for f in sys.meta_path):
        sys.meta_path.insert(0, _LasagneThroughBackend())


_install_lasagne_finder()

__version__ = "0.3.0"
