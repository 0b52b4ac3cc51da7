import numpy as np
import pytest

from zfnet.nn import model
from zfnet.vis import render
from zfnet.vis.deconv import Projector


def identity_net():
    """conv1: three 1x1 filters that copy R, G, B; then a ReLU."""
    cfg = {"name": "identity", "input_shape": [3, 8, 8], "num_classes": 3, "layers": [
        {"name": "conv1", "type": "conv", "num_filters": 3, "filter_size": 1, "stride": 1, "pad": 0},
        {"name": "relu1", "type": "relu"}]}
    net = model.build(cfg)
    model.set_weights(net, {"conv1.W": np.eye(3, dtype="float32").reshape(3, 3, 1, 1),
                            "conv1.b": np.zeros(3, "float32")})
    return net


def _hue_error(a, b):
    d = np.abs(render.hue(a) - render.hue(b))
    return np.minimum(d, 1 - d).max()


def test_projection_then_rendering_keeps_the_input_hue():
    rng = np.random.RandomState(0)
    # an orange-ish picture, channels with very different spreads
    raw = np.stack([200 + 50 * rng.rand(8, 8), 130 + 40 * rng.rand(8, 8), 15 + 20 * rng.rand(8, 8)])
    mean = np.array([10.0, 10.0, 10.0])      # equal per channel: hue(raw - mean) == hue(raw);
    # every pixel above the mean, so the ReLU passes the whole input
    std = np.array([60.0, 25.0, 5.0])        # unequal: forgetting to undo it shifts the hue
    x = ((raw - mean[:, None, None]) / std[:, None, None]).astype("float32")[None]
    res = Projector(identity_net(), "deconvnet").project(x, "relu1", channels=[0, 1, 2], mode="map")
    recon = res["relu1"].reconstructions[0].sum(axis=0)  # (3, 8, 8): the three maps together
    np.testing.assert_allclose(recon, x[0], rtol=1e-6)   # the identity net returns its input
    want = raw.transpose(1, 2, 0) / 255.0
    img = render.reconstruction_to_rgb(recon, mean, std)  # the default: common scale
    assert _hue_error(img, want) < 1e-6
    # the broken alternatives really change the hue (the test can fail)
    assert _hue_error(render.reconstruction_to_rgb(recon, mean, std, scale="each"), want) > 0.02
    assert _hue_error(render.reconstruction_to_rgb(recon), want) > 0.02  # std not undone
    # 'image' puts the mean back: the raw pixels themselves
    np.testing.assert_allclose(render.reconstruction_to_rgb(recon, mean, std, scale="image"),
                               np.clip(want, 0, 1), atol=1e-6)


def test_common_scale_maps_zero_to_mid_grey_and_max_to_full():
    r = np.zeros((3, 2, 2)); r[0, 0, 0] = 4.0; r[2, 1, 1] = -2.0
    img = render.reconstruction_to_rgb(r)
    assert img[0, 0, 0] == 1.0 and img[1, 1, 2] == 0.25 and img[0, 1, 1] == 0.5


def test_grey_and_errors():
    assert render.reconstruction_to_rgb(np.ones((1, 3, 3))).shape == (3, 3)
    with pytest.raises(ValueError, match="scale 'rainbow'"):
        render.reconstruction_to_rgb(np.ones((3, 2, 2)), scale="rainbow")
    with pytest.raises(ValueError, match=r"must be \(C, H, W\)"):
        render.reconstruction_to_rgb(np.ones((2, 2)))


def test_tile_and_uint8_passthrough():
    a = np.full((2, 2, 3), 200, np.uint8)
    assert render.to_uint8(a) is a or np.array_equal(render.to_uint8(a), a)
    g = render.tile([a, np.zeros((2, 2))], cols=2, pad=1)
    assert g.shape == (4, 7, 3) and g[1, 1, 0] == 200 and g[1, 4, 0] == 0


def test_pixels_to_rgb():
    x = np.arange(12, dtype=np.uint8).reshape(3, 2, 2) * 20
    rgb = render.pixels_to_rgb(x)
    assert rgb.shape == (2, 2, 3) and rgb[1, 0, 2] == x[2, 1, 0] / 255.0
    assert render.pixels_to_rgb(x[:1]).shape == (2, 2)
    np.testing.assert_array_equal(render.to_uint8(render.pixels_to_rgb(x)), x.transpose(1, 2, 0))


def test_occlusion_picture_colours_each_pixel_by_its_nearest_occluder():
    from zfnet.vis import render
    img = np.full((12, 12, 3), 0.5)
    pmap = np.array([[0.0, 1.0, 0.5], [0.2, 0.4, 0.6], [0.9, 0.1, 0.3]])   # size 4, stride 4
    pic = render.occlusion_picture(img, pmap, 4, 4, zoom=1)
    assert pic.shape[0] == 12 and pic.shape[1] > 12 + 14                    # image, gap, colour bar
    heat = render.to_uint8(0.45 * img[:3, :3] + 0.55 * render.heat_map(pmap))  # the 3x3 colours, blended
    for a in range(3):
        for b in range(3):  # the centre pixels of each occluder square take its colour
            np.testing.assert_array_equal(pic[4 * a + 1, 4 * b + 1], heat[a, b])
    bar = pic[:, 12 + 4:12 + 4 + 14]
    assert tuple(bar[0, 0]) == tuple(render.to_uint8(render.heat_map(np.array([[0.0, 1.0]])))[0, 1])  # high at the top
