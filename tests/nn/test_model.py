import numpy as np
import pytest

from zfnet.nn import model
from zfnet.backend import lasagne, theano
from ref import forward
from conftest import tiny_config


def _random_weights(net, seed=0):
    rng = np.random.RandomState(seed)
    arrays = {}
    for k, v in model.get_weights(net).items():
        arrays[k] = (rng.randn(*v.shape) * (0.3 if k.endswith(".W") else 0.1)).astype("float32")
    model.set_weights(net, arrays)
    return arrays


def test_every_layer_matches_numpy_forward():
    cfg = tiny_config()
    net = model.build(cfg)
    arrays = _random_weights(net)
    x = np.random.RandomState(1).randn(3, 1, 12, 12).astype("float32")
    names = [l["name"] for l in cfg["layers"]]
    outs = lasagne.layers.get_output([net[n] for n in names], deterministic=True)
    got = theano.function([net["input"].input_var], outs)(x)
    want = forward(cfg, arrays, x)
    for n, g in zip(names, got):
        np.testing.assert_allclose(g, want[n], rtol=2e-4, atol=2e-5, err_msg=n)


def test_fully_convolutional_score_map_matches_numpy():
    """A larger input gives a class-score map: fc6 slides its 3x3 filter over
    the 5x5 pool2 map. Compared with the numpy reference on the same input."""
    cfg = tiny_config()
    small = model.build(cfg)
    arrays = _random_weights(small)
    big = model.build(cfg, input_shape=(1, 20, 20))
    model.set_weights(big, arrays)
    assert big["fc6"].W.get_value().shape[2:] == (3, 3)  # fixed by the 12x12 training size
    f_big = theano.function([big["input"].input_var],
                            lasagne.layers.get_output(big["prob"], deterministic=True))
    x = np.random.RandomState(2).rand(2, 1, 20, 20).astype("float32")
    pmap = f_big(x)
    assert pmap.shape == (2, 3, 3, 3)
    np.testing.assert_allclose(pmap, forward(cfg, arrays, x)["prob"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(pmap.sum(axis=1), 1, rtol=1e-5)


def test_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match="takes 1-channel input"):
        model.build(tiny_config(), input_shape=(3, 12, 12))


def test_set_weights_names_first_mismatching_layer_and_shapes():
    net = model.build(tiny_config())
    arrays = model.get_weights(net)
    arrays["conv2.W"] = np.zeros((7, 4, 3, 3), "float32")
    with pytest.raises(ValueError, match=r"Layer 'conv2'.*\(7, 4, 3, 3\).*\(6, 4, 3, 3\)"):
        model.set_weights(net, arrays)
    del arrays["conv2.W"]
    with pytest.raises(ValueError, match=r"no array 'conv2.W'"):
        model.set_weights(net, arrays)


def test_gauss_init_has_paper_sigma():
    lasagne.random.set_rng(np.random.RandomState(0))
    net = model.build(__import__("zfnet.nn.configs", fromlist=["x"]).get_config("small"), init="gauss")
    W = net["conv3"].W.get_value()
    assert abs(W.std() - 0.01) < 0.001 and abs(W.mean()) < 0.001
    assert not net["conv3"].b.get_value().any()
    with pytest.raises(ValueError, match="Unknown init 'xavier'"):
        model.initializer("xavier")


def test_gauss_conv1_init_is_small_only_in_the_first_layer():
    cfg = __import__("zfnet.nn.configs", fromlist=["x"]).get_config("small")
    lasagne.random.set_rng(np.random.RandomState(0))
    net = model.build(cfg, init="gauss-conv1")
    W1, W2 = net["conv1"].W.get_value(), net["conv2"].W.get_value()
    assert abs(W1.std() - 0.01) < 0.002
    # He-uniform: std sqrt(2 / fan_in), conv2's fan-in 32 * 3 * 3
    assert abs(W2.std() - np.sqrt(2.0 / (32 * 9))) < 0.005
    # fc8 (no ReLU after it) gets He's gain 1: std sqrt(1 / 256)
    assert abs(net["fc8"].W.get_value().std() - np.sqrt(1.0 / 256)) < 0.01
    with pytest.raises(ValueError, match="expected one of he, gauss, gauss-conv1"):
        model.initializer("xavier")
