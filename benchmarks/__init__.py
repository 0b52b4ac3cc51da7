"""The benchmarks (``zfnet bench``, ``make bench``) and the stand-in weight files they time;
in the repository only, not in the wheel."""
