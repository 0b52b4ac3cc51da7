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


def _c_key(outputs, inputs):
    """Theano's C-module cache key of the single-node graph ``inputs -> outputs``."""
    from theano.gof.cc import CLinker
    fg = theano.gof.FunctionGraph(inputs, outputs)
    return CLinker().accept(fg).cmodule_key()


def test_ops_without_parameters_get_a_cached_c_module():
    # Alloc and Dot22 have __props__ == (): unpatched Theano calls their modules
    # unversioned (key version ()), compiling them afresh in every process
    from theano.tensor.blas import _dot22
    from zfnet.nn.pool_ops import Unpool
    n = T.lscalar()
    a, b = T.matrix(), T.matrix()
    for outs, ins in [([T.alloc(np.float32(0), n, n)], [n]), ([_dot22(a, b)], [a, b])]:
        version = _c_key(outs, ins)[0]
        assert version != (), outs
        assert all(version)
    assert Unpool.__props__ == ()


def test_cop_version_is_the_same_in_every_process():
    # DimShuffle is a COp; its version was Python's per-process salted hash of its C code
    import subprocess
    import sys
    code = ("import zfnet.backend as b; from theano.tensor.elemwise import DimShuffle; "
            "print(DimShuffle((False,), ('x', 0)).c_code_cache_version())")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1] for _ in range(3)}
    assert len(outs) == 1, outs
