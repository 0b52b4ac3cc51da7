import itertools

import pytest

from zfnet.backend import lasagne
from zfnet.nn.shapes import border_padding, conv_output_hw, conv_output_length, pool_output_length


def test_pool_output_length_is_lasagnes_rule():
    """Our Theano-free rule against Lasagne's own, over sizes, windows, strides and both borders."""
    for n, size, stride, ignore in itertools.product(range(1, 30), range(1, 6), range(1, 5), (True, False)):
        want = lasagne.layers.pool.pool_output_length(n, size, stride, 0, ignore)
        assert pool_output_length(n, size, stride, 0, ignore) == want, (n, size, stride, ignore)
    for n, size, stride, pad in itertools.product(range(4, 20), range(2, 5), range(1, 4), range(0, 2)):
        want = lasagne.layers.pool.pool_output_length(n, size, stride, pad, True)
        assert pool_output_length(n, size, stride, pad, True) == want
    with pytest.raises(ValueError, match="takes no padding"):
        pool_output_length(10, 3, 2, 1, False)


def test_conv_output_length_by_hand():
    # ZF's conv1: 7x7 stride 2 pad 1 on 224 -> 110; AlexNet's 11x11/4 on 227 -> 55
    assert conv_output_length(224, 7, 2, 1) == 110
    assert conv_output_length(227, 11, 4, 0) == 55
    assert conv_output_hw((13, 9), 3, 1, 1) == (13, 9)


def test_border_padding_by_hand():
    assert border_padding("valid", (3, 5)) == (0, 0)
    assert border_padding("half", (3, 5)) == (1, 2)
    assert border_padding("full", (3, 5)) == (2, 4)
    assert border_padding(2, (3, 3)) == (2, 2)
    assert border_padding((1, 0), (3, 3)) == (1, 0)
    for bad in ("same", -1, (1, -1), (1, 2, 3), (1.0, 1)):
        assert border_padding(bad, (3, 3)) is None, bad
