"""The explorer page: ``explorer`` computes (no HTTP), ``server`` maps routes and errors to
HTTP, ``page`` is the HTML.

May import: everything below it (:mod:`zfnet.vis`, :mod:`zfnet.io`, :mod:`zfnet.data`,
:mod:`zfnet.evaluate`); nothing imports it but the command line and the benchmarks.
"""
