"""The projector on networks written in plain Lasagne, the way its tutorial writes them."""
import numpy as np
import pytest

from zfnet.backend import T, lasagne, theano
from zfnet.vis.deconv import Projector, unit_boxes

L = lasagne.layers


def tutorial_net(seed=0, conv_nonlinearity=lasagne.nonlinearities.rectify):
    """Lasagne's MNIST-tutorial CNN, small: Conv2DLayer with its ReLU built in (Lasagne 0.1
    flips its filters: a true convolution), max-pooling, dropout, dense layers, a softmax."""
    lasagne.random.set_rng(np.random.RandomState(seed))
    net = {}
    net["input"] = L.InputLayer((None, 1, 12, 12))
    net["conv1"] = L.Conv2DLayer(net["input"], 4, (3, 3), pad=1, nonlinearity=conv_nonlinearity,
                                 W=lasagne.init.GlorotUniform())
    net["pool1"] = L.MaxPool2DLayer(net["conv1"], (2, 2))
    net["conv2"] = L.Conv2DLayer(net["pool1"], 5, (3, 3), pad="same")
    net["drop1"] = L.DropoutLayer(net["conv2"], p=0.5)
    net["fc1"] = L.DenseLayer(net["drop1"], num_units=8)
    net["drop2"] = L.DropoutLayer(net["fc1"], p=0.5)
    net["out"] = L.DenseLayer(net["drop2"], num_units=3, nonlinearity=lasagne.nonlinearities.softmax)
    rng = np.random.RandomState(seed)
    for name, l in net.items():
        l.name = name  # as `L.Conv2DLayer(..., name="conv1")` would
    for l in net.values():  # biases that matter
        if getattr(l, "b", None) is not None:
            l.b.set_value(rng.randn(*l.b.get_value().shape).astype("float32") * 0.1)
    return net


@pytest.mark.parametrize("given", ["output layer", "dict"])
def test_gradient_projection_of_a_plain_lasagne_net_is_theanos_gradient(given):
    """The 'gradient' method on a tutorial network equals Theano's own gradient of the chosen
    unit with respect to the input (random inputs: no tied maxima), for a unit after a
    built-in ReLU, after pooling, before a ReLU and in a dense layer."""
    net = tutorial_net()
    p = Projector(net["out"] if given == "output layer" else net)
    assert p.projectable_layers() == ["conv1.linear", "conv1", "pool1", "conv2.linear", "conv2", "drop1",
                                      "fc1.linear", "fc1", "drop2", "out.linear"]
    x = np.random.RandomState(1).rand(2, 1, 12, 12).astype("float32")
    xv = T.tensor4()
    lasagne_names = {"conv1": "conv1", "pool1": "pool1", "conv2": "conv2", "fc1": "fc1"}
    for ours, theirs in lasagne_names.items():
        res = p.project(x, ours, top=2, method="gradient")[ours]
        out = L.get_output(net[theirs], xv, deterministic=True)
        out4 = out if out.ndim == 4 else out.dimshuffle(0, 1, "x", "x")
        for b in range(2):
            for j in range(2):
                c, yy, xx = res.units[b, j]
                f = theano.function([xv], T.grad(out4[b, c, yy, xx], xv))
                np.testing.assert_allclose(res.reconstructions[b, j], f(x)[b], rtol=1e-4, atol=1e-6,
                                           err_msg="%s unit %r" % (ours, (b, c, yy, xx)))
                act = theano.function([xv], out4)(x)
                assert res.activations[b, j] == pytest.approx(act[b, c, yy, xx], rel=1e-5)
    # the pre-ReLU step: the conv's linear output, the deconvnet walks through the flip
    lin = p.project(x, "conv1.linear", channels=[2], method="gradient")["conv1.linear"]
    W = net["conv1"].W.get_value()[2, 0]
    c, yy, xx = lin.units[0, 0]
    want = np.zeros((14, 14), np.float32)
    want[yy:yy + 3, xx:xx + 3] = W[::-1, ::-1]  # a flipped filter placed at the unit (pad 1)
    np.testing.assert_allclose(lin.reconstructions[0, 0, 0], want[1:13, 1:13], rtol=1e-6)
    boxes = unit_boxes(net["out"], "conv1", np.array([0, 5]), np.array([0, 6]))
    assert boxes.tolist() == [[0, 0, 2, 2], [4, 5, 7, 8]]
    assert unit_boxes(net["out"], "fc1", np.array([0]), np.array([0])).tolist() == [[0, 0, 12, 12]]


def test_what_cannot_be_walked_back_is_named():
    net = tutorial_net(conv_nonlinearity=lasagne.nonlinearities.tanh)
    with pytest.raises(ValueError, match="Layer 'conv1' uses the nonlinearity tanh; the deconvnet and "
                                         "guided rules are defined for ReLU"):
        Projector(net["out"])
    a = L.InputLayer((None, 1, 8, 8), name="in")
    b = L.Conv2DLayer(a, 2, 3, name="c1")
    c = L.Conv2DLayer(a, 2, 3, name="c2")
    with pytest.raises(ValueError, match=r"'sum' \(ElemwiseSumLayer\) merges several inputs"):
        Projector(L.ElemwiseSumLayer([b, c], name="sum"))
    with pytest.raises(ValueError, match="Layer 'g' is a GlobalPoolLayer, which the deconvnet cannot walk back"):
        Projector(L.GlobalPoolLayer(b, name="g"))
    with pytest.raises(ValueError, match="a network is a Lasagne output layer or a dict"):
        Projector([a, b])
    unnamed = L.DenseLayer(L.Conv2DLayer(L.InputLayer((None, 1, 8, 8)), 2, 3), 4)
    assert Projector(unnamed).projectable_layers() == ["conv2d1.linear", "conv2d1", "dense2.linear", "dense2"]
