"""The fault sweep of :mod:`tests.faults` as a test: no case may end in a traceback, lose a record or give a wrong one.

Deselected by default (``-m "not faults"`` in pyproject.toml): it trains about twenty tiny runs and kills
three sweeps, a few minutes on 2 cores. Run it with ``pytest -m faults``; ``python -m tests.faults``
prints the same cases as a table.
"""

import pytest

from tests import faults


@pytest.mark.faults
def test_no_fault_case_ends_in_a_traceback_a_lost_record_or_a_wrong_result():
    outcomes = faults.sweep(log=lambda line: None)
    failed = [outcome for outcome in outcomes if not outcome.passed]
    assert len(outcomes) >= 60
    assert not failed, "\n".join(f"{faults.row(o)}\n{o.output[-1500:]}" for o in failed)
