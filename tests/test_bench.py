from zfnet import bench
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
