"""Compiled projection functions kept across processes (zfnet.vis.fncache): a function kept by
one Projector is loaded by the next instead of compiled, gives the same bits, computes with the
loading network's own weights (which are never written to the file), and anything wrong with
the file means a normal compile."""
import os
import subprocess
import sys

import numpy as np
import pytest

from zfnet.io.checkpoint import load_model
from zfnet.nn import model as modelmod
from zfnet.vis import fncache
from zfnet.vis.deconv import Projector
from conftest import tiny_config, write_tiny_checkpoint

LAYERS = ["conv2", "fc6"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "functions"
    monkeypatch.setenv("ZFNET_FUNCTION_CACHE_DIR", str(d))
    monkeypatch.delenv("ZFNET_FUNCTION_CACHE", raising=False)
    return d


def _no_compile(proj):
    def fail(*a, **k):
        raise AssertionError("compiled although a kept function was expected")
    proj._compile = fail
    return proj


def _images(model, n=2, seed=0):
    c, h, w = model.input_shape
    return np.random.RandomState(seed).randint(0, 256, (n, c, h, w)).astype(np.uint8)


def _same(a, b):
    for layer in LAYERS:
        for k in ("reconstructions", "units", "activations"):
            assert np.array_equal(getattr(a[layer], k), getattr(b[layer], k)), (layer, k)


def test_kept_function_is_loaded_and_gives_the_same_bits(tmp_path, cache):
    ck, _, _ = write_tiny_checkpoint(tmp_path / "ck")
    m1 = load_model(ck)
    x = _images(m1)
    r1 = Projector(m1).project(x, LAYERS, top=2)
    r1g = Projector(m1).project(x, LAYERS, top=2, method="guided")
    assert len(os.listdir(str(cache))) == 2  # one file per function (method)
    m2 = load_model(ck)
    _same(_no_compile(Projector(m2)).project(x, LAYERS, top=2), r1)
    _same(_no_compile(Projector(m2)).project(x, LAYERS, top=2, method="guided"), r1g)


def test_loaded_function_uses_the_loading_networks_weights_which_the_file_does_not_hold(tmp_path, cache):
    ck, _, _ = write_tiny_checkpoint(tmp_path / "ck")
    m1 = load_model(ck)
    x = _images(m1)
    r1 = Projector(m1).project(x, LAYERS, top=2)
    m2 = load_model(ck)
    w = modelmod.get_weights(m2.net)
    rng = np.random.RandomState(5)
    other = {k: (v + rng.normal(0, 0.3, v.shape)).astype(v.dtype) for k, v in w.items()}
    modelmod.set_weights(m2.net, other)
    loaded = _no_compile(Projector(m2)).project(x, LAYERS, top=2)
    fresh = Projector(m2, function_cache=False).project(x, LAYERS, top=2)
    _same(loaded, fresh)
    assert not np.array_equal(loaded["fc6"].reconstructions, r1["fc6"].reconstructions)
    kept = open(os.path.join(str(cache), os.listdir(str(cache))[0]), "rb").read()
    for k in ("conv2.W", "fc6.W"):
        assert w[k].tobytes() not in kept and other[k].tobytes() not in kept, k


def test_damaged_file_other_architecture_and_the_off_switches_compile(tmp_path, cache, monkeypatch):
    ck, _, _ = write_tiny_checkpoint(tmp_path / "ck")
    m = load_model(ck)
    x = _images(m)
    r1 = Projector(m).project(x, LAYERS, top=2)
    (f,) = os.listdir(str(cache))
    with open(os.path.join(str(cache), f), "r+b") as fh:  # damaged: truncated in the middle
        fh.truncate(os.path.getsize(os.path.join(str(cache), f)) // 2)
    calls = []
    p = Projector(load_model(ck))
    compile_ = p._compile
    p._compile = lambda *a: calls.append(1) or compile_(*a)
    _same(p.project(x, LAYERS, top=2), r1)
    assert calls == [1]
    _same(_no_compile(Projector(load_model(ck))).project(x, LAYERS, top=2), r1)  # rewritten whole
    cfg = tiny_config()
    cfg["layers"][4]["num_filters"] = 5  # conv2: another architecture, another key
    ck2, _, _ = write_tiny_checkpoint(tmp_path / "ck2", cfg=cfg)
    calls.clear()
    p = Projector(load_model(ck2))
    compile_ = p._compile
    p._compile = lambda *a: calls.append(1) or compile_(*a)
    p.project(x, LAYERS, top=2)
    assert calls == [1] and len(os.listdir(str(cache))) == 2
    Projector(load_model(ck), function_cache=False).project(x, ["conv1"], top=2)
    monkeypatch.setenv("ZFNET_FUNCTION_CACHE", "0")
    Projector(load_model(ck)).project(x, ["conv1"], top=3)
    assert len(os.listdir(str(cache))) == 2  # neither wrote a file


def test_a_fresh_process_loads_what_another_kept(tmp_path, cache):
    ck, _, _ = write_tiny_checkpoint(tmp_path / "ck")
    code = ("import sys, numpy as np\nfrom zfnet.io.checkpoint import load_model\n"
            "from zfnet.vis.deconv import Projector\nm = load_model(%r)\np = Projector(m)\n"
            "if sys.argv[1] == 'load':\n    p._compile = None\n"
            "x = np.random.RandomState(0).randint(0, 256, (2,) + m.input_shape).astype(np.uint8)\n"
            "r = p.project(x, %r, top=2)\nnp.save(sys.argv[2], r['conv2'].reconstructions)\n" % (ck, LAYERS))
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    for mode in ("keep", "load"):
        r = subprocess.run([sys.executable, "-c", code, mode, str(tmp_path / (mode + ".npy"))], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
    assert np.array_equal(np.load(str(tmp_path / "keep.npy")), np.load(str(tmp_path / "load.npy")))
