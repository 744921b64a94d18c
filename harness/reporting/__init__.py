"""Records -> frames -> tables, statistics, pages and figures, and comparisons of two results directories.

Data flows one way: :mod:`~harness.reporting.frames` (one row per run) ->
:mod:`~harness.reporting.cells` (one row per cell, workloads) ->
:mod:`~harness.reporting.text`, :mod:`~harness.reporting.stats_tables`,
:mod:`~harness.reporting.latex`, :mod:`~harness.reporting.plots`,
:mod:`~harness.reporting.html` -> :mod:`~harness.reporting.export` (every
format, checked by :mod:`~harness.reporting.formats`).
:mod:`~harness.reporting.stats` holds the numbers (intervals, tests, ranks,
profiles); :mod:`~harness.reporting.compare` judges two directories.

Named ``reporting`` so that it never shadows the function :func:`harness.report`.
May import: records, store, errors. Never imports torch, Lightning or
:mod:`harness.train`: a report builds on a machine without them.
"""
