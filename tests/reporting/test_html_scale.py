"""The HTML page and its figures at scale: made from the runs frame alone, every long table cut and saying so,
every figure bounded and saying what it leaves out; a small report keeps every run."""

import itertools
import json
import re
import time

import numpy as np
import pandas as pd
import pytest

from harness.reporting import html as page_module
from harness.reporting import plots
from harness.reporting.frames import runs_frame
from harness.reporting.html import MAX_CELLS, MAX_ROWS, MAX_TRACEBACKS, build_html
from tests.records import make_record

RUNS = 20_000
MODELS = 250  # x 2 datasets x 4 optimizers = 2,000 cells of 10 seeds
SEEDS = 10
#: The page of 20,000 runs stays below this (the tables are cut, the scatter plots' points are bitmaps).
PAGE_LIMIT = 4_000_000

CURVE = [{"epoch": epoch, "val_metric": 0.5 + 0.04 * epoch} for epoch in range(10)]
DESCRIPTIONS = {"model": {"name": "m", "description": "a <b>model</b>"}, "dataset": {"name": "digits"}}


def described(record: dict) -> dict:
    return {**record, "descriptions": DESCRIPTIONS}


def synthetic_runs(models: int = MODELS, seeds: int = SEEDS, seed: int = 0):
    """A runs frame of ``models x 2 datasets x 4 optimizers`` cells of ``seeds`` runs: the frame of 80 made
    records, copied with a new model per copy; a tenth of the runs failed (3 reasons, 40 distinct tracebacks),
    on 3 hosts, some disturbed."""
    records = [
        described(make_record(model="m", dataset=d, optimizer=o, seed=s, val_curve=CURVE, target=0.8))
        for d, o, s in itertools.product(("digits", "iris"), ("sgd", "adam", "adamw", "rmsprop"), range(seeds))
    ]
    base = runs_frame(records)
    frame = pd.concat([base] * models, ignore_index=True)
    names = pd.Series([f"m{i}" for i in range(models)]).repeat(len(base)).to_numpy()
    frame["model"] = frame["model_label"] = names
    frame["key"] = frame["key"] + "-" + names
    frame["cell"] = frame["cell"] + "-" + names
    settings = zip(frame["cell_settings"], names, strict=True)
    frame["cell_settings"] = [text.replace('"m"', f'"{name}"') for text, name in settings]
    rng = np.random.default_rng(seed)
    n = len(frame)
    frame["test_metric"] -= rng.random(n) * 0.3
    frame["time_to_target_s"] = rng.random(n) * 5
    frame["samples_per_s"] *= rng.lognormal(0, 1, n)
    frame["peak_memory_mb"] *= rng.lognormal(0, 1, n)
    frame["hostname"] = rng.choice(["node-a", "node-b", "node-c"], n)
    frame["git_commit"], frame["git_dirty"] = "0123456789abcdef0123", rng.random(n) < 0.5
    frame["started_at"] = pd.Series(range(n)).map(lambda i: f"2026-01-01T00:00:{i % 60:02d}+00:00").to_numpy()
    disturbed = rng.random(n) < 0.02
    frame["timing_disturbed"] = disturbed
    frame["timing_notes"] = np.where(disturbed, "load 3.2 > 2 cores", "")
    failed = rng.random(n) < 0.1
    reasons = rng.choice(["RuntimeError: boom", "ValueError: nan", "MemoryError"], n)
    lines = rng.integers(0, 40, n).astype(str).astype(object)
    frame["status"] = np.where(failed, "failed", frame["status"].to_numpy(dtype=object))
    frame["reason"] = pd.Series(reasons, dtype=object).where(failed, None).to_numpy()
    traceback = pd.Series("Traceback (most recent call last):\n  line " + lines, dtype=object)
    frame["detail.traceback"] = traceback.where(failed, None).to_numpy()
    frame["detail.curve"] = frame["detail.curve"].astype(object).where(~failed, None)
    for name in ("test_metric", "samples_per_s", "peak_memory_mb", "time_to_target_s"):
        frame[name] = frame[name].astype(float).where(~failed)
    return frame


@pytest.fixture(scope="module")
def big():
    """(runs, page, seconds to build it) of 20,000 runs."""
    runs = synthetic_runs()
    assert len(runs) == RUNS and runs["cell"].nunique() == 2 * 4 * MODELS
    start = time.perf_counter()
    page = build_html(runs, [("runs/bad.json", "not JSON")] * (MAX_ROWS + 1))
    seconds = time.perf_counter() - start
    print(f"\n20,000 runs: page {len(page.encode()):,} bytes, built in {seconds:.1f} s")
    return runs, page, seconds


def rows_of(page: str, table_id: str) -> int:
    body = re.search(rf'<table id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, f"no table {table_id}"
    return body.group(1).count("<tr")


def test_page_of_20000_runs_stays_small_and_says_what_it_leaves_out(big):
    runs, page, _ = big
    assert len(page.encode()) < PAGE_LIMIT
    failed = int((runs["status"] == "failed").sum())
    assert f"20,000 runs · {2 * 4 * MODELS:,} cells" in page
    assert f"showing {MAX_CELLS:,} of {2 * 4 * MODELS:,} cells" in page and rows_of(page, "summary") == MAX_CELLS
    assert f"showing {MAX_ROWS} of {failed:,} runs that did not finish (by run key)" in page
    assert rows_of(page, "failures") == MAX_ROWS
    assert f"showing {MAX_ROWS} of 20,000 runs (by run key)" in page and rows_of(page, "provenance") == MAX_ROWS
    assert "every run is in `harness report &lt;results dir&gt; --format csv`" in page
    assert f"showing {MAX_ROWS} of {MAX_ROWS + 1} files that are not records" in page


def test_page_of_20000_runs_counts_failures_tracebacks_and_machines(big):
    runs, page, _ = big
    failed = runs[runs["status"] == "failed"]
    assert rows_of(page, "failure-groups") == 3  # failed runs by status and reason, with counts
    count = int((failed["reason"] == "MemoryError").sum())
    assert f'<td>failed</td><td>MemoryError</td><td class="num">{count:,}</td>' in page
    assert f"showing {MAX_TRACEBACKS} of 40 distinct tracebacks" in page
    assert page.count("<details>") == MAX_TRACEBACKS and "other runs</summary>" in page
    assert rows_of(page, "environments") == 6  # 3 hosts x dirty or not
    assert "<td>0123456789ab (dirty)</td><td>node-a</td>" in page
    assert re.search(r'<td>harness_dense</td><td class="num">0\.1</td><td class="num">20,000</td>', page)
    assert "a &lt;b&gt;model&lt;/b&gt;" in page  # the workloads, from the distinct descriptions


def test_figures_of_20000_runs_draw_the_best_cells_and_say_how_many_more(big):
    _, page, _ = big
    cells = 4 * MODELS  # per dataset
    assert page.count("<svg") == 2 * 3 + 2  # curves, throughput, memory per dataset; the profile; across workloads
    assert f"the best {plots.MAX_DRAWN} of {cells:,} cells by rank are drawn" in page
    assert f"the other {cells - plots.MAX_DRAWN:,} are grey" in page
    assert page.count("<image") >= 4  # the grey points of each scatter plot are one bitmap, not 1,000 paths


def test_small_report_has_every_run_and_no_cut():
    records = [described(make_record(model=m, seed=s, val_curve=CURVE)) for m in ("mlp", "cnn") for s in range(3)]
    records += [
        {**make_record(model="boom", seed=s, status="failed", reason="kaboom"), "traceback": f"Traceback {s}"}
        for s in range(2)
    ]
    page = build_html(runs_frame(records))
    assert "showing" not in page and "class='cap'" not in page and "failure-groups" not in page
    assert "environments" not in page
    assert rows_of(page, "provenance") == len(records) and rows_of(page, "failures") == 2
    assert all(record["key"] in page for record in records)
    assert "traceback of " in page and "Traceback 0" in page and "Traceback 1" in page
    assert "<h2>Workloads</h2>" in page and "<h2>Figures</h2>" in page
    assert "best" not in re.sub(r"<svg.*?</svg>", "", page, flags=re.S).split("<h2>Figures</h2>")[1]
    assert "<image" not in page  # a few cells: every point a vector


def test_learning_curve_is_the_mean_over_seeds_with_the_min_max_band():
    curves = [[[0, 0.5], [1, 0.7]], [[0, 0.6], [1, 0.8]], [[0, 0.7]]]
    records = [make_record(seed=s) for s in range(3)]
    runs = runs_frame(records)
    runs["detail.curve"] = [json.dumps(curve) for curve in curves]
    from harness.reporting.cells import summary_frame

    figures = plots.learning_curves(runs, summary_frame(runs))
    try:
        [(title, fig)] = figures
        line = fig.axes[0].lines[0]
        assert title == "digits: learning curves" and list(line.get_xdata()) == [1, 2]
        assert np.allclose(line.get_ydata(), [0.6, 0.75])
        band = fig.axes[0].collections[0].get_paths()[0].vertices[:, 1]
        assert band.min() == pytest.approx(0.5) and band.max() == pytest.approx(0.8)
        assert plots.figure_note(fig) == ""
    finally:
        plots.close(figures)


def test_pareto_front_matches_the_pairwise_definition():
    rng = np.random.default_rng(1)
    xs = rng.integers(0, 8, 300).astype(float)  # many ties in x and in y
    ys = rng.integers(0, 8, 300).astype(float)
    xs[:5], ys[5:8] = np.nan, np.inf
    for maximize in (True, False):
        sign = 1 if maximize else -1
        pairs = list(zip(xs, sign * ys, strict=True))
        expected = [
            np.isfinite(x)
            and np.isfinite(y)
            and not any(ox >= x and oy >= y and (ox > x or oy > y) for j, (ox, oy) in enumerate(pairs) if j != i)
            for i, (x, y) in enumerate(pairs)
        ]
        assert plots.pareto_front(xs, ys, maximize_y=maximize) == expected


def test_performance_profile_draws_the_best_optimizers_and_says_how_many_more():
    taus = [1.0, 2.0, 4.0]
    profile = pd.DataFrame([[i / 20, i / 15, 1.0] for i in range(15)], index=[f"opt{i}" for i in range(15)])
    profile.columns = taus
    figures = plots.performance_profile(profile)
    try:
        [(_, fig)] = figures
        drawn = [line.get_label() for line in fig.axes[0].lines]
        assert drawn == [f"opt{i}" for i in range(5, 15)]  # the largest areas
        assert plots.figure_note(fig).startswith(f"the {plots.MAX_DRAWN} of 15 optimizers")
    finally:
        plots.close(figures)


def test_the_cut_note_reads_as_the_page_shows_it():
    assert page_module.cap_note(10, 10, "runs", "by run key") == ""
    note = page_module.cap_note(500, 4873, "failed runs", "by run key")
    assert "showing 500 of 4,873 failed runs (by run key); every run is in `harness report" in note.replace("&lt;", "<")
