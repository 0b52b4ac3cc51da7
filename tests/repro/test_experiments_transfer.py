"""The transfer experiments (Fashion-MNIST split by class, mosaics), seed 003 and the natural-image
protocol end to end with --quick settings; a file of their own so that the two test workers
share the experiments' time."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from experiment_runs import read_csv as _csv, run_experiment as _run, runs  # noqa: F401 (a fixture)
from zfnet.repro import reproduce as rep

pytestmark = pytest.mark.slow


def test_transfer_classes(runs, tmp_path, monkeypatch):
    out, doc = _run("transfer_classes", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert doc["params"]["split"]["held_out_classes"] == ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    for n, st in r["pretrained"].items():
        assert st["mean"] == pytest.approx(np.mean(st["per_seed"]))
        assert all(0 <= a <= 1 for a in st["runs"]["1"])
    assert set(r["item_summaries"]) == {"Table 4", "Fig. 9", "Table 5", "Table 7"}
    assert sorted(r["table7"]["svm"]) == sorted(["pixels"] + ["layer %d" % i for i in range(1, 8)])
    for s in r["scratch"].values():
        assert all(u % doc["params"]["early_stopping"]["every"] == 0 for u in s["updates"])


def test_transfer_breadth(runs, tmp_path, monkeypatch):
    out, doc = _run("transfer_breadth", runs, tmp_path, monkeypatch, base_run=False)
    r, prm = doc["results"], doc["params"]
    from zfnet.data import fashion_mnist
    mod = rep.load_experiment("transfer_breadth")
    for p, info in prm["partitions"].items():
        target, sources = mod.partition(int(p))
        assert len(target) == 2 and set(sources[2]) <= set(sources[5]) <= set(sources[8])
        assert not set(target) & set(sources[8])
        names = fashion_mnist.FASHION_CLASSES
        assert info["target"] == [names[c] for c in target]
        assert info["sources"]["8"] == [names[c] for c in sources[8]]
    assert prm["breadths"] == [2, 8] and len(r["scratch"]["per_partition"]) == 2
    for k, per_n in r["pretrained"].items():
        for n, v in per_n.items():
            assert all(0 <= a <= 1 for a in v["per_partition"])
            assert v["per_partition"][0] == pytest.approx(np.mean(v["per_draw"]["0"]))
    assert set(r["outcomes"]) == {"dose-response", "broad source beats scratch"}
    rows = _csv(os.path.join(out, "layers.csv"))
    assert [row["features"] for row in rows] == ["pixels"] + ["layer %d" % i for i in range(1, 8)]


def test_transfer_split_and_draws_are_disjoint_and_nested():
    mod = rep.load_experiment("transfer_classes")
    y = np.repeat(np.arange(5), 200)
    pool, val = mod.split_pool(y, 20)
    assert len(val) == 100 and not set(pool) & set(val) and len(pool) + len(val) == len(y)
    a, b = mod.draw(pool, y, 15, 0), mod.draw(pool, y, 30, 0)
    assert set(a) <= set(b) and not set(b) & set(val)
    assert all(np.sum(y[b] == c) == 30 for c in range(5))
    assert set(mod.draw(pool, y, 15, 1)) != set(a)


def test_tab6_multilabel(runs, tmp_path, monkeypatch):
    out, doc = _run("tab6_multilabel", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    for k in ("pretrained", "scratch"):
        assert r["mAP"][k]["mean"] == pytest.approx(np.mean([np.mean(v) for v in r["AP_runs"][k].values()]))
        assert all(0 <= a <= 1 for v in r["AP_runs"][k].values() for a in v)
        assert r["mAP_single_items"][k]["mean"] == pytest.approx(
            np.mean([np.mean(v) for v in r["AP_runs_single_items"][k].values()]))
    assert set(r["outcomes"]) == {"carries over", "pre-trained transfers"}


def test_mosaics_hold_their_labelled_items():
    mod = rep.load_experiment("tab6_multilabel")
    x = np.stack([np.full((1, 4, 4), 10 * (c + 1), np.uint8) for c in range(5)])
    y = np.arange(5)
    img, lab = mod.mosaics(x, y, 50, 5, seed=0)
    assert img.shape == (50, 1, 8, 8)
    for im, l in zip(img, lab):
        cells = {int(im[0, r * 4, q * 4]) for r in (0, 1) for q in (0, 1)} - {0}
        assert cells == {10 * (c + 1) for c in np.flatnonzero(l)} and 2 <= l.sum() <= 4


def test_seed003_vgg16(runs, tmp_path, monkeypatch):
    monkeypatch.setenv("ZFNET_RUNS_DIR", runs)
    monkeypatch.delenv("ZFNET_VGG16_CHECKPOINT", raising=False)
    out = str(tmp_path / "seed003")
    doc = rep.reproduce("seed003_vgg16", quick=True, out=out, log=lambda *a: None, progress=False)
    r = doc["results"]
    assert r["single_pass_s"] > 0 and "random" in doc["params"]["weights"]
    chans = r["images"]["china"]["channels"]
    assert len(chans) == 13 and all(len(set(c)) == 3 for c in chans.values())
    with Image.open(os.path.join(out, "china_projections.png")) as im:
        assert im.size[1] > 13 * 96  # the photo plus one row per layer


def test_transfer_overall_verdict_from_its_items():
    mod = rep.load_experiment("transfer_classes")
    assert mod.overall(["yes", "yes"]) == "yes" and mod.overall(["no", "no"]) == "no"
    assert mod.overall(["yes", "no"]) == "partly" and mod.overall(["partly", "partly"]) == "partly"


@pytest.fixture(scope="session")
def natural_data(tmp_path_factory):
    """Small Tiny ImageNet and Caltech-101 copies fetched into a data folder of their own."""
    from natural_archives import learnable_caltech, learnable_tiny
    from zfnet.data import natural
    d = tmp_path_factory.mktemp("natural")
    natural.fetch_tiny_imagenet(learnable_tiny(str(d / "dl-tin")), root=str(d / "data" / "tiny-imagenet"),
                                progress=False, log=lambda *a: None)
    natural.fetch_caltech101(learnable_caltech(str(d / "dl-cal")), root=str(d / "data" / "caltech101"),
                             progress=False, log=lambda *a: None)
    return str(d / "data")


def test_tab2_tiny_imagenet_and_caltech101(runs, natural_data, tmp_path, monkeypatch):
    """The natural-image protocol end to end on small copies: the shared zf64 run, its error
    beside the published one, and Caltech-101's Table 4 / Fig. 9 / Table 7 with their rules."""
    monkeypatch.setenv("ZFNET_DATA", natural_data)
    out, doc = _run("tab2_tiny_imagenet", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert 0 <= r["test"]["top1"] <= 1 and r["test"]["top5"] <= r["test"]["top1"]
    assert [e["epoch"] for e in r["epochs"]] == [1, 2]
    rows = _csv(os.path.join(out, "table2.csv"))
    assert any("Yao & Miller" in row["model"] for row in rows) and "zf64" in rows[-1]["model"]
    run_folder = doc["params"]["natural_runs"]["1"]["folder"]
    out, doc = _run("caltech101", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert doc["params"]["natural_runs"]["1"]["folder"] == run_folder  # the same shared run, reused
    assert doc["params"]["classes"] == 4 and doc["params"]["background_class"] is True
    # every from-scratch training is kept as it finishes, for a killed run to resume from
    pieces_path = doc["params"]["scratch_pieces"]
    with open(pieces_path if os.path.isabs(pieces_path) else os.path.join(rep.REPO, pieces_path)) as f:
        pieces = json.load(f)
    assert sorted(pieces) == ["3/0", "3/1"]
    assert [pieces["3/%d" % s][0] for s in (0, 1)] == r["accuracy"]["scratch"]["3"]["runs"]
    for arm in ("pretrained", "scratch"):
        for n, st in r["accuracy"][arm].items():
            assert len(st["runs"]) == 2 and all(0 <= a <= 1 for a in st["runs"])
    assert sorted(r["table7"]) == sorted(["pixels"] + ["layer %d" % i for i in range(1, 8)])
    assert r["table7"]["layer 1"]["dim"] == 64 * 28 * 28 and r["table7"]["layer 7"]["dim"] == 1024
    t = r["tests"]["table7_deep_beats_shallow"]
    assert t["outcome"] in ("holds", "contradicted", "not shown") and t["test"] == "paired t"
    assert set(r["item_summaries"]) == {"Table 4", "Fig. 9", "Table 7"}
    for f in ("fig9.png", "table7.png", "fig9.csv", "table7.csv"):
        assert os.path.exists(os.path.join(out, f))
    out, doc = _run("fig7_natural", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    sizes = doc["params"]["square_sizes"]
    assert sizes == [14, 7] and len(doc["params"]["images"]) == 2
    for s in sizes:
        for m in r["images"][str(s)].values():
            assert -1 <= m["corr_activation_projection_covered"] <= 1 and 0 <= m["p_unoccluded"] <= 1
            assert m["object_positions"] > 0  # the synthetic boxes cover the image: no background
            assert m["background_positions"] == 0 and m["drop_background"] is None
    assert r["outcomes"]["background"] == "not shown"
    out, doc = _run("fig2_natural", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert sorted(f for f in os.listdir(out) if f.startswith("topk_")) == ["topk_conv%d.png" % i for i in range(1, 6)]
    for l in ("conv1", "conv5"):
        assert all(1 / 9.0 - 1e-9 <= p <= 1 for p in r["purity"][l])
        assert len(r["purity"][l]) + r["dead_maps"][l] == {"conv1": 64, "conv5": 128}[l]
        assert all(v >= 0 for v in r["invariance"][l])
    with Image.open(os.path.join(out, "topk_conv1.png")) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    assert (np.abs(a[..., 0] - a[..., 1]).max() > 30)  # colour, not grey
    out, doc = _run("fig5_natural", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert len(r["images"]) == 3 and set(r["tests"]) == {
        "layer1_above_layer7_translation", "layer1_above_layer7_scale", "layer1_above_layer7_rotation",
        "translation_more_stable_than_rotation", "scale_more_stable_than_rotation"}
    rows = _csv(os.path.join(out, "invariance.csv"))
    zero = [row for row in rows if row["transform"] == "rotation" and float(row["amount"]) == 0]
    assert zero and all(float(row["dist_layer1"]) == 0 and float(row["dist_layer7"]) == 0 for row in zero)
