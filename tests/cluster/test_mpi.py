"""Data-parallel training over MPI, 2 ranks on this machine (mpiexec from the mpich wheel)."""
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from zfnet.io import checkpoint as ckpt

pytest.importorskip("mpi4py")
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec (pip install mpich)")]
HELPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "mpi_helper.py")


def _run(args, n=None, timeout=600):
    cmd = ([MPIEXEC, "-n", str(n)] if n else []) + [sys.executable, HELPER] + [str(a) for a in args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def test_two_ranks_with_half_batches_train_like_one_rank_with_the_whole(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    r = _run([one])
    assert r.returncode == 0, r.stderr[-2000:]
    r = _run([two, "--distributed"], n=2)
    assert r.returncode == 0, r.stderr[-2000:]
    a = ckpt.read_checkpoint(str(one / "final"))
    b = ckpt.read_checkpoint(str(two / "final"))
    for k in a[1]:
        np.testing.assert_allclose(b[1][k], a[1][k], rtol=2e-4, atol=2e-6, err_msg=k)
    la, lb = a[0]["metrics"], b[0]["metrics"]
    assert la["train_err"] == pytest.approx(lb["train_err"], abs=1e-9)
    assert la["train_loss"] == pytest.approx(lb["train_loss"], rel=1e-4)
    assert sorted(os.listdir(str(two))) == sorted(os.listdir(str(one)))  # one writer: the same files


def test_a_killed_rank_ends_the_job(tmp_path):
    t0 = time.time()
    r = _run([tmp_path / "k", "--distributed", "--kill-rank", "1"], n=2, timeout=300)
    assert r.returncode != 0 and time.time() - t0 < 300
    assert "KILLED" in r.stdout + r.stderr or "killed" in (r.stdout + r.stderr).lower(), r.stderr[-1000:]


def test_resume_on_two_ranks_and_ranks_that_drift_apart(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert _run([straight, "--distributed"], n=2).returncode == 0
    assert _run([resumed, "--distributed", "--epochs", "1"], n=2).returncode == 0
    r = _run([resumed, "--distributed", "--epochs", "2", "--resume"], n=2)
    assert r.returncode == 0, r.stderr[-2000:]
    a = ckpt.read_checkpoint(str(straight / "final"))[1]
    b = ckpt.read_checkpoint(str(resumed / "final"))[1]
    for k in a:
        np.testing.assert_allclose(b[k], a[k], rtol=1e-6, atol=1e-7, err_msg=k)
    r = _run([tmp_path / "drift", "--distributed", "--perturb-rank", "1"], n=2)
    assert r.returncode != 0 and "after epoch 1 the ranks' weights differ" in r.stdout + r.stderr
    assert not os.path.exists(str(tmp_path / "drift" / "checkpoints" / "epoch-001"))  # nothing written
