"""Every experiment end to end with --quick settings (tiny data, 2 epochs), in a scratch
runs folder shared by the session so the quick base model is trained once."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from zfnet.repro import reproduce as rep

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    return str(tmp_path_factory.mktemp("experiment-runs"))


def _run(name, runs, tmp_path, monkeypatch, base_run=True):
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


def _csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_fig2_top9(runs, tmp_path, monkeypatch):
    out, doc = _run("fig2_top9", runs, tmp_path, monkeypatch)
    assert sorted(f for f in os.listdir(out) if f.startswith("topk_")) == \
        ["topk_conv%d.png" % i for i in range(1, 6)]
    for l, p in doc["results"]["purity"]["1"].items():
        assert 1 / 9.0 - 1e-9 <= p["mean"] <= 1.0  # at least one of nine, at most all
        # live maps and dead maps add up to the layer's maps
        assert p["maps"] + doc["results"]["dead_maps"]["1"][l] == {"conv1": 32, "conv2": 64, "conv3": 96,
                                                                   "conv4": 96, "conv5": 64}[l]
        inv = doc["results"]["invariance"]["1"][l]
        assert inv["maps"] == p["maps"] and inv["mean"] >= 0
    assert 1 / 9.0 < doc["results"]["chance_purity"] < 0.6
    assert set(doc["results"]["tests"]) == {"class_specific", "invariant"}


def test_tab3_lesson_parts_on_made_up_errors():
    """Each of the six parts can hold and can fail: errors made so that the paper's lesson holds,
    then each part broken in turn."""
    mod = rep.load_experiment("tab3_ablation")
    j = np.array([-0.002, 0.0, 0.002])  # seed-to-seed jitter
    good = {"ZF model (ours: small)": 0.10, "fc6, fc7 halved": 0.101, "fc6, fc7 doubled": 0.099,
            "conv3-5 widened": 0.09, "- conv3, conv4": 0.12, "- fc7": 0.10, "- fc6, fc7": 0.11,
            "- conv3, conv4, fc6, fc7": 0.30, "conv3-5 widened + fc6, fc7 doubled": 0.095}
    train = {n: 0.05 for n in good}
    train["conv3-5 widened + fc6, fc7 doubled"] = 0.0

    def res(err, tr):
        return {n: {"test_top1": list(err[n] + j), "train_top1": list(tr[n] + j[::-1])} for n in err}
    _, out = mod.lesson(res(good, train), "ZF model (ours: small)")
    assert list(out.values()) == ["holds"] * 6, out
    broken = {"removing fc6-7 costs little": ("- fc6, fc7", 0.40), "removing both is much worse": ("- conv3, conv4, fc6, fc7", 0.05),
              "fc width matters little": ("fc6, fc7 halved", 0.15), "a wider conv part helps": ("conv3-5 widened", 0.12)}
    for part, (n, v) in broken.items():
        _, out = mod.lesson(res(dict(good, **{n: v}), train), "ZF model (ours: small)")
        assert out[part] in ("contradicted", "partly"), (part, out)
    _, out = mod.lesson(res(good, dict(train, **{"conv3-5 widened + fc6, fc7 doubled": 0.09})), "ZF model (ours: small)")
    assert out["widening both overfits"] == "contradicted"


def test_fig4_evolution(runs, tmp_path, monkeypatch):
    out, doc = _run("fig4_evolution", runs, tmp_path, monkeypatch, base_run=False)
    r = doc["results"]
    assert r["epochs"] == [1, 2] and r["seeds"] == [1, 2]
    layers = r["seed1_per_map"]["layers"]
    assert sorted(layers) == ["conv%d" % i for i in range(1, 6)]
    for l, d in layers.items():
        assert d["weight_distance_to_final"][-1] == 0.0 and d["weight_distance_to_final"][0] > 0
        assert all(e in (1, 2) for e in d["settle_epochs"]) and len(d["settle_epochs"]) == 16
        assert d["median_settle_epoch"] == float(np.median(d["settle_epochs"]))
    for seed in ("1", "2"):
        for l, p in r["progress"][seed].items():
            assert p[-1] == pytest.approx(1.0)  # the final epoch against itself
            assert 0 <= r["noise_floor"][l] <= 1
    assert set(r["outcomes"]) == {"lower layers converge within a few epochs", "upper layers develop late"}
    assert os.path.exists(os.path.join(out, "evolution.png")) and _csv(os.path.join(out, "progress.csv"))


def test_settle_epoch_by_hand():
    mod = rep.load_experiment("fig4_evolution")
    epochs = [1, 2, 5, 10]
    assert mod.settle_epoch(epochs, [True, True, True]) == 1
    assert mod.settle_epoch(epochs, [True, False, True]) == 5      # steady from 5 on
    assert mod.settle_epoch(epochs, [True, True, False]) == 10     # not within the run


def test_fig4_progress_by_hand():
    """Progress is 1 for the final form, 0 for another seed's final form, and in between for a mix."""
    from zfnet.repro.analysis import centred_gram, linear_cka
    mod = rep.load_experiment("fig4_evolution")
    rng = np.random.RandomState(0)
    fa, fb = rng.randn(30, 6), rng.randn(30, 6)
    g = lambda x: {l: centred_gram(x) for l in mod.LAYERS}
    grams = {1: {1: g(fb), 2: g(0.5 * fa + 0.5 * fb), 3: g(fa)}, 2: {1: g(fa), 2: g(fb), 3: g(fb)}}
    floor, prog = mod.progress(grams, [1, 2], [1, 2, 3])
    assert floor["conv1"] == pytest.approx(linear_cka(centred_gram(fa), centred_gram(fb)))
    p = prog[1]["conv3"]
    assert p[0] == pytest.approx(0.0, abs=1e-12) and p[2] == pytest.approx(1.0) and 0 < p[1] < 1
    assert prog[2]["conv5"][0] == pytest.approx(0.0, abs=1e-12)


def test_fig5_invariance(runs, tmp_path, monkeypatch):
    out, doc = _run("fig5_invariance", runs, tmp_path, monkeypatch)
    rows = _csv(os.path.join(out, "invariance.csv"))
    identity = {"translation": "0", "scale": "1.0", "rotation": "0"}
    for r in rows:
        if r["amount"] == identity[r["transform"]]:
            assert float(r["dist_layer1"]) == 0 and float(r["dist_layer7"]) == 0
        assert 0 <= float(r["p_true"]) <= 1
    # rotation by 360 degrees is the identity too
    full = [r for r in rows if r["transform"] == "rotation" and r["amount"] == "360"]
    assert full and all(float(r["dist_layer1"]) < 1e-3 for r in full)
    assert len(doc["results"]["images"]) == 5


def test_fig6_filters(runs, tmp_path, monkeypatch):
    out, doc = _run("fig6_filters", runs, tmp_path, monkeypatch, base_run=False)
    r, mod = doc["results"], rep.load_experiment("fig6_filters")
    m = r["measures"]
    clip, noclip, he = (mod.arm_label(i, c) for i, c in mod.CLIP_ARMS)
    assert set(m) == {clip, noclip, he, "11x11/4", "7x7/2"}
    for k, by_seed in m.items():
        for s, v in by_seed.items():
            # clipping bounds every conv1 filter's RMS by the radius after every epoch
            if k != noclip:
                for rms in r["conv1_rms_by_epoch_seed1"][k].values():
                    assert max(rms) <= mod.RADIUS + 1e-5
            assert 0 <= v["alias_output_nyquist"] <= 1 and 0 <= v["checkerboard_conv2"] <= 1
            assert v["dead"] == v["conv1"]["dead"] + v["conv2"]["dead"]
    # He init gives `small`'s 3x3x1 conv1 filters an RMS near sqrt(2/9) = 0.47: all above the
    # radius; N(0, 0.01^2) none
    above = r["default_pairing"]["conv1_share_above_radius_at_init"]
    assert above["he"] == 1.0 and above["gauss-conv1"] == 0.0
    assert all(0 <= v <= 1 for v in r["geometry"]["input_power_share"].values())
    assert r["geometry"]["outcomes"]["aliased conv1 filters"] == "not shown"
    for f in r["figures"]:
        assert os.path.exists(os.path.join(out, f))


def test_fig6_geometry_reaches_the_same_map_at_conv2():
    from zfnet.nn import model as modelmod
    mod = rep.load_experiment("fig6_filters")
    nets = {g: modelmod.build(mod.geometry_config(g)) for g in mod.GEOMETRIES}
    assert nets["11x11/4"]["conv1"].output_shape[2:] == (16, 16)
    assert nets["7x7/2"]["conv1"].output_shape[2:] == (32, 32)
    assert nets["11x11/4"]["conv2"].output_shape == nets["7x7/2"]["conv2"].output_shape


def test_fig7_occlusion(runs, tmp_path, monkeypatch):
    out, doc = _run("fig7_occlusion", runs, tmp_path, monkeypatch)
    assert doc["params"]["square_sizes"] == [7, 14]
    images = doc["results"]["images"]["1"]
    shown = doc["params"]["shown"]
    assert len(images["7"]) == 10 and len(images["14"]) == 10  # one per class with --quick
    for i in shown:
        r = images["7"][str(i)]
        rows = _csv(os.path.join(out, "occlusion_%s.csv" % i))
        assert len(rows) == 22 * 22  # 7x7 square, stride 1, over 28x28
        p = np.array([float(x["p_true"]) for x in rows])
        assert r["p_min"] == pytest.approx(p.min(), abs=1e-5)
        a = np.array([float(x["map_activation"]) for x in rows])
        assert r["corr_activation_probability"] == pytest.approx(np.corrcoef(a, p)[0, 1], abs=1e-4)
        assert r["object_positions"] + r["background_positions"] <= 22 * 22
    m = doc["results"]["means"]["7"]["layer5"]
    got = [images["7"][k]["corr_activation_projection_covered"] for k in images["7"]]
    assert m["a"][0] == pytest.approx(np.mean(got)) and m["b"] == [0.0]
    assert set(doc["results"]["outcomes"]) == {"object", "background", "layer5"}


def test_tab1_correspondence(runs, tmp_path, monkeypatch):
    out, doc = _run("tab1_correspondence", runs, tmp_path, monkeypatch)
    d = doc["results"]["delta"]
    assert set(d) == {"left sleeve", "right sleeve", "neckline", "random", "random, per image"}
    for part in d.values():
        for v in part.values():
            assert 0 <= v <= 1
    # the control's square sits at one position shared by the images: five copies of one image
    # change the same way under it (Delta 0), not under squares that move from image to image
    from zfnet.io.checkpoint import load_model
    ck = doc["params"]["checkpoint"]
    model = load_model(ck if os.path.isabs(ck) else os.path.join(rep.REPO, ck))
    mod = rep.load_experiment("tab1_correspondence")
    img = rep.Context("t", str(tmp_path / "x"), quick=True).dataset().x_test[:1]
    table, _, _ = mod.correspondence(model, np.repeat(img, 5, axis=0), 73)
    assert all(table["random"][l] == 0 for l in mod.LAYERS)
    assert all(table["random, per image"][l] > 0 for l in mod.LAYERS)


def test_tab2_error(runs, tmp_path, monkeypatch):
    out, doc = _run("tab2_error", runs, tmp_path, monkeypatch)
    r = doc["results"]
    assert r["test"]["images"] == 500 and r["validation"]["images"] == 120
    assert r["test"]["top5"] <= r["test"]["top1"]
    # the logged last-epoch test error is the one evaluate measures again
    assert r["epochs"][-1]["test_top1"] == pytest.approx(r["test"]["top1"])


def test_tab3_ablation(runs, tmp_path, monkeypatch):
    out, doc = _run("tab3_ablation", runs, tmp_path, monkeypatch, base_run=False)
    v = doc["results"]["variants"]
    assert len(v) == 9 and doc["results"]["seeds"] == [1]
    p = {n: r["params"] for n, r in v.items()}
    base = p["ZF model (ours: small)"]
    assert p["- fc7"] < base and p["- fc6, fc7"] < p["- fc7"] and p["fc6, fc7 doubled"] > base
    assert p["conv3-5 widened"] > base and p["- conv3, conv4"] < base
    # removing fc7 (256x256 + 256) changes the count by exactly that much
    assert base - p["- fc7"] == 256 * 256 + 256
    both = p["conv3-5 widened + fc6, fc7 doubled"]
    assert both - base == (p["conv3-5 widened"] - base) + (p["fc6, fc7 doubled"] - base) + \
        (64 * 9 * (512 - 256))  # fc6's input also grows with conv5: 64 -> 128 maps of 3x3
    for n, r in v.items():
        assert r["test_top1_mean"] == pytest.approx(np.mean(r["test_top1"]))


def test_tab4_transfer(runs, tmp_path, monkeypatch):
    out, doc = _run("tab4_transfer", runs, tmp_path, monkeypatch)
    acc = doc["results"]["accuracy"]
    for kind in ("pretrained", "scratch"):
        for n, s in acc[kind].items():
            assert len(s["runs"]) == 2 and all(0 <= a <= 1 for a in s["runs"])
            assert s["mean"] == pytest.approx(np.mean(s["runs"]))


def test_tab7_layers(runs, tmp_path, monkeypatch):
    out, doc = _run("tab7_layers", runs, tmp_path, monkeypatch)
    acc = doc["results"]["accuracy"]
    dims = {n: r["dim"] for n, r in acc["digits"].items()}
    assert dims == {"pixels": 784, "layer 1": 32 * 14 * 14, "layer 2": 64 * 7 * 7,
                    "layer 3": 96 * 49, "layer 4": 96 * 49, "layer 5": 64 * 9,
                    "layer 6": 256, "layer 7": 256}
    # pixels of digits are linearly separable well above chance even with 5 per class
    assert acc["digits"]["pixels"]["mean"] > 0.5


def test_experiments_run_on_a_users_training_run(runs, tmp_path, monkeypatch):
    """--run: the experiments study any run folder of `python -m zfnet train` (here the quick
    base run, as a user's own run would be) and write outside the committed results."""
    monkeypatch.setenv("ZFNET_RUNS_DIR", runs)
    quick = rep.reproduce("fig7_occlusion", quick=True, out=str(tmp_path / "q"), log=lambda *a: None,
                          progress=False)
    run_dir = os.path.join(rep.REPO, quick["params"]["base_run"]["folder"]) \
        if not os.path.isabs(quick["params"]["base_run"]["folder"]) else quick["params"]["base_run"]["folder"]
    doc = rep.reproduce("fig7_occlusion", run=run_dir, log=lambda *a: None, progress=False)
    out = os.path.join(runs, "reproduce", os.path.basename(run_dir), "fig7_occlusion")
    assert os.path.exists(os.path.join(out, "results.json"))
    assert doc["params"]["user_run"] == os.path.abspath(run_dir)
    assert doc["command"] == "python -m zfnet reproduce fig7_occlusion --run %s" % run_dir
    # same checkpoint, same test images: the same probabilities
    mine, theirs = doc["results"]["images"][1][7], quick["results"]["images"][1][7]
    assert set(theirs) <= set(mine)  # --quick takes the first image of each class, a full run 3
    for i, r in theirs.items():
        assert mine[i]["p_unoccluded"] == pytest.approx(r["p_unoccluded"])
    with pytest.raises(ValueError, match="Fashion-MNIST protocol only.*PARTS"):
        rep.reproduce("tab1_correspondence", run=run_dir, log=lambda *a: None, progress=False)
    with pytest.raises(ValueError, match="not a training run folder"):
        rep.reproduce("fig7_occlusion", run=str(tmp_path), log=lambda *a: None)


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
