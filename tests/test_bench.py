import numpy as np
import pytest

from benchmarks import bench
from zfnet.nn import configs, model


def test_flop_count_by_hand_for_zf():
    net = model.build(configs.get_config("zf"))
    f = bench.layer_flops(net)
    assert f["conv1"] == 2 * 96 * 3 * 7 * 7 * 110 * 110
    assert f["conv2"] == 2 * 256 * 96 * 5 * 5 * 26 * 26
    assert f["fc6"] == 2 * 4096 * 256 * 6 * 6
    fwd, step = bench.flops_per_image(net)
    assert fwd == sum(f.values())
    assert step == 3 * fwd - f["conv1"]  # no gradient w.r.t. the input image
    assert 2.2e9 < fwd < 2.4e9  # ~1.17 G multiply-adds, as usually quoted for ZF


def test_deconv_flops_and_the_projectors_estimate_agree_by_hand():
    from zfnet.vis.deconv import Projector
    net = model.build(configs.get_config("small"))
    f = bench.layer_flops(net)
    # conv3 with k=2: the forward pass to conv3 plus two transposed passes of conv1..conv3
    want = (f["conv1"] + f["conv2"] + f["conv3"]) * 3
    assert bench.deconv_flops(net, ["conv3"], 2) == want
    assert abs(Projector(net).work_gflop(["conv3"], 2) - want / 1e9) < 1e-12


def test_first_picture_layers():
    assert bench.first_picture_layers(["input", "conv1", "conv2", "conv3", "conv4", "conv5", "fc6"]) \
        == ["conv1", "conv3", "conv5", "fc6"]
    vgg = list(model.build(configs.get_config("vgg16-notop"), batch_size=1))
    got = bench.first_picture_layers(vgg)
    # 13 conv layers: indices 0, 4, 8 and 12
    assert got == ["block1_conv1", "block3_conv1", "block4_conv2", "block5_conv3"]


@pytest.mark.parametrize("conv", ["direct", "batched"])
def test_profile_accounts_for_the_step_and_counts_flops_by_hand(conv):
    """The profile's kinds add up to the ops' time, and a kind's GFLOP/s is its FLOPs (counted by
    hand here for `small`'s convolutions) over its time, whichever op computes them (with
    --conv batched conv1 stays CorrMM, conv2-5 are BatchedCorr); nothing about speed is asserted."""
    r = bench.profile_train_step("small", 8, steps=2, conv=conv)
    assert r["conv"] == conv
    assert abs(sum(k["seconds_per_step"] for k in r["kinds"]) - r["ops_seconds"]) < 1e-9
    assert r["ops_seconds"] <= r["step_seconds"] + 1e-9
    kinds = {k["kind"]: k for k in r["kinds"]}
    assert {"conv forward", "conv weight gradient", "conv input gradient", "max-pool (switches)"} <= set(kinds)
    net = model.build(configs.get_config("small"))
    conv = [n for n in bench.layer_flops(net) if not net[n].covers_input()]
    fwd = sum(bench.layer_flops(net)[n] for n in conv)
    k = kinds["conv forward"]
    assert abs(k["gflops"] - fwd * 8 / k["seconds_per_step"] / 1e9) < 1e-6 * k["gflops"]
    assert conv[0] == "conv1" and "fc6" not in conv  # fc6 covers conv5's pooled map: a matrix product


def test_the_pytorch_peer_mirrors_every_config_map_for_map():
    """The peer's translation (no PyTorch needed) against the Lasagne network: every layer's
    output size and the parameter count; LRN's alpha scaled by the window, pooling in ceil mode."""
    import lasagne
    from benchmarks import peer_train
    for name in ("small", "zf64", "zf"):
        cfg = configs.get_config(name)
        plan = peer_train.plan(cfg)
        net = model.build(cfg, batch_size=1)
        shapes = [tuple(net[s["name"]].output_shape[1:]) for s in cfg["layers"] if s["type"] != "softmax"]
        assert [p[2] for p in plan] == shapes, name
        want = sum(int(np.prod(p.get_value().shape))
                   for p in lasagne.layers.get_all_params(net[next(reversed(net))]))
        assert peer_train.parameter_count(plan) == want, name
    small = peer_train.plan(configs.get_config("small"))
    lrn = [kw for kind, kw, _ in small if kind == "LocalResponseNorm"][0]
    assert lrn == dict(size=5, alpha=5e-4, beta=0.75, k=2.0)  # torch divides alpha by the window
    assert [kw["ceil_mode"] for kind, kw, _ in small if kind == "MaxPool2d"] == [True] * 3
    fc6 = [kw for kind, kw, _ in small if kind == "Conv2d"][5]
    assert fc6["kernel_size"] == (3, 3) and fc6["in_channels"] == 64  # spans pool5's 3x3 map


def test_run_peer_reads_the_peers_line_and_names_a_bad_interpreter(tmp_path):
    import os
    import pytest
    from zfnet.errors import UsageError
    fake = tmp_path / "python"
    # stands in for a Python with PyTorch: checks the arguments it is given, prints the peer's line
    fake.write_text('#!/bin/sh\n[ "$2 $3 $4 $5 $6 $7" = "--config small --batch 16 --steps 7" ] || exit 3\n'
                    'echo "torch small train step batch=16 threads=$OMP_NUM_THREADS params=1 steps=7 '
                    'best_s=0.1 median_s=0.2 img_per_s=160.0 median_img_per_s=80.0"\n')
    os.chmod(str(fake), 0o755)
    got = bench.run_peer(str(fake), "small", 16, 7, threads=2)
    assert got == {"images_per_s": 160.0, "median_images_per_s": 80.0, "threads": 2, "steps": 7}
    with pytest.raises(UsageError, match="exit status 3"):
        bench.run_peer(str(fake), "small", 32, 7)  # the fake exits 3 on other arguments
    with pytest.raises(UsageError, match="no-such-python"):
        bench.run_peer(str(tmp_path / "no-such-python"), "small", 16, 7)


def test_first_picture_breakdown_with_and_without_a_kept_function(tmp_path, monkeypatch):
    """The breakdown names the phases a first picture went through: built and optimised the
    first time, loaded from the function cache the next (the cache is per process here too)."""
    from PIL import Image
    from conftest import write_tiny_checkpoint
    monkeypatch.setenv("ZFNET_FUNCTION_CACHE_DIR", str(tmp_path / "functions"))
    monkeypatch.delenv("ZFNET_FUNCTION_CACHE", raising=False)
    ck, _, _ = write_tiny_checkpoint(tmp_path / "ck")
    img = str(tmp_path / "probe.png")
    Image.fromarray(np.random.RandomState(0).randint(0, 256, (12, 12)).astype(np.uint8)).save(img)
    first = bench.first_picture_breakdown(ck, img, ["conv1", "conv2", "fc6"], top=2)
    again = bench.first_picture_breakdown(ck, img, ["conv1", "conv2", "fc6"], top=2)
    assert "build the graph" in first and "optimise the graph" in first
    assert "load the kept graph (function cache)" in again and "optimise the graph" not in again
    for marks in (first, again):
        assert all(v >= 0 for k, v in marks.items() if k != "other (first-call bookkeeping)"), marks
        assert marks["total in process"] >= marks["link (C thunks from the cache)"]
