import json
import os
import subprocess
import sys

import numpy as np
import pytest

from zfnet.io import checkpoint as ckpt
from zfnet import train
from zfnet.backend import theano
from conftest import tiny_config, toy_dataset

HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_helper.py")


def test_feature_scale_clipping_matches_numpy():
    from collections import OrderedDict

    class L(object):
        pass
    layer = L()
    W0 = np.random.RandomState(0).randn(5, 2, 3, 3).astype("float32") * 0.1
    W0[1] *= 10  # RMS ~1: must be clipped
    W0[2] *= 0.1  # small: untouched
    layer.W = theano.shared(W0)
    upd = OrderedDict([(layer.W, layer.W * np.float32(1.5))])
    train.clip_filter_scale(upd, [layer], 0.1)
    theano.function([], [], updates=upd)()
    new = W0.astype(np.float64) * 1.5
    rms = np.sqrt((new ** 2).reshape(5, -1).mean(axis=1))
    want = new * np.minimum(1, 0.1 / rms)[:, None, None, None]
    np.testing.assert_allclose(layer.W.get_value(), want, rtol=1e-5)
    got_rms = np.sqrt((layer.W.get_value() ** 2).reshape(5, -1).mean(axis=1))
    assert np.all(got_rms <= 0.1 + 1e-6) and abs(got_rms[2] - rms[2]) < 1e-7


def test_loss_falls_and_accuracy_rises(tmp_path):
    s = train.TrainSettings(epochs=4, batch_size=32, lr=0.05, val_size=40, seed=0, schedule="none",
                            init="he")  # the thresholds below were set for He on this toy net
    r = train.train(tiny_config(), toy_dataset(), s, str(tmp_path), progress=False, log=lambda *a: None)
    h = r["history"]
    assert h[-1]["train_loss"] < 0.6 * h[0]["train_loss"]
    assert h[-1]["test_top1"] < 0.15 < h[0]["train_err"]  # chance is 2/3
    assert h[-1]["test_top5"] == 0.0  # 3 classes: always in the top 5
    with open(str(tmp_path / "log.csv")) as f:
        assert len(f.read().strip().split("\n")) == 5
    assert os.path.exists(str(tmp_path / "curves.png"))
    doc, arrays = ckpt.read_checkpoint(str(tmp_path / "final"))
    assert doc["epoch"] == 4 and doc["dataset"] == "toy"
    # the per-filter RMS logged after each epoch is that epoch's checkpoint's, by numpy
    with open(str(tmp_path / "log.json")) as f:
        logged = json.load(f)
    for e in (1, 2, 4):
        _, w = ckpt.read_checkpoint(str(tmp_path / "checkpoints" / ("epoch-%03d" % e)))
        rms = logged[e - 1]["filter_rms"]
        convs = sorted(k[:-2] for k, v in w.items() if k.endswith(".W") and v.ndim == 4 and not k.startswith("fc"))
        assert sorted(rms) == convs and convs
        for l in convs:
            want = np.sqrt((w[l + ".W"].astype(np.float64) ** 2).reshape(len(w[l + ".W"]), -1).mean(axis=1))
            np.testing.assert_allclose(rms[l], want, rtol=1e-6)
    assert "filter_rms" not in doc["metrics"]
    # Kept epochs: 1 and 2 (paper list) and the last one; epoch 3 replaced.
    assert sorted(os.listdir(str(tmp_path / "checkpoints"))) == \
        ["epoch-001", "epoch-002", "epoch-004", "latest.json"]


def test_step_and_plateau_schedules(tmp_path):
    s = train.TrainSettings(epochs=3, batch_size=64, lr=0.04, val_size=40, schedule="step",
                            step_size=1, gamma=0.5)
    h = train.train(tiny_config(), toy_dataset(n_train=120), s, str(tmp_path / "a"),
                    progress=False, log=lambda *a: None)["history"]
    np.testing.assert_allclose([r["lr"] for r in h], [0.04, 0.02, 0.01], rtol=1e-6)
    s = train.TrainSettings(epochs=3, batch_size=64, lr=1e-9, val_size=40, schedule="plateau",
                            plateau_patience=1, plateau_factor=0.5)
    h = train.train(tiny_config(), toy_dataset(n_train=120), s, str(tmp_path / "b"),
                    progress=False, log=lambda *a: None)["history"]
    # lr so small that val loss never improves after epoch 1 -> halved each epoch after
    assert h[2]["lr"] < h[1]["lr"] < h[0]["lr"] * 1.0001


def test_divergence_is_reported(tmp_path):
    s = train.TrainSettings(epochs=1, batch_size=32, lr=1e8, val_size=40, clip_radius=None,
                            weight_decay=0)
    with pytest.raises(FloatingPointError, match=r"diverged at epoch 1 batch \d+: loss .*\(chance level is 1.10\); lower --lr"):
        train.train(tiny_config(), toy_dataset(), s, str(tmp_path), progress=False,
                    log=lambda *a: None)


def test_bad_settings():
    with pytest.raises(ValueError, match="schedule 'cosine'"):
        train.TrainSettings(schedule="cosine")
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        train.TrainSettings(batch_size=0)


def test_small_dataset_gets_a_validation_split_that_fits(tmp_path):
    from conftest import toy_dataset
    ds = toy_dataset(n_train=30, n_test=10)
    s = train.TrainSettings(epochs=1, batch_size=8)  # default val_size 5000 > 30 images
    r = train.train(tiny_config(), ds, s, str(tmp_path), progress=False, log=lambda *a: None)
    with open(str(tmp_path / "settings.json")) as f:
        info = json.load(f)
    assert info["val_images"] == 3 and info["train_images"] == 27 and len(r["history"]) == 1


def test_wrong_channels_for_model(tmp_path):
    cfg = tiny_config(channels=3)
    with pytest.raises(Exception, match="have 1 channel"):
        train.train(cfg, toy_dataset(), train.TrainSettings(epochs=1), str(tmp_path), progress=False)


def _run(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, HELPER] + [str(a) for a in args], env=env,
                          capture_output=True, text=True, timeout=600)


def test_resume_after_kill_gives_the_same_weights(tmp_path):
    full, killed = str(tmp_path / "full"), str(tmp_path / "killed")
    r = _run(full, 4)
    assert r.returncode == 0, r.stderr
    r = _run(killed, 4, "--kill-at-epoch", 3)
    assert r.returncode == -9, (r.returncode, r.stderr)  # really killed, mid-checkpoint
    # epoch 3 never became a checkpoint; epoch 2 is intact
    assert not os.path.exists(os.path.join(killed, "checkpoints", "epoch-003"))
    with open(os.path.join(killed, "checkpoints", "latest.json")) as f:
        assert json.load(f)["epoch"] == 2
    ckpt.read_checkpoint(os.path.join(killed, "checkpoints", "epoch-002"))
    r = _run(killed, 4, "--resume")
    assert r.returncode == 0, r.stderr
    a = ckpt.read_checkpoint(os.path.join(full, "final"))[1]
    b = ckpt.read_checkpoint(os.path.join(killed, "final"))[1]
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-6, atol=1e-7, err_msg=k)
    with open(os.path.join(full, "log.json")) as f:
        la = json.load(f)
    with open(os.path.join(killed, "log.json")) as f:
        lb = json.load(f)
    assert [r["epoch"] for r in lb] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["train_loss"] for r in lb], [r["train_loss"] for r in la], rtol=1e-6)


@pytest.mark.slow
def test_one_real_fashion_mnist_epoch(tmp_path):
    """A whole epoch of the small network on the 55,000 Fashion-MNIST training images
    (demo settings): measured 15.21% test error; chance is 90%."""
    from zfnet.data.dataset import DATA_DIR
    from zfnet.data.fashion_mnist import load_fashion_mnist
    from zfnet.nn import configs
    root = os.path.join(DATA_DIR, "fashion-mnist")
    if not os.path.exists(os.path.join(root, "t10k-labels-idx1-ubyte.gz")):
        pytest.skip("Fashion-MNIST not fetched (make test fetches it)")
    s = train.TrainSettings(epochs=1, batch_size=32, lr=0.01, crop_pad=0, flip=False, init="he")  # the demo's
    h = train.train(configs.get_config("small"), load_fashion_mnist(root), s, str(tmp_path),
                    progress=False, log=lambda *a: None)["history"]
    assert h[0]["test_top1"] < 0.18 and h[0]["val_top1"] < 0.18
    assert h[0]["test_top5"] < 0.01


@pytest.mark.slow
@pytest.mark.parametrize("window", ["latest", "logs", "final"])
def test_a_kill_in_the_last_epochs_writes_is_finished_by_resume(tmp_path, window):
    """SIGKILL after the last epoch's checkpoint, in each window of the writes that follow
    (latest.json, the logs, final/): --resume finishes them, final/ and log.json are the last
    epoch's, and the temporary files are gone."""
    out = str(tmp_path / "run")
    r = _run(out, 2, "--kill-window", window)
    assert r.returncode == -9, (r.returncode, r.stderr)
    open(os.path.join(out, ".final.tmp-abc123"), "w").close()       # leftovers of a kill
    open(os.path.join(out, "checkpoints", ".latest.json.xyz"), "w").close()
    open(os.path.join(out, "notes.txt"), "w").write("mine")          # a user's file stays
    r = _run(out, 2, "--resume")
    assert r.returncode == 0, r.stderr
    final_doc, final_w = ckpt.read_checkpoint(os.path.join(out, "final"))
    last_doc, last_w = ckpt.read_checkpoint(os.path.join(out, "checkpoints", "epoch-002"))
    assert final_doc["epoch"] == 2 and final_doc["metrics"] == last_doc["metrics"]
    for k in last_w:
        np.testing.assert_array_equal(final_w[k], last_w[k])
    with open(os.path.join(out, "log.json")) as f:
        assert [row["epoch"] for row in json.load(f)] == [1, 2]
    with open(os.path.join(out, "checkpoints", "latest.json")) as f:
        assert json.load(f)["epoch"] == 2
    hidden = [f for d in (out, os.path.join(out, "checkpoints")) for f in os.listdir(d) if f.startswith(".")]
    assert hidden == [] and open(os.path.join(out, "notes.txt")).read() == "mine"


def test_resume_refuses_a_run_with_other_settings(tmp_path):
    out = str(tmp_path / "run")
    s = train.TrainSettings(epochs=1, batch_size=32, lr=0.05, val_size=40, seed=3)
    train.train(tiny_config(), toy_dataset(), s, out, progress=False, log=lambda *a: None)
    s2 = train.TrainSettings(epochs=2, batch_size=32, lr=0.01, val_size=40, seed=3)
    with pytest.raises(ValueError, match=r"holds a run with other settings \(settings.lr differ\)"):
        train.train(tiny_config(), toy_dataset(), s2, out, resume=True, progress=False, log=lambda *a: None)
    s3 = train.TrainSettings(epochs=2, batch_size=32, lr=0.05, val_size=40, seed=3)  # more epochs: fine
    r = train.train(tiny_config(), toy_dataset(), s3, out, resume=True, progress=False, log=lambda *a: None)
    assert [h["epoch"] for h in r["history"]] == [1, 2]
    assert os.path.isfile(os.path.join(out, "curves.png"))


def _check_step_matches_the_direct_one(conv, seed, op_counts):
    """Trainer(conv=conv) on `small` against the direct Trainer: its graph holds ``op_counts``
    (op name -> count); from the same weights it gives the direct logits, and one step the direct
    loss and new weights, to float32 rounding; a second Trainer's step gives the same bits.
    Returns the direct Trainer."""
    from zfnet.nn import configs, model
    cfg = configs.get_config("small", num_classes=5)
    s = train.TrainSettings(batch_size=8, clip_radius=0.1, seed=3)
    rng = np.random.RandomState(seed)
    x = rng.rand(8, 1, 28, 28).astype("float32")
    y = rng.randint(0, 5, 8).astype("int32")
    direct, other = train.Trainer(cfg, s), train.Trainer(cfg, s, conv=conv)
    ops = [type(n.op).__name__ for n in other.train_fn.maker.fgraph.toposort()]
    assert {name: ops.count(name) for name in op_counts} == op_counts, ops
    w0 = model.get_weights(direct.net)
    model.set_weights(other.net, w0)
    np.testing.assert_allclose(other.logits_fn(x), direct.logits_fn(x), rtol=1e-4, atol=1e-5)
    steps = []
    for t in (direct, other, train.Trainer(cfg, s, conv=conv)):
        model.set_weights(t.net, w0)
        for r in t.srngs:  # the same dropout masks
            r.seed(7)
        steps.append((float(t.train_fn(x, y)[0]), model.get_weights(t.net)))
    (ld, wd), (lo, wo), (lo2, wo2) = steps
    assert abs(ld - lo) < 1e-5 * max(1.0, abs(ld)) and lo2 == lo
    for k in wd:
        assert not np.array_equal(wd[k], w0[k]) or k.endswith(".b"), k  # the step moved the weights
        np.testing.assert_allclose(wo[k], wd[k], rtol=1e-4, atol=1e-6, err_msg=k)
        assert np.array_equal(wo2[k], wo[k]), k
    return direct


def test_winograd_training_step_matches_the_direct_one():
    """Trainer(conv='winograd'): the forward pass and input gradients of the 3x3 stride-1 layers
    go through Winograd3x3 (the weight gradients stay CorrMM); conv1 has 32 outputs (forward)
    and no input gradient, conv2-conv5 forward + input gradient."""
    direct = _check_step_matches_the_direct_one("winograd", 0, {"Winograd3x3": 9, "CorrMM_gradWeights": 5})
    assert "Winograd3x3" not in [type(n.op).__name__ for n in direct.train_fn.maker.fgraph.toposort()]
    with pytest.raises(Exception, match="conv 'fft'"):
        train.Trainer(direct.cfg, direct.s, conv="fft")


def test_batched_training_step_matches_the_direct_one():
    """Trainer(conv='batched'): conv2-conv5's forward pass and both gradients go through
    BatchedCorr (conv1, one input channel, stays CorrMM)."""
    _check_step_matches_the_direct_one("batched", 1, {"BatchedCorr": 12, "CorrMM_gradWeights": 1})
