"""Issue 13: the tables computed for all cells at once say exactly what the row-by-row code said, and scale.

The reference is the code as it was (tests/reporting/legacy, frozen): summary
frames, cell tables, ranks and tests, the statistics tables and every
rendering must match it on hand-made records, the example results and seeded
random frames full of gaps and bad values. Numbers agree to 1e-12 relative
(they agree to the last bit but for the t quantile, now computed without
scipy); text agrees character for character.
"""

from __future__ import annotations

import cProfile
import math
import pstats
import random
from pathlib import Path

import pandas as pd
import pytest

from harness.records import canonical
from harness.reporting import cells as new_cells
from harness.reporting import stats as new_stats
from harness.reporting import stats_tables as new_tables
from harness.reporting.export import render
from harness.reporting.frames import runs_frame
from tests.reporting import vectorised_cases as cases
from tests.reporting.legacy import cells as old_cells
from tests.reporting.legacy import stats as old_stats
from tests.reporting.legacy import stats_tables as old_tables
from tests.reporting.legacy.render import render as old_render

FORMATS = ("simple", "github", "csv", "latex", "grid", "plain", "pipe", "html")
RTOL = 1e-12

HAND_MADE = cases.hand_made_frames()
RANDOM = {f"messy{seed}": cases.messy_frame(seed) for seed in range(12)}
RANDOM |= {f"clean{seed}": runs_frame(cases.random_records(random.Random(100 + seed), 15)) for seed in range(4)}
RANDOM["shuffled"] = cases.shuffled(RANDOM["clean0"], 1)
LABELLED = {f"labels{seed}": cases.messy_frame(50 + seed, labels=True) for seed in range(4)}
FRAMES = {**HAND_MADE, **RANDOM}


def same_frame(new, old) -> None:
    pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=RTOL, atol=0)


#: Summary columns added after the legacy code was frozen (energy, issue 17): the rest must be the same.
ADDED_COLUMNS = ["energy_j", "samples_per_j", "energy_absent"]


@pytest.mark.parametrize("name", [*FRAMES, *LABELLED])
def test_summary_frame_is_the_same(name):
    runs = {**FRAMES, **LABELLED}[name]
    new, old = new_cells.summary_frame(runs), old_cells.summary_frame(runs)
    assert [c for c in new.columns if c not in old.columns] == ADDED_COLUMNS
    same_frame(new[list(old.columns)], old)


@pytest.mark.parametrize("name", [*FRAMES, *LABELLED])
def test_render_is_the_same_in_every_format(name):
    runs = {**FRAMES, **LABELLED}[name]
    old_summary = old_cells.summary_frame(runs)
    summary = new_cells.summary_frame(runs)
    for fmt in FORMATS:
        if fmt == "html":
            continue  # a whole report, refused by both
        assert render(summary, fmt) == old_render(old_summary, fmt), fmt
        assert render(old_summary, fmt) == old_render(old_summary, fmt), fmt  # the rendering alone


@pytest.mark.parametrize("name", list(FRAMES))
def test_text_columns_give_the_same_text_row_by_row_and_whole(name):
    """html.py reads each row through ``column(row)``; render reads ``column.texts(summary)``."""
    from harness.reporting.text import text_columns

    summary = new_cells.summary_frame(FRAMES[name])
    for header, column in text_columns(summary):
        assert column.texts(summary) == [column(row) for _, row in summary.iterrows()], header


def comparable_cells(table) -> dict:
    out = table.to_dict("list")
    out["settings"] = [canonical(s) for s in out["settings"]]
    out["values"] = [repr(v) for v in out["values"]]
    out["times"] = [repr(v) for v in out["times"]]
    out["target"] = [repr(v) for v in out["target"]]
    return out


@pytest.mark.parametrize("name", list(FRAMES))
def test_cell_table_is_the_same(name):
    new, old = new_cells.cell_table(FRAMES[name]), old_cells.cell_table(FRAMES[name])
    assert list(new.columns) == list(old.columns)
    assert comparable_cells(new) == comparable_cells(old)
    for column in ("cell", "workload", "problem", "optimizer_key", "model", "dataset", "optimizer", "mode"):
        assert new[column].dtype == old[column].dtype, column


@pytest.mark.parametrize("method", ["welch", "bootstrap"])
@pytest.mark.parametrize("name", list(FRAMES))
def test_ranks_and_tests_are_the_same(name, method):
    cells = old_cells.cell_table(FRAMES[name])
    same_frame(new_stats.rank_cells(cells, method=method), old_stats.rank_cells(cells, method=method))


@pytest.mark.parametrize("name", list(FRAMES))
def test_statistics_tables_are_the_same(name):
    runs = FRAMES[name]
    for fmt in ("simple", "github", "csv", "latex"):
        assert new_tables.stats_tables(runs, fmt, across=False) == old_tables.stats_tables(runs, fmt), fmt
    new_parts, old_parts = new_tables.stats_parts(runs, "csv", across=False), old_tables.stats_parts(runs, "csv")
    assert [title for title, _ in new_parts] == [title for title, _ in old_parts]
    for (_, new), (_, old) in zip(new_parts, old_parts, strict=True):
        same_frame(new, old)
    same_frame(new_tables.profile_frame(runs), old_tables.profile_frame(runs))


@pytest.mark.parametrize("name", ["contest", "messy3", "clean1"])
def test_statistics_with_the_bootstrap_are_the_same(name):
    runs = FRAMES[name]
    new = new_tables.stats_tables(runs, test="bootstrap", across=False)
    assert new == old_tables.stats_tables(runs, test="bootstrap")


def test_win_tables_and_profiles_of_many_contestants_are_the_same():
    rng = random.Random(7)
    for _ in range(30):
        workloads = [f"w{rng.randint(0, 4)}" for _ in range(rng.randint(1, 25))]
        cells = pd.DataFrame(
            {
                "workload": workloads,
                "contestant": [rng.choice("abcdef") for _ in workloads],
                "mode": [rng.choice(["max", "max", "min", None]) for _ in workloads],
                "values": [[rng.choice([0.5, 0.6, rng.random()]) for _ in range(rng.randint(0, 4))] for _ in workloads],
                "times": [[rng.choice([None, math.nan, 1.0, 2.0, rng.random()]) for _ in range(rng.randint(0, 4))]
                          for _ in workloads],
            }
        )  # fmt: skip
        same_frame(new_stats.win_table(cells), old_stats.win_table(cells))
        same_frame(new_stats.performance_profile(cells), old_stats.performance_profile(cells))


def test_estimates_of_single_samples_are_the_same():
    rng = random.Random(3)
    samples = [[], [1.0], [-0.0], [0.1, 0.2, 0.3], [math.inf, 1.0, None, math.nan, 2.0], [5.0] * 9]
    samples += [[rng.gauss(0, 10 ** rng.randint(-3, 3)) for _ in range(rng.randint(2, 300))] for _ in range(50)]
    for values in samples:
        new, old = new_stats.estimate(values), old_stats.estimate(values)
        assert (new.n, math.copysign(1, new.mean) if new.n else 0) == (
            old.n,
            math.copysign(1, old.mean) if old.n else 0,
        )
        for field in ("mean", "std", "ci"):
            a, b = getattr(new, field), getattr(old, field)
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=RTOL, abs=0), (field, values)
        assert new.mean == old.mean or math.isnan(old.mean)  # means to the last bit


# ---------------------------------------------------------------------------
# Scale: no per-run or per-cell pass over frames (counted, not timed)
# ---------------------------------------------------------------------------

#: Functions that may run once per cell: the text of a table's cells, the per-cell text of their settings (the
#: JSON a cell's identity is), and per-workload work (a test against the best, a row of the win table).
PER_CELL = {
    "format_metric", "format_rate", "fixed", "_text", "_integer", "_decimals", "_metric_text", "_text_of",
    "_target_text", "_shorten", "_show", "_flatten", "<lambda>", "<genexpr>", "<listcomp>", "<dictcomp>",
    "<setcomp>", "cut", "_selected", "positions", "_locate", "_verdict", "natural_key", "missing", "_memory_kind",
    "escape",
    "tested", "significant", "_win_row", "_winner_text", "__init__", "_comparable", "_only",
}  # fmt: skip


def call_counts(learning_rates: int, seeds: int) -> tuple[dict, dict]:
    """Calls per ``(file, function)`` while the plain table and the statistics tables of
    :func:`cases.grid_records` are made: the harness's own, and all of them."""
    runs = runs_frame(cases.grid_records(learning_rates, seeds))
    profiler = cProfile.Profile()
    profiler.runcall(lambda: (render(new_cells.summary_frame(runs)), new_tables.stats_tables(runs, across=False)))
    calls: dict[tuple[str, str], int] = {}
    for (filename, _, function), (_, total, *_) in pstats.Stats(profiler).stats.items():  # type: ignore[attr-defined]
        calls[(filename, function)] = calls.get((filename, function), 0) + total
    return {key: n for key, n in calls.items() if "/harness/" in key[0]}, calls


def test_tables_make_no_pass_per_run_and_only_text_per_cell():
    """Counted, not timed: twice the runs per cell call no harness function more often, twice the cells call
    only the text of cells (and per-workload work) more often, and no frame is walked row by row or group by group."""
    base, everything = call_counts(5, 110)  # 30 cells, 3,300 runs
    more_runs, _ = call_counts(5, 220)
    more_cells, _ = call_counts(10, 110)
    per_run = {key: (base.get(key, 0), n) for key, n in more_runs.items() if n > 1.25 * base.get(key, 0) + 10}
    assert not per_run, per_run
    per_cell = {
        key: (base.get(key, 0), n)
        for key, n in more_cells.items()
        if n > 1.5 * base.get(key, 0) + 5 and key[1] not in PER_CELL
    }
    assert not per_cell, per_cell
    row_by_row = {  # a pass over a frame's rows or groups in Python, or a mean or median of one group at a time
        key: n
        for key, n in everything.items()
        if (key[0].endswith("pandas/core/frame.py") and key[1] in ("iterrows", "itertuples", "apply"))
        or ("pandas/core/groupby" in key[0] and key[1] in ("__iter__", "get_group"))
        or (key[0].endswith("statistics.py") and key[1] in ("fmean", "median", "mean"))
    }
    assert sum(row_by_row.values()) <= 1, row_by_row  # timing_footnotes names up to 5 rows one by one


def test_the_plain_table_does_not_import_scipy():
    import subprocess
    import sys

    code = (
        "import sys; from harness.reporting.export import render; from harness.reporting.cells import summary_frame;"
        "from harness.reporting.frames import runs_frame; from tests.records import make_record;"
        "runs = runs_frame([make_record(seed=s, metric_value=0.9 + s / 100) for s in range(3)]"
        " + [make_record(model='cnn', seed=s) for s in range(2)]);"
        "text = render(summary_frame(runs)); assert '±' in text and 'rank' in text, text;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scipy'))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, cwd=root
    )
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
