import numpy as np
import pytest

from zfnet.backend import lasagne, theano
from zfnet.nn.layers import ChannelSoftmaxLayer, Conv2DLayer, log_softmax_channels
from ref import lrn, softmax, xcorr2d


@pytest.mark.parametrize("stride,pad,fsize,hw", [(1, 0, 3, (7, 9)), (1, 1, 3, (8, 8)),
                                                 (2, 1, 7, (15, 13)), (3, 2, 5, (11, 12)),
                                                 (2, 0, 1, (6, 5))])
def test_conv_matches_numpy_cross_correlation(stride, pad, fsize, hw):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, *hw).astype("float32")
    W = rng.randn(4, 3, fsize, fsize).astype("float32")
    b = rng.randn(4).astype("float32")
    l_in = lasagne.layers.InputLayer((None, 3) + hw)
    conv = Conv2DLayer(l_in, 4, fsize, stride, pad, W=W, b=b)
    f = theano.function([l_in.input_var], lasagne.layers.get_output(conv))
    got = f(x)
    want = xcorr2d(x, W, b, stride, pad)
    assert got.shape == want.shape
    assert conv.output_shape[1:] == want.shape[1:]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_conv_input_too_small_names_layer_and_shapes():
    with pytest.raises(ValueError, match=r"'convX'.*too small.*\(5, 5\)"):
        Conv2DLayer(lasagne.layers.InputLayer((None, 1, 4, 4)), 2, 5, name="convX")


def test_conv_rejects_non_4d_and_bad_stride():
    with pytest.raises(ValueError, match="Expected 4 input dimensions"):
        Conv2DLayer(lasagne.layers.InputLayer((None, 4)), 2, 3)
    with pytest.raises(ValueError, match="stride"):
        Conv2DLayer(lasagne.layers.InputLayer((None, 1, 8, 8)), 2, 3, stride=0)


def test_channel_softmax_and_log_softmax():
    x = np.random.RandomState(2).randn(3, 5, 2, 4).astype("float32") * 10
    l_in = lasagne.layers.InputLayer((None, 5, 2, 4))
    sm = ChannelSoftmaxLayer(l_in)
    f = theano.function([l_in.input_var], [lasagne.layers.get_output(sm),
                                           log_softmax_channels(l_in.input_var)])
    p, lp = f(x)
    np.testing.assert_allclose(p, softmax(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(lp, np.log(softmax(x)), rtol=1e-4, atol=1e-4)


def test_lasagne_lrn_matches_reference():
    x = np.random.RandomState(3).rand(2, 7, 3, 3).astype("float32") * 30
    l_in = lasagne.layers.InputLayer((None, 7, 3, 3))
    norm = lasagne.layers.LocalResponseNormalization2DLayer(l_in, alpha=1e-3, k=2, beta=0.75, n=5)
    f = theano.function([l_in.input_var], lasagne.layers.get_output(norm))
    np.testing.assert_allclose(f(x), lrn(x, 5, 1e-3, 0.75, 2), rtol=1e-4)
