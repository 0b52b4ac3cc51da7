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
