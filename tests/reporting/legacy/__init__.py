"""A frozen copy of the reporting code before issue 13 vectorised it: the reference the golden tests compare with.

``cells``, ``stats``, ``stats_tables``, ``text`` and ``latex`` are the modules of
``harness/reporting`` as they were (only their imports point here), ``render``
is ``harness.reporting.export.render``. Never edit them to follow a change of
the package: they are what "the same output as before" means
(tests/reporting/test_vectorised.py).
"""
