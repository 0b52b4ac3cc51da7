"""Make Lasagne 0.1 (the only Lasagne on PyPI) work on Theano 1.0.

Two patches, applied by :func:`install` before ``lasagne`` is first imported:

1. ``theano.tensor.signal.downsample`` was removed in Theano 0.9, but
   ``lasagne.layers.pool`` imports it. We register a small module of that name
   whose ``max_pool_2d`` forwards to ``theano.tensor.signal.pool.pool_2d``.
2. Lasagne passes ``image_shape=`` to ``theano.tensor.nnet.conv2d``; Theano 1.0
   calls it ``input_shape=`` and warns once per layer. Lasagne binds ``conv2d``
   as a default argument when its module is imported, so we wrap it first.

Nothing else of Lasagne is changed.
"""
import sys
import types


def install():
    """Apply both patches (idempotent). Must run before ``import lasagne``."""
    import theano.tensor as T
    import theano.tensor.nnet
    from theano.tensor.signal import pool

    if "theano.tensor.signal.downsample" not in sys.modules:
        downsample = types.ModuleType("theano.tensor.signal.downsample")

        def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0),
                        mode="max"):
            return pool.pool_2d(input, ws=ds, ignore_border=ignore_border,
                                stride=st, pad=padding, mode=mode)

        downsample.max_pool_2d = max_pool_2d
        sys.modules["theano.tensor.signal.downsample"] = downsample
        import theano.tensor.signal
        theano.tensor.signal.downsample = downsample

    conv2d = theano.tensor.nnet.conv2d
    if not getattr(conv2d, "_zfnet_wrapped", False):
        def conv2d_compat(input, filters, input_shape=None, filter_shape=None,
                          image_shape=None, **kwargs):
            if input_shape is None:
                input_shape = image_shape
            return conv2d(input, filters, input_shape=input_shape,
                          filter_shape=filter_shape, **kwargs)

        conv2d_compat._zfnet_wrapped = True
        theano.tensor.nnet.conv2d = conv2d_compat
        T.nnet.conv2d = conv2d_compat
