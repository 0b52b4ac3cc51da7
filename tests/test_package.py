"""The package as a user installs it: the console script, --version from any folder, the wheel's
contents, the data folder outside a clone, Fashion-MNIST from a folder of files."""
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_version_from_another_folder(tmp_path):
    from zfnet import __version__
    r = subprocess.run([sys.executable, "-m", "zfnet", "--version"], cwd=str(tmp_path),
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "zfnet %s" % __version__, r.stderr
    script = os.path.join(os.path.dirname(sys.executable), "zfnet")
    if not os.path.exists(script):
        pytest.skip("the zfnet command is not installed here (make installs it into .venv)")
    r = subprocess.run([script, "--version"], cwd=str(tmp_path), capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "zfnet %s" % __version__, r.stderr


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_the_command(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), ROOT],
                       capture_output=True, text=True, timeout=600)
    if r.returncode != 0 and "Could not" in r.stderr:
        pytest.skip("cannot build here: %s" % r.stderr.strip().splitlines()[-1])
    assert r.returncode == 0, r.stderr
    wheel = [f for f in os.listdir(str(tmp_path)) if f.endswith(".whl")][0]
    names = zipfile.ZipFile(str(tmp_path / wheel)).namelist()
    for module in ("zfnet/__init__.py", "zfnet/nn/model.py", "zfnet/vis/deconv.py", "zfnet/app/static/index.html", "zfnet/app/static/explorer.js",
                   "zfnet/data/photos.py", "zfnet/io/checkpoint.py", "zfnet/repro/demo.py",
                   "zfnet/data/natural.py", "zfnet/nn/c/maxpool_switches.c", "zfnet/nn/c/unpool.c",
                   "zfnet/nn/c/winograd.c"):
        assert module in names, module
    entry = [n for n in names if n.endswith("entry_points.txt")][0]
    assert "zfnet = zfnet.cli:main" in zipfile.ZipFile(str(tmp_path / wheel)).read(entry).decode()
    assert not any(n.startswith(("tests/", "experiments/", "data/", "benchmarks/")) for n in names)
    assert "zfnet/bench.py" not in names and "zfnet/io/synthetic.py" not in names  # no benchmark or fixture code
    # installed from the wheel, run from an empty folder: each command works or says what is
    # missing and exits non-zero (none silently does nothing)
    site, empty = tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                        str(tmp_path / wheel)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "xdg"))
    for var in ("ZFNET_DATA", "ZFNET_EXPERIMENTS_DIR", "ZFNET_RUNS_DIR"):
        env.pop(var, None)

    def zfnet(*args):
        return subprocess.run([sys.executable, "-m", "zfnet"] + list(args), cwd=str(empty), env=env,
                              capture_output=True, text=True, timeout=300)
    r = zfnet("--version")
    assert r.returncode == 0 and r.stdout.startswith("zfnet "), r.stderr
    where = subprocess.run([sys.executable, "-c", "import zfnet; print(zfnet.__file__)"], cwd=str(empty), env=env,
                           capture_output=True, text=True).stdout
    assert where.startswith(str(site)), where   # the installed copy, not the clone
    for args, says in ((["reproduce", "--list"], "clone the repository"),
                       (["reproduce", "fig2_top9"], "clone the repository"),
                       (["bench"], "clone the repository"),
                       (["data", "info", "fashion-mnist"], "data fetch fashion-mnist --from"),
                       (["evaluate", "nothere"], "nothere is not a checkpoint"),
                       (["export-onnx", "nothere", "--out", "m.onnx"], "nothere is not a checkpoint")):
        r = zfnet(*args)
        assert r.returncode != 0 and says in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    assert os.listdir(str(empty)) == []   # nothing written where nothing was asked for


def test_data_folder_outside_a_clone(tmp_path, monkeypatch):
    from zfnet.data import dataset
    monkeypatch.delenv("ZFNET_DATA", raising=False)
    assert dataset.default_data_dir() == os.path.join(ROOT, "data")          # inside the clone
    monkeypatch.setattr(dataset, "REPO_DIR", str(tmp_path / "site-packages"))  # an installed package
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert dataset.default_data_dir() == str(tmp_path / "xdg" / "zfnet")
    monkeypatch.setenv("ZFNET_DATA", str(tmp_path / "mine"))
    assert dataset.default_data_dir() == str(tmp_path / "mine")


def test_fashion_mnist_from_a_folder_names_the_files_and_checks_them(tmp_path):
    from zfnet.data.fashion_mnist import FASHION_FILES, fetch_fashion_mnist
    from zfnet.errors import DataError
    src = tmp_path / "downloads"; src.mkdir()
    with pytest.raises(DataError) as e:
        fetch_fashion_mnist(str(tmp_path / "fm"), verbose=False, source=str(src))
    for f in FASHION_FILES:
        assert f in str(e.value)
    assert "github.com/zalandoresearch/fashion-mnist" in str(e.value) and "--from" in str(e.value)
    import gzip
    for f in FASHION_FILES:  # the right names, the wrong content
        with gzip.open(str(src / f), "wb") as g:
            g.write(b"\0" * 16)
    with pytest.raises(DataError, match="has SHA-256 .* of its content, expected"):
        fetch_fashion_mnist(str(tmp_path / "fm"), verbose=False, source=str(src))


def _fresh_python(code, cwd):
    """Run ``code`` in a fresh Python with this clone on its path; it must succeed."""
    r = subprocess.run([sys.executable, "-c", code], cwd=str(cwd), capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT), timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return r


def test_import_zfnet_then_lasagne_works_and_imports_no_theano_before(tmp_path):
    """Lasagne 0.1 cannot import on Theano 1.0 by itself; after `import zfnet` a plain
    `import lasagne` goes through zfnet.backend and gets the one Lasagne module it imported.
    `import zfnet` alone still imports no Theano."""
    code = ("import sys, zfnet\nassert 'theano' not in sys.modules\nimport lasagne\n"
            "from zfnet.backend import lasagne as ours\n"
            "assert lasagne is ours and sys.modules['lasagne'] is ours\n"
            "net = lasagne.layers.InputLayer((None, 1, 8, 8))\n"
            "net = lasagne.layers.MaxPool2DLayer(net, 2)\nprint(net.output_shape)")
    r = _fresh_python(code, tmp_path)
    assert r.stdout.strip().splitlines()[-1] == "(None, 1, 4, 4)"


def test_reproduce_without_the_experiments_says_where_they_are(tmp_path, monkeypatch, capsys):
    """An installed package does not ship experiments/: `zfnet reproduce` (a name or --list)
    says where they are in one line and exits 2, instead of silently listing nothing."""
    from zfnet import cli
    monkeypatch.setenv("ZFNET_EXPERIMENTS_DIR", str(tmp_path / "nowhere"))
    for argv in (["reproduce", "--list"], ["reproduce", "fig2_top9"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        err = capsys.readouterr().err
        assert e.value.code == 2 and "experiments/" in err and "clone" in err
        assert len([l for l in err.splitlines() if "error:" in l]) == 1


def test_theano_imports_without_mpi_or_setuptools_and_they_still_work(tmp_path):
    """zfnet.backend imports Theano and Lasagne without initialising MPI and without setuptools'
    pkg_resources; afterwards Lasagne has its version, and mpi4py, pkg_resources and distutils
    still import and work."""
    code = ("import sys, zfnet.backend\n"
            "loaded = [m for m in ('mpi4py.MPI', 'pkg_resources', 'setuptools') if sys.modules.get(m) is not None]\n"
            "assert not loaded, loaded\n"
            "import theano.tensor.io as tio\nassert not tio.mpi_enabled\n"
            "import lasagne, importlib.metadata\nassert lasagne.__version__ == importlib.metadata.version('Lasagne')\n"
            "from mpi4py import MPI\nprint(MPI.COMM_WORLD.Get_size())\n"
            "import pkg_resources\nprint(pkg_resources.get_distribution('numpy').version == "
            "importlib.metadata.version('numpy'))\n"
            "import distutils.sysconfig\nprint(bool(distutils.sysconfig.get_python_inc()))\n")
    r = _fresh_python(code, tmp_path)
    assert r.stdout.split() == ["1", "True", "True"]
