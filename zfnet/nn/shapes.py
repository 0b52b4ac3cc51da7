"""Output sizes of convolution and pooling: the one rule every module uses.

The model builder, the unpooling op and the ONNX importer all size maps with
these functions, so a map's size is computed one way everywhere. No Theano here.
"""


def conv_output_length(n, filter_size, stride, pad):
    """Length of a convolution's output along one axis: ``(n + 2 pad - f) // s + 1``."""
    return (n + 2 * pad - filter_size) // stride + 1


def border_padding(border_mode, kshape):
    """The zero padding ``(ph, pw)`` of a Theano convolution's ``border_mode`` for filters of
    ``kshape (kh, kw)`` ("valid", "half", "full", an int or a pair of ints), or None if it is
    none of these."""
    kh, kw = kshape
    if border_mode == "valid":
        return (0, 0)
    if border_mode == "half":
        return (kh // 2, kw // 2)
    if border_mode == "full":
        return (kh - 1, kw - 1)
    if isinstance(border_mode, int) and border_mode >= 0:
        return (border_mode, border_mode)
    if isinstance(border_mode, tuple) and len(border_mode) == 2 \
            and all(isinstance(v, int) and v >= 0 for v in border_mode):
        return tuple(border_mode)
    return None


def conv_output_hw(hw, filter_size, stride, pad):
    """(H, W) of a square-filter convolution's output for input (H, W)."""
    return tuple(conv_output_length(n, filter_size, stride, pad) for n in hw)


def pool_output_length(n, pool_size, stride, pad, ignore_border):
    """Length of a max-pooling output along one axis, by Lasagne's and Theano's rule.

    ``ignore_border=True``: only windows that fit (floor); ``False``: a last, partial
    window is kept where the input extends past the last full one (ceil; pad must be 0).
    """
    if ignore_border:
        return (n + 2 * pad - pool_size + 1 + stride - 1) // stride
    if pad:
        raise ValueError("pooling with ignore_border=False takes no padding, got pad=%r" % (pad,))
    if stride >= pool_size:
        return (n + stride - 1) // stride
    return max(0, (n - pool_size + stride - 1) // stride) + 1
