"""Every Fashion-MNIST experiment end to end with --quick settings (tiny data, 2 epochs), in a
scratch runs folder shared by the session so the quick base model is trained once."""
import os

import numpy as np
import pytest

from experiment_runs import read_csv as _csv, run_experiment as _run, runs  # noqa: F401 (a fixture)
from zfnet.repro import reproduce as rep

pytestmark = pytest.mark.slow


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
            assert r["progress_cka"][seed][l][-1] == pytest.approx(1.0)
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


def test_fig4_unit_progress_by_hand():
    """The rule's measure: the floor pairs two seeds' units whatever their order; progress is 0 at
    the floor's correlation and 1 at the final form."""
    from zfnet.repro.analysis import matched_unit_correlations
    mod = rep.load_experiment("fig4_evolution")
    rng = np.random.RandomState(0)
    ua = rng.randn(8, 200)
    ub = ua[rng.permutation(8)] + 0.5 * rng.randn(8, 200)        # seed 2: the same units, shuffled, noisier
    final = {1: {l: ua for l in mod.LAYERS}, 2: {l: ub for l in mod.LAYERS}}
    floor = float(np.mean(matched_unit_correlations(ua, ub)))
    assert 0.85 < floor < 0.95                                     # 1/sqrt(1.25) = 0.894: the pairing found them
    same = {1: {1: {l: floor for l in mod.LAYERS}, 2: {l: (1 + floor) / 2 for l in mod.LAYERS},
                3: {l: 1.0 for l in mod.LAYERS}},
            2: {e: {l: 1.0 for l in mod.LAYERS} for e in (1, 2, 3)}}
    got_floor, prog = mod.unit_progress(same, final, [1, 2], [1, 2, 3])
    assert got_floor["conv2"] == pytest.approx(floor)
    assert prog[1]["conv4"] == pytest.approx([0.0, 0.5, 1.0])


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


def test_fig6_first_seeds_recomputes_the_tests_on_the_first_three():
    """Two more seeds turn a close 'not shown' into 'holds' (t 4.0 on 2 df, against 4.30; on 4 df
    the critical t is 2.78); the first three seeds' outcome is recomputed, in the claimed direction."""
    mod = rep.load_experiment("fig6_filters")
    tests = {"up": rep.effect([2, 1, 1, 2, 1], [0] * 5, ">"), "down": rep.effect([0] * 5, [2, 1, 1, 2, 1], "<")}
    assert tests["up"]["outcome"] == "holds" and tests["down"]["outcome"] == "holds"
    got = mod.first_seeds(tests, 3)
    for k in tests:
        assert got[k]["outcome"] == "not shown" and got[k]["df"] == 2
        assert got[k]["a"] == tests[k]["a"][:3] and got[k]["claim"] == tests[k]["claim"]
    # by hand: differences 2, 1, 1: mean 4/3, sd 0.577, se 1/3, t = 4.0
    assert got["up"]["mean"] == pytest.approx(4 / 3) and got["up"]["se"] == pytest.approx(1 / 3)


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
