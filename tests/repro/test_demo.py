import json
import os

import pytest

from zfnet.data.dataset import DATA_DIR


@pytest.mark.slow
def test_the_demo_resumes_and_returns_at_once_when_complete(tmp_path, monkeypatch):
    if not os.path.exists(os.path.join(DATA_DIR, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")):
        pytest.skip("Fashion-MNIST not fetched")
    from zfnet.repro import demo
    from zfnet.train import TrainSettings
    s = TrainSettings(epochs=1, batch_size=32, val_size=50, limit=300, crop_pad=0, flip=False)
    out = str(tmp_path / "demo")
    lines = []
    first = demo.run_demo("small", "fashion-mnist", s, out, progress=False, log=lines.append)
    with open(os.path.join(out, "log.json")) as f:
        epoch1 = json.load(f)[0]
    for key in ("checkpoint", "curves", "filters", "visualize", "topk"):
        assert os.path.exists(first[key]), key
    monkeypatch.setattr(demo, "train_run", lambda *a, **k: pytest.fail("a complete demo trained again"))
    again = demo.run_demo("small", "fashion-mnist", s, out, progress=False, log=lines.append)
    assert again == first and "already complete" in lines[-1]
    monkeypatch.undo()
    s2 = TrainSettings(epochs=2, batch_size=32, val_size=50, limit=300, crop_pad=0, flip=False)
    more = demo.run_demo("small", "fashion-mnist", s2, out, progress=False, log=lines.append)
    with open(os.path.join(out, "log.json")) as f:
        rows = json.load(f)
    assert more["epochs"] == 2 and [r["epoch"] for r in rows] == [1, 2]
    assert rows[0] == epoch1  # epoch 1 was resumed from, not trained again
