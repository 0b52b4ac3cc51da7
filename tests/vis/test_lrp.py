"""LRP-epsilon, a backward rule added in one class (zfnet.vis.rules.LRPEpsilon): checked against
an independent numpy implementation of the rule on the tiny network (conv, ReLU, overlapping
max-pooling, LRN, a fully connected layer as a convolution), and for conservation: with zero
biases the relevance reaching the input adds up to the unit's activation."""
import numpy as np
import pytest

from zfnet.nn import model
from zfnet.vis import rules
from zfnet.vis.deconv import Projector
from ref import forward, switches_ref, transposed_xcorr2d, unpool_ref
from conftest import random_tiny_net


def lrp_numpy(cfg, arrays, x, layer, unit, eps):
    """Relevance at the input of one unit (c, y, x) of ``layer`` of image ``x`` (1, C, H, W)."""
    outs = forward(cfg, arrays, x.astype(np.float64))
    names = [s["name"] for s in cfg["layers"]]
    specs = {s["name"]: s for s in cfg["layers"]}
    c, y, xx = unit
    R = np.zeros_like(outs[layer]); R[0, c, y, xx] = outs[layer][0, c, y, xx]
    for i in range(names.index(layer), -1, -1):
        name, spec = names[i], specs[names[i]]
        a = outs[names[i - 1]] if i > 0 else x.astype(np.float64)
        if spec["type"] in ("conv", "fc"):
            z = outs[name]
            s = R / (z + eps * np.where(z >= 0, 1.0, -1.0))
            stride, pad = (spec["stride"], spec["pad"]) if spec["type"] == "conv" else (1, 0)
            R = a * transposed_xcorr2d(s, arrays[name + ".W"].astype(np.float64), a.shape[2:], stride, pad)
        elif spec["type"] == "maxpool":
            sw = switches_ref(a, spec["pool_size"], spec["stride"], not spec["ignore_border"])
            R = unpool_ref(R, sw, a.shape[2:])
        # relu, lrn, dropout: relevance passes unchanged
    return R


@pytest.fixture(scope="module")
def setup():
    cfg, net, arrays, rng = random_tiny_net(7, 8)
    return cfg, net, arrays, rng.randn(2, 1, 12, 12).astype("float32")


@pytest.mark.parametrize("layer", ["conv1", "conv2", "relu2", "fc6"])
def test_lrp_matches_a_numpy_implementation(setup, layer):
    cfg, net, arrays, x = setup
    model.set_weights(net, arrays)
    res = Projector(net).project(x, layer, top=2, method="lrp")[layer]
    for i in range(len(x)):
        for j in range(2):
            want = lrp_numpy(cfg, arrays, x[i:i + 1], layer, tuple(res.units[i, j]), rules.LRPEpsilon.epsilon)[0]
            np.testing.assert_allclose(res.reconstructions[i, j], want, rtol=2e-3, atol=2e-5 * np.abs(want).max())


def test_relevance_is_conserved_with_zero_biases(setup):
    cfg, net, arrays, x = setup
    zero = {k: (np.zeros_like(v) if k.endswith(".b") else v) for k, v in arrays.items()}
    model.set_weights(net, zero)
    res = Projector(net).project(x, "fc6", top=3, method="lrp")["fc6"]
    sums = res.reconstructions.reshape(res.reconstructions.shape[:2] + (-1,)).astype(np.float64).sum(axis=2)
    np.testing.assert_allclose(sums, res.activations, rtol=1e-3)
    model.set_weights(net, arrays)
