"""Looking inside a network: the deconvnet and its relatives, occlusion, rendering, plots,
and the figure writers behind ``visualize`` and ``topk``.

May import: :mod:`zfnet.nn`, :mod:`zfnet.io`, :mod:`zfnet.data`, :mod:`zfnet.files`,
:mod:`zfnet.errors`. ``render``, ``plots``, ``methods`` and ``occlusion`` import no Theano.
"""
