"""Integrated Gradients: completeness (the attributions of a unit add up to f(x) - f(baseline))
checked against an independent numpy forward pass, and its relation to the gradient."""
import numpy as np
import pytest

from zfnet.errors import UsageError
from zfnet.vis.deconv import Projector
from zfnet.vis.integrated import IntegratedGradients
from ref import forward
from conftest import random_tiny_net


@pytest.fixture(scope="module")
def setup():
    cfg, net, arrays, rng = random_tiny_net(4, 5)
    x = rng.randn(3, 1, 12, 12).astype("float32")
    return cfg, arrays, net, x


@pytest.mark.parametrize("layer,baseline", [("conv2", None), ("conv1", 0.3), ("fc6", None)])
def test_completeness_against_a_numpy_forward(setup, layer, baseline):
    cfg, arrays, net, x = setup
    b = None if baseline is None else np.full((1, 1, 12, 12), baseline, np.float32)
    ig = IntegratedGradients(Projector(net), steps=128, baseline=b)
    res = ig.project(x, layer, top=2)[layer]
    base = np.zeros_like(x) if b is None else np.broadcast_to(b, x.shape)
    fx = forward(cfg, arrays, x, upto=layer)[layer]
    fb = forward(cfg, arrays, base.astype(np.float32), upto=layer)[layer]
    for i in range(len(x)):
        for j in range(2):
            c, y, xx = res.units[i, j]
            want = fx[i, c, y, xx] - fb[i, c, y, xx]
            got = res.reconstructions[i, j].astype(np.float64).sum()
            assert abs(got - want) <= 0.02 * max(abs(want), 1e-3) + 1e-3, (layer, i, j, got, want)


def test_one_step_is_the_gradient_at_the_midpoint_times_the_input(setup):
    cfg, arrays, net, x = setup
    p = Projector(net)
    one = IntegratedGradients(p, steps=1).project(x, "conv2", top=1)["conv2"]
    grad = p.project(x * np.float32(0.5), "conv2", method="gradient", units={"conv2": one.units})["conv2"]
    np.testing.assert_allclose(one.reconstructions, grad.reconstructions * x[:, None], rtol=1e-5, atol=1e-6)
    with pytest.raises(UsageError, match="steps=0"):
        IntegratedGradients(p, steps=0)
    with pytest.raises(UsageError, match="does not fit"):
        IntegratedGradients(p, baseline=np.zeros((1, 1, 5, 5), np.float32)).project(x, "conv2", top=1)
