"""Reproducing the paper: the experiments' runner and shared-run cache, their measurements,
and the demo pipeline.

May import: :mod:`zfnet.train`, :mod:`zfnet.evaluate` and every wing below them; nothing in
the package imports it but the command line.
"""
