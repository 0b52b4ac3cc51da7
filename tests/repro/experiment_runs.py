"""What the experiment tests share: a scratch runs folder for the session (the quick base model is
trained once per test process), and running one experiment with --quick settings."""
import csv
import json
import os

import pytest
from PIL import Image

from zfnet.repro import reproduce as rep


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return str(tmp_path_factory.mktemp("experiment-runs"))


def run_experiment(name, runs, tmp_path, monkeypatch, base_run=True):
    monkeypatch.setenv("ZFNET_RUNS_DIR", runs)
    out = str(tmp_path / name)
    rep.reproduce(name, quick=True, out=out, log=lambda *a: None, progress=False)
    with open(os.path.join(out, "results.json")) as f:
        saved = json.load(f)
    assert saved["summary"]["holds"] in ("yes", "no", "partly", "not shown", "n/a (other dataset)")
    assert all(saved["summary"][k] for k in rep.SUMMARY_KEYS)
    assert saved["params"]["quick"] is True
    if base_run:
        assert saved["params"]["base_run"]["train_images"] == 1200
    pngs = [f for f in os.listdir(out) if f.endswith(".png")]
    assert pngs, "no figure written"
    for p in pngs:
        with Image.open(os.path.join(out, p)) as im:
            assert im.size[0] > 20 and im.size[1] > 20
    return out, saved


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))
