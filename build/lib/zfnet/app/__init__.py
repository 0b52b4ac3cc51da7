"""The explorer page: ``explorer`` computes (no HTTP), ``server`` maps routes and errors to
HTTP, ``static/`` is the page (HTML, script, style).

May import: everything below it (:mod:`zfnet.vis`, :mod:`zfnet.io`, :mod:`zfnet.data`,
:mod:`zfnet.evaluate`); nothing imports it but the command line and the benchmarks.
"""
