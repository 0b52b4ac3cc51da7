import os
import subprocess
import sys

import numpy as np
import pytest

from zfnet.data.dataset import DATA_DIR
from zfnet.data.fashion_mnist import load_fashion_mnist

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = ["train", "evaluate", "filters", "bench", "data", "demo", "visualize", "topk"]


def zfnet(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "zfnet"] + [str(a) for a in args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_has_examples(command):
    r = zfnet(command, "--help")
    assert r.returncode == 0 and "examples:" in r.stdout and "python -m zfnet " + command in r.stdout


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    r = zfnet("evaluate", tmp_path)
    assert r.returncode == 2
    assert "is not a checkpoint: model.json is missing" in r.stderr and "Traceback" not in r.stderr


def test_unknown_config_and_dataset(tmp_path):
    r = zfnet("train", "--config", "vgg99", "--limit", "10", "--out", tmp_path)
    assert r.returncode == 2 and "Unknown configuration 'vgg99'" in r.stderr
    r = zfnet("train", "--dataset", tmp_path / "nope", "--out", tmp_path)
    assert r.returncode == 2 and "Unknown dataset" in r.stderr


def test_only_the_projects_errors_become_one_line_messages(monkeypatch, capsys):
    """A ZfnetError prints one line and exits with its code (a data error 1, a usage error 2);
    any other exception is a bug and propagates with its traceback (it is not dressed up as a
    user error)."""
    from zfnet import cli
    from zfnet.errors import DataError, UsageError

    def user_error(args):
        raise DataError("dataset folder x has no images")

    def usage_error(args):
        raise UsageError("--layer conv9: no such layer")

    def bug(args):
        raise ValueError("an internal bug")
    monkeypatch.setattr(cli, "cmd_evaluate", user_error)
    with pytest.raises(SystemExit) as e:
        cli.main(["evaluate", "somewhere"])
    assert e.value.code == 1 and capsys.readouterr().err == "error: dataset folder x has no images\n"
    monkeypatch.setattr(cli, "cmd_evaluate", usage_error)
    with pytest.raises(SystemExit) as e:
        cli.main(["evaluate", "somewhere"])
    assert e.value.code == 2 and capsys.readouterr().err == "error: --layer conv9: no such layer\n"
    monkeypatch.setattr(cli, "cmd_evaluate", bug)
    with pytest.raises(ValueError, match="an internal bug"):
        cli.main(["evaluate", "somewhere"])


def test_help_and_choices_need_no_theano():
    """``--help`` and argument errors answer before Theano is imported; the choices are the
    library's own constants."""
    code = ("import sys\nfrom zfnet import cli\nfrom zfnet.vis.methods import METHODS\n"
            "p = cli._parser()\nsub = [a for a in p._actions if a.dest == 'command'][0].choices\n"
            "m = [a for a in sub['visualize']._actions if a.dest == 'method'][0]\n"
            "assert tuple(m.choices) == METHODS, m.choices\n"
            "assert 'theano' not in sys.modules\nprint('ok')")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def _have_fashion():
    return os.path.exists(os.path.join(DATA_DIR, "fashion-mnist", "t10k-labels-idx1-ubyte.gz"))


@pytest.mark.slow
def test_train_evaluate_filters_end_to_end(tmp_path):
    if not _have_fashion():
        pytest.skip("Fashion-MNIST not fetched")
    out = tmp_path / "run"
    r = zfnet("train", "--limit", "1000", "--epochs", "1", "--batch-size", "50", "--quiet",
              "--out", out)
    assert r.returncode == 0, r.stderr
    assert "test top-1 error" in r.stdout
    r = zfnet("evaluate", out / "final", "--limit", "500", "--json", tmp_path / "ev.json")
    assert r.returncode == 0, r.stderr
    assert "fashion-mnist test (500 images)" in r.stdout
    import json
    ev = json.load(open(str(tmp_path / "ev.json")))
    # the log's test error on the same 1000 --limit images vs a fresh evaluation of 500
    assert 0 <= ev["top1"] <= 1 and ev["images"] == 500
    r = zfnet("filters", out / "final", "--out", tmp_path / "f.png")
    assert r.returncode == 0, r.stderr
    from PIL import Image
    im = np.asarray(Image.open(str(tmp_path / "f.png")))
    assert im.shape[0] > 40 and im.std() > 0  # 32 filters drawn, not blank
    r = zfnet("filters", out / "final", "--layer", "pool1")
    assert r.returncode == 2 and "no layer 'pool1' with weights" in r.stderr


@pytest.mark.slow
def test_visualize_and_topk_end_to_end(tmp_path):
    """Train a tiny checkpoint, then the deconvnet commands on it."""
    if not _have_fashion():
        pytest.skip("Fashion-MNIST not fetched")
    out = tmp_path / "run"
    r = zfnet("train", "--limit", "300", "--epochs", "1", "--batch-size", "50", "--quiet", "--out", out)
    assert r.returncode == 0, r.stderr
    from zfnet.vis import render
    ds = load_fashion_mnist()
    img = str(tmp_path / "shoe.png")
    render.save_png(ds.x_test[0, 0].astype("float32") / 255, img)
    r = zfnet("visualize", out / "final", img, "--layer", "conv1", "--layer", "conv5", "--layer", "fc6",
              "--top", "3", "--method", "guided", "--out", tmp_path / "vis")
    assert r.returncode == 0, r.stderr
    z = np.load(str(tmp_path / "vis" / "projections.npz"))
    assert z["conv5.reconstructions"].shape == (3, 1, 28, 28) and z["conv5.reconstructions"].dtype == np.float32
    assert z["conv5.units"].shape == (3, 3) and z["fc6.activations"].shape == (3,)
    assert (tmp_path / "vis" / "shoe_conv5.png").exists()
    r = zfnet("topk", out / "final", "--layer", "conv2", "--maps", "2", "--limit", "200", "--quiet",
              "--out", tmp_path / "tk")
    assert r.returncode == 0, r.stderr
    z = np.load(str(tmp_path / "tk" / "topk.npz"))
    assert z["conv2.images"].shape == (2, 9) and z["conv2.reconstructions"].shape == (2, 9, 1, 28, 28)
    acts = z["conv2.activations"]
    assert np.all(np.diff(acts, axis=1) <= 0)  # sorted, strongest first
    r = zfnet("visualize", out / "final", img, "--layer", "conv9", "--out", tmp_path / "x")
    assert r.returncode == 2 and "Cannot project layer 'conv9'" in r.stderr
    r = zfnet("visualize", out / "final", tmp_path / "missing.png", "--layer", "conv1")
    assert r.returncode == 2 and "missing.png does not exist" in r.stderr


def test_usage_errors_exit_2_and_runtime_errors_exit_1(tmp_path):
    """Usage errors (bad option values, names and paths that do not exist) exit 2; errors in a
    file's content exit 1; both print one line and no traceback."""
    for args, text in ((["serve", tmp_path, "--port", "99999"], "99999: a port is 0-65535"),
                       (["evaluate", tmp_path, "--limit", "-5"], "-5: expected an integer of at least 1"),
                       (["topk", tmp_path, "--layer", "conv1", "--top", "0"], "0: expected an integer of at least 1"),
                       (["evaluate", tmp_path / "nowhere"], "is not a checkpoint"),
                       (["bench", "first-picture"], "bench first-picture needs --checkpoint"),
                       (["bench", "deconv", "--config", "vgg99"], "invalid choice: 'vgg99'"),
                       (["bench", "deconv", "--top", "0"], "0: expected an integer of at least 1")):
        r = zfnet(*args)
        assert r.returncode == 2 and text in r.stderr and "Traceback" not in r.stderr, (args, r.stderr)
    ck = tmp_path / "ck"; ck.mkdir()
    (ck / "model.json").write_text("[1, 2]"); (ck / "model.npz").write_bytes(b"")
    r = zfnet("evaluate", ck)
    assert r.returncode == 1 and "holds a list; expected a JSON object" in r.stderr and "Traceback" not in r.stderr


def test_import_never_replaces_a_users_folder(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    W = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "W")
    g = helper.make_graph([helper.make_node("Conv", ["x", "W"], ["y"], kernel_shape=[3, 3])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 3, 3])], [W])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(tmp_path / "m.onnx"))
    mine = tmp_path / "mine"; mine.mkdir(); (mine / "thesis.tex").write_text("years")
    r = zfnet("import-onnx", tmp_path / "m.onnx", "--out", mine, "--preprocess", "none", "--force")
    assert r.returncode == 2 and "not a checkpoint; choose a new --out" in r.stderr
    assert sorted(os.listdir(str(mine))) == ["thesis.tex"] and (mine / "thesis.tex").read_text() == "years"
    r = zfnet("import-onnx", tmp_path / "m.onnx", "--out", tmp_path / "ck", "--preprocess", "none")
    assert r.returncode == 0, r.stderr
    r = zfnet("import-onnx", tmp_path / "m.onnx", "--out", tmp_path / "ck", "--preprocess", "none")
    assert r.returncode == 2 and "already a checkpoint; pass --force" in r.stderr
    assert zfnet("import-onnx", tmp_path / "m.onnx", "--out", tmp_path / "ck", "--preprocess", "none",
                 "--force").returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs to fill it (needs root)")
def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path):
    from conftest import tiny_config, write_tiny_checkpoint
    path, _, _ = write_tiny_checkpoint(tmp_path / "ck", tiny_config())
    disk = tmp_path / "disk"; disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        target = disk / "conv1.png"
        assert zfnet("filters", path, "--out", target).returncode == 0
        before = target.read_bytes()
        try:
            with open(str(disk / "filler"), "wb") as f:   # fill every page that is left
                f.write(b"x" * (64 * 1024))
        except OSError:
            pass
        r = zfnet("filters", path, "--layer", "conv2", "--out", target)
        assert r.returncode == 1 and "No space left on device" in r.stderr and "Traceback" not in r.stderr
        assert target.read_bytes() == before and sorted(os.listdir(str(disk))) == ["conv1.png", "filler"]
    finally:
        subprocess.run(["umount", str(disk)])


def test_train_starts_conv1_below_the_clipping_radius_by_default_and_the_demo_keeps_he():
    from zfnet import cli
    p = cli._parser()
    s = cli.train_settings(p.parse_args(["train"]))
    assert s.init == "gauss-conv1" and s.clip_radius == 0.1
    assert cli.train_settings(p.parse_args(["demo"])).init == "he"
    assert cli.train_settings(p.parse_args(["train", "--init", "he"])).init == "he"
    from zfnet.train import TrainSettings
    assert TrainSettings().init == "gauss-conv1"  # one default: the library's and the command line's
    from zfnet.repro.protocol import base_settings
    assert base_settings(False).init == "gauss-conv1"  # the Fashion-MNIST protocol names its own
