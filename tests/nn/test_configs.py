import json

import pytest

from zfnet.nn import configs, model


def test_zf_matches_paper_map_sizes_and_parameter_count():
    net = model.build(configs.get_config("zf"))
    shapes = model.output_shapes(net)
    # Fig. 3 of the paper (v3): 110 -> 55 -> 26 -> 13 -> 13 -> 13 -> 6.
    assert shapes["conv1"][1:] == (96, 110, 110)
    assert shapes["pool1"][1:] == (96, 55, 55)
    assert shapes["conv2"][1:] == (256, 26, 26)
    assert shapes["pool2"][1:] == (256, 13, 13)
    assert shapes["conv3"][1:] == (384, 13, 13) and shapes["conv4"][1:] == (384, 13, 13)
    assert shapes["pool5"][1:] == (256, 6, 6)
    assert shapes["fc6"][1:] == (4096, 1, 1) and shapes["prob"][1:] == (1000, 1, 1)
    # The independent reimplementation's count (PAPER.md), recomputed by hand:
    convs = [(96, 3, 7), (256, 96, 5), (384, 256, 3), (384, 384, 3), (256, 384, 3), (4096, 256, 6),
             (4096, 4096, 1), (1000, 4096, 1)]
    by_hand = sum(k * c * f * f + k for k, c, f in convs)
    assert model.count_params(net) == by_hand == 62357608


def test_small_keeps_every_zf_ingredient():
    cfg = configs.get_config("small")
    types = [l["type"] for l in cfg["layers"]]
    names = [l["name"] for l in cfg["layers"]]
    pools = [l for l in cfg["layers"] if l["type"] == "maxpool"]
    assert all(p["pool_size"] == 3 and p["stride"] == 2 for p in pools)  # overlapping
    assert names.index("norm1") == names.index("pool1") + 1
    assert names.index("norm2") == names.index("pool2") + 1
    convs = [l for l in cfg["layers"] if l["type"] == "conv"]
    assert [c["filter_size"] for c in convs[2:5]] == [3, 3, 3]
    assert names[names.index("conv3"):names.index("conv5") + 2] == \
        ["conv3", "relu3", "conv4", "relu4", "conv5", "relu5"]
    assert "drop6" in names and "drop7" in names
    for i, t in enumerate(types):  # every conv/fc is followed by its own ReLU (but fc8)
        if t in ("conv", "fc") and names[i] != "fc8":
            assert types[i + 1] == "relu"
    shapes = model.output_shapes(model.build(cfg))
    assert shapes["fc6"][1:] == (256, 1, 1) and shapes["input"][1:] == (1, 28, 28)


def test_zf64_map_sizes_and_parameter_count():
    """The 64-px network: 56 -> conv1 56 -> pool1 28 -> conv2 28 -> pool2 14 -> conv3-5 14 ->
    pool5 7 -> fc6 1 (ceil-mode 3x3/2 pools: (56 - 3) / 2 rounded up + 1 = 28)."""
    cfg = configs.get_config("zf64")
    net = model.build(cfg)
    shapes = model.output_shapes(net)
    assert shapes["input"][1:] == (3, 56, 56)
    assert shapes["conv1"][1:] == (64, 56, 56) and shapes["pool1"][1:] == (64, 28, 28)
    assert shapes["conv2"][1:] == (128, 28, 28) and shapes["pool2"][1:] == (128, 14, 14)
    assert shapes["conv5"][1:] == (128, 14, 14) and shapes["pool5"][1:] == (128, 7, 7)
    assert shapes["fc6"][1:] == (1024, 1, 1) and shapes["prob"][1:] == (200, 1, 1)
    convs = [(64, 3, 5), (128, 64, 3), (192, 128, 3), (192, 192, 3), (128, 192, 3), (1024, 128, 7),
             (1024, 1024, 1), (200, 1024, 1)]
    assert model.count_params(net) == sum(k * c * f * f + k for k, c, f in convs)
    types = [l["type"] for l in cfg["layers"]]
    assert types.count("lrn") == 2 and types.count("maxpool") == 3 and types.count("dropout") == 2


def test_config_from_json_file(tmp_path):
    cfg = configs.get_config("small", num_classes=4)
    assert cfg["layers"][-2]["num_units"] == 4
    p = tmp_path / "c.json"
    p.write_text(json.dumps(cfg))
    assert configs.get_config(str(p)) == cfg


@pytest.mark.parametrize("mutate,msg", [
    (lambda c: c["layers"][0].update(type="deconv"), "has type 'deconv'"),
    (lambda c: c["layers"][0].pop("stride"), r"'conv1' \(conv\) is missing \['stride'\]"),
    (lambda c: c["layers"][1].update(name="conv1"), "used twice"),
    (lambda c: c["layers"][3].update(n=4), "lrn n must be odd"),
    (lambda c: c.update(input_shape=[28, 28]), "input_shape must be"),
])
def test_bad_configs_say_what_is_wrong(mutate, msg):
    cfg = configs.get_config("small")
    mutate(cfg)
    with pytest.raises(ValueError, match=msg):
        configs.validate(cfg)


def test_unknown_config_name():
    with pytest.raises(ValueError, match="Unknown configuration 'alexnet'"):
        configs.get_config("alexnet")
