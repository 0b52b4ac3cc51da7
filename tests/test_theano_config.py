import os
import subprocess
import sys

from zfnet import theano_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(code, **env):
    e = dict(os.environ)
    e.pop("THEANO_FLAGS", None)
    e.update(env)
    e["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                          timeout=300)


def test_configure_sets_defaults_without_importing_theano():
    r = _run("import sys, os, zfnet; print('theano' in sys.modules); print(os.environ['THEANO_FLAGS'])")
    assert r.returncode == 0, r.stderr
    imported, flags = r.stdout.split("\n")[:2]
    assert imported == "False"
    assert "floatX=float32" in flags and "blas.ldflags=" in flags and "openmp=True" in flags


def test_user_flags_win():
    r = _run("from zfnet.backend import theano; print(theano.config.floatX, theano.config.openmp)",
             THEANO_FLAGS="floatX=float64,openmp=False")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["float64", "False"]


def test_blas_found_and_used_by_gemm():
    assert theano_config.find_blas_ldflags() is not None
    from zfnet.backend import theano, T
    import numpy as np
    a = T.matrix(); f = theano.function([a], T.dot(a, a))
    x = np.random.RandomState(0).rand(64, 64).astype("float32")
    np.testing.assert_allclose(f(x), x.dot(x), rtol=1e-4)
    assert any("Gemm" in type(n.op).__name__ or "Dot22" in type(n.op).__name__
               for n in f.maker.fgraph.toposort())


def test_import_prints_no_warnings():
    r = _run("import warnings; warnings.simplefilter('default');"
             "from zfnet.nn import model, configs; model.build(configs.get_config('small'))")
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stderr, r.stderr[:2000]
