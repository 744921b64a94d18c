"""harness compare on folders of thousands of cells: every planted change found, in the cell it was planted in."""

import json
import os
from collections import Counter

import pytest

from harness.reporting.compare import DISTURBED, IMPROVED, OK_RUNS, REGRESSION, compare_dirs
from harness.store import Store
from tests.records import make_record

CELLS = 2_000
SEEDS = 3
#: Run-to-run noise of every measurement: well under the 5% threshold.
NOISE = (1.0, 1.003, 0.997)
MODELS, OPTIMIZERS = ("mlp", "cnn", "rnn", "vit"), ("sgd", "adam")
LOADED = "load 3.2 > 2 cores"

#: What is planted in NEW, by cell number: the quantity that changes and how.
SLOWER, HUNGRIER, WORSE, FASTER, DISTURBED_SLOWER, FAILED = range(1, 7)


def plant(cell: int) -> int | None:
    """Which change cell ``cell`` gets in NEW (None: none); every kind lands in many cells."""
    kind = cell % 20
    return kind if kind in (SLOWER, HUNGRIER, WORSE, FASTER, DISTURBED_SLOWER, FAILED) else None


def settings(cell: int) -> dict:
    """A distinct config a cell: model, optimizer and learning rate."""
    lr = round(0.001 * (1 + cell // 8), 6)
    return {"model": MODELS[cell % 4], "optimizer": OPTIMIZERS[cell // 4 % 2], "lr": lr}


def cell_name(cell: int) -> str:
    s = settings(cell)
    return f"{s['model']} | digits | {s['optimizer']} | batch 64 (lr={json.dumps(s['lr'])})"


def runs(cell: int, side: str) -> list[dict]:
    kind = plant(cell) if side == "new" else None
    made = []
    for seed, noise in zip(range(SEEDS), NOISE, strict=True):
        rate, memory, metric, extra = 1000.0 * noise, 100.0 * noise, 0.9 * noise, {}
        if kind in (SLOWER, DISTURBED_SLOWER):
            rate *= 0.8
        if kind == DISTURBED_SLOWER:
            extra["timing"] = {"load_start": 3.2, "cores": 2, "disturbed": [LOADED]}
        rate *= 1.3 if kind == FASTER else 1.0
        memory *= 1.3 if kind == HUNGRIER else 1.0
        metric *= 0.8 if kind == WORSE else 1.0
        status = "failed" if kind == FAILED else "ok"
        measured = {"samples_per_s": rate, "peak_memory_mb": memory, **extra}
        made.append(make_record(seed=seed, metric_value=metric, status=status, **settings(cell), **measured))
    return made


def write_side(root, side: str, cells) -> None:
    store = Store(root)
    # seeds of a cell far apart in the folder, as the files of a real sweep are
    for record in sorted((r for cell in cells for r in runs(cell, side)), key=lambda r: r["key"]):
        store.write(record)


@pytest.fixture
def no_fsync(monkeypatch):
    """Store.write as it is, without waiting for the disk 12,000 times."""
    monkeypatch.setattr(os, "fsync", lambda fd: None)


def test_thousands_of_cells_every_planted_change_found(tmp_path, no_fsync):
    only_base, only_new = {CELLS - 1, CELLS - 2}, {CELLS, CELLS + 1, CELLS + 2}
    write_side(tmp_path / "base", "base", range(CELLS))
    write_side(tmp_path / "new", "new", [c for c in range(CELLS + 3) if c not in only_base])
    result = compare_dirs(tmp_path / "base", tmp_path / "new")

    matched = [c for c in range(CELLS) if c not in only_base]
    planted = Counter(plant(c) for c in matched)
    assert result.cells == len(matched) and not result.device_mismatches and not result.unmatched_fields
    assert result.only_base == sorted(cell_name(c) for c in only_base)
    assert result.only_new == sorted(cell_name(c) for c in only_new)
    verdicts = Counter((c.quantity, c.verdict) for c in result.changes if c.verdict != "unchanged")
    assert verdicts == {
        ("samples/s", REGRESSION): planted[SLOWER],
        ("peak MiB (CPU RSS growth)", REGRESSION): planted[HUNGRIER],
        ("test accuracy", REGRESSION): planted[WORSE],
        ("samples/s", IMPROVED): planted[FASTER],
        ("samples/s", DISTURBED): planted[DISTURBED_SLOWER],
        (OK_RUNS, REGRESSION): planted[FAILED],
    }
    assert min(planted[kind] for kind in (SLOWER, HUNGRIER, WORSE, FASTER, DISTURBED_SLOWER, FAILED)) >= 99
    expected = {cell_name(c) for c in matched if plant(c) in (SLOWER, HUNGRIER, WORSE, FAILED)}
    assert {c.cell for c in result.regressions} == expected
    speed = {c.cell: c for c in result.changes if c.quantity == "samples/s"}
    for cell in matched:
        change = speed.get(cell_name(cell))
        if plant(cell) == FAILED:
            assert change is None
            continue
        assert (change.base.n, change.new.n) == (SEEDS, SEEDS)
        assert change.relative == pytest.approx({SLOWER: -0.2, DISTURBED_SLOWER: -0.2, FASTER: 0.3}.get(plant(cell), 0))
    assert [c.cell for c in result.changes] == sorted(c.cell for c in result.changes)  # by name, three rows a cell
    assert result.set_aside and all(f"NEW: {SEEDS} of {SEEDS} runs ({LOADED})" in c.note for c in result.set_aside)


def test_cells_split_by_a_field_the_other_side_lacks_merge(tmp_path):
    """BASE ran compile on and off (two cells); NEW has no such field: one matched cell of all six BASE runs."""
    base = [make_record(seed=s, config={"compile": on}) for s in range(3) for on in (True, False)]
    for root, records in (("base", base), ("new", [make_record(seed=s) for s in range(3)])):
        for record in records:
            Store(tmp_path / root).write(record)
    result = compare_dirs(tmp_path / "base", tmp_path / "new")
    assert result.cells == 1 and result.unmatched_fields == ["compile"] and not result.only_base
    assert {(c.base.n, c.new.n) for c in result.changes} == {(6, 3)}


def test_files_that_are_not_records_are_named_and_the_rest_compared(tmp_path):
    for root in ("base", "new"):
        for seed in range(2):
            Store(tmp_path / root).write(make_record(seed=seed))
    (tmp_path / "new" / "runs" / "broken.json").write_text("{not json")
    result = compare_dirs(tmp_path / "base", tmp_path / "new")
    assert result.cells == 1 and [(p.name, "unreadable" in text) for p, text in result.problems] == [
        ("broken.json", True)
    ]
