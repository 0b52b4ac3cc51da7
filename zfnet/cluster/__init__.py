"""Beyond one machine: dataset scans on a Dask cluster (``scan``).

May import: :mod:`zfnet.vis`, :mod:`zfnet.io`, :mod:`zfnet.data`, :mod:`zfnet.evaluate`,
:mod:`zfnet.errors`; only the command line and the benchmarks import it.
"""
