import numpy as np
import pytest

from zfnet.backend import T, lasagne, theano
from ref import maxpool2d


@pytest.mark.parametrize("ignore_border", [True, False])
def test_lasagne_maxpool_through_shim_matches_numpy(ignore_border):
    x = np.random.RandomState(1).randn(2, 3, 11, 10).astype("float32")
    l_in = lasagne.layers.InputLayer((None, 3, 11, 10))
    pool = lasagne.layers.MaxPool2DLayer(l_in, 3, stride=2, ignore_border=ignore_border)
    f = theano.function([l_in.input_var], lasagne.layers.get_output(pool))
    got = f(x)
    want = maxpool2d(x, 3, 2, ignore_border)
    assert got.shape == want.shape == (2, 3) + pool.output_shape[2:]
    np.testing.assert_array_equal(got, want)


def test_downsample_module_registered():
    import sys
    ds = sys.modules["theano.tensor.signal.downsample"]
    x = T.tensor4()
    f = theano.function([x], ds.max_pool_2d(x, (2, 2), ignore_border=True))
    a = np.arange(16, dtype="float32").reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(f(a)[0, 0], [[5, 7], [13, 15]])


def test_lasagne_conv_layer_warns_nothing(recwarn):
    l_in = lasagne.layers.InputLayer((2, 1, 6, 6))
    conv = lasagne.layers.Conv2DLayer(l_in, 2, 3)
    lasagne.layers.get_output(conv)
    assert not [w for w in recwarn if "image_shape" in str(w.message)]
