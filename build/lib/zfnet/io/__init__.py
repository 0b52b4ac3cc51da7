"""Weights on disk: checkpoints (and the :class:`~zfnet.io.checkpoint.Model` handle),
Keras and ONNX importers, and writers of stand-in weight files.

May import: :mod:`zfnet.nn`, :mod:`zfnet.data`, :mod:`zfnet.files`, :mod:`zfnet.errors`.
"""
