"""The run index: a cache of a results folder's runs frame that never changes what a report says.

Every test compares what is read through the index with what reading every
file gives (``use_index=False``), after the change the test is about.
"""

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from harness import records as records_module
from harness.records import new_record
from harness.reporting import run_index
from harness.reporting.export import build_report
from harness.reporting.run_index import INDEX_NAME, load_runs
from harness.store import Store
from harness.sweep import Sweep, plan_configs
from tests.records import make_record
from tests.sweeps import InstantLauncher, logreg_grid


@pytest.fixture(autouse=True)
def _index_every_folder(monkeypatch):
    """Folders here are small; the index is kept from the first record (it is from 1,000 otherwise)."""
    monkeypatch.setattr(run_index, "INDEX_FROM", 1)


def test_a_small_folder_keeps_no_index(tmp_path, monkeypatch):
    monkeypatch.setattr(run_index, "INDEX_FROM", 13)
    _folder(tmp_path)
    runs, _ = load_runs(tmp_path)
    assert len(runs) == 12 and not (tmp_path / INDEX_NAME).exists()


def _folder(root, n=12):
    """``n`` records over 4 cells (3 seeds each), one of them failed, written the way a sweep writes them."""
    store = Store(root)
    for index in range(n):
        status = "failed" if index == 5 else "ok"
        record = make_record(seed=index // 4, optimizer=["sgd", "adam", "adamw", "rmsprop"][index % 4], status=status)
        record["results"]["val_curve"] = [{"epoch": e, "val_metric": 0.5 + 0.01 * e + 0.001 * index} for e in range(5)]
        store.write(record)
    return store


def _same_as_files(root, details=True):
    """Read through the index, then every file: the frames and problems must be equal."""
    indexed, problems = load_runs(root, details=details)
    direct, direct_problems = load_runs(root, details=details, use_index=False)
    pd.testing.assert_frame_equal(indexed, direct)
    assert problems == direct_problems
    return indexed, problems


def _index_written_at(root):
    return os.stat(root / INDEX_NAME).st_mtime_ns


def test_the_index_is_written_and_a_second_read_takes_rows_from_it(tmp_path, monkeypatch):
    _folder(tmp_path)
    first, _ = _same_as_files(tmp_path)
    assert (tmp_path / INDEX_NAME).is_file() and len(first) == 12
    reads = []
    real = run_index.read_chunk
    monkeypatch.setattr(run_index, "read_chunk", lambda root, names: reads.append(names) or real(root, names))
    again, _ = load_runs(tmp_path, details=True)
    assert reads == [] or reads == [[]]  # nothing read: every row came from the index
    pd.testing.assert_frame_equal(first, again)


def test_reports_read_the_same_with_and_without_the_index(tmp_path):
    _folder(tmp_path)
    Store(tmp_path).runs.joinpath("broken.json").write_text("{not json")
    for fmt in ("simple", "csv", "github"):
        cold, cold_problems = build_report(tmp_path, fmt, stats=fmt == "simple", use_index=False)
        build_report(tmp_path, fmt)  # writes or refreshes the index
        warm, warm_problems = build_report(tmp_path, fmt, stats=fmt == "simple")
        assert warm == cold and warm_problems == cold_problems
        assert [path.name for path, _ in warm_problems] == ["broken.json"]  # still warned about, from the index


def test_deleting_the_index_loses_nothing(tmp_path):
    _folder(tmp_path)
    before, _ = _same_as_files(tmp_path)
    (tmp_path / INDEX_NAME).unlink()
    after, _ = _same_as_files(tmp_path)
    pd.testing.assert_frame_equal(before, after)


def test_a_changed_record_is_read_again(tmp_path):
    store = _folder(tmp_path)
    runs, _ = _same_as_files(tmp_path)
    key = runs["key"].iloc[0]
    record = store.read(key)
    record["results"]["test_metric"] = 0.123
    store.write(record)
    runs, _ = _same_as_files(tmp_path)
    assert runs.set_index("key").loc[key, "test_metric"] == 0.123


def test_a_record_rewritten_in_place_with_the_same_size_is_read_again(tmp_path):
    store = _folder(tmp_path)
    runs, _ = _same_as_files(tmp_path)
    key = runs["key"].iloc[0]
    path = store.path_for(key)
    text = path.read_text()
    assert '"test_metric": 0.9' in text
    stamp = os.stat(path)
    path.write_text(text.replace('"test_metric": 0.9', '"test_metric": 0.8'))  # same size, same inode
    os.utime(path, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))  # even the same modification time
    runs, _ = _same_as_files(tmp_path)
    assert runs.set_index("key").loc[key, "test_metric"] == 0.8  # the change time gave it away


def test_records_added_and_removed_are_seen(tmp_path):
    store = _folder(tmp_path)
    runs, _ = _same_as_files(tmp_path)
    gone = runs["key"].iloc[3]
    store.path_for(gone).unlink()
    added = make_record(model="cnn", seed=7)
    store.write(added)
    runs, _ = _same_as_files(tmp_path)
    assert gone not in set(runs["key"]) and added["key"] in set(runs["key"]) and len(runs) == 12


def test_a_record_that_becomes_broken_is_reported_not_served_from_the_index(tmp_path):
    store = _folder(tmp_path)
    runs, _ = _same_as_files(tmp_path)
    key = runs["key"].iloc[0]
    store.path_for(key).write_text("{}")
    runs, problems = _same_as_files(tmp_path)
    assert key not in set(runs["key"]) and [path.stem for path, _ in problems] == [key]


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(b"not parquet at all"),
        lambda path: path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2]),  # torn
        lambda path: path.write_bytes(b""),
        lambda path: (path.unlink(), path.mkdir()),  # a folder in its place
    ],
    ids=["garbage", "truncated", "empty", "a-folder"],
)
def test_a_corrupt_index_is_rebuilt(tmp_path, damage):
    _folder(tmp_path)
    before, _ = _same_as_files(tmp_path)
    damage(tmp_path / INDEX_NAME)
    after, _ = load_runs(tmp_path, details=True)
    pd.testing.assert_frame_equal(before, after)
    if (tmp_path / INDEX_NAME).is_file():
        after, _ = _same_as_files(tmp_path)  # and rewritten whole
        pd.testing.assert_frame_equal(before, after)


def test_an_index_of_other_code_is_rebuilt(tmp_path, monkeypatch):
    store = _folder(tmp_path)
    _same_as_files(tmp_path)
    key = next(iter(store.runs.glob("*.json"))).stem
    record = store.read(key)
    # a new version of the code that makes rows: the index written by the old one must not be served
    monkeypatch.setattr(run_index, "fingerprint", lambda: "another-version")
    reads = []
    real = run_index.read_chunk
    monkeypatch.setattr(run_index, "read_chunk", lambda root, names: reads.append(len(names)) or real(root, names))
    runs, _ = load_runs(tmp_path)
    assert reads == [12] and record["key"] in set(runs["key"])


def test_an_index_with_rows_of_files_that_are_gone_serves_none_of_them(tmp_path):
    store = _folder(tmp_path)
    _same_as_files(tmp_path)
    for path in list(store.runs.glob("*.json"))[:5]:
        path.unlink()
    runs, _ = _same_as_files(tmp_path)
    assert len(runs) == 7


def test_a_folder_that_cannot_be_written_is_read_without_an_index(tmp_path, monkeypatch):
    _folder(tmp_path)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_index.os, "replace", refuse)
    runs, _ = load_runs(tmp_path)
    assert len(runs) == 12 and not (tmp_path / INDEX_NAME).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


def test_reading_in_several_processes_gives_the_same_frame(tmp_path, monkeypatch):
    _folder(tmp_path, n=40)
    direct, direct_problems = load_runs(tmp_path, details=True, use_index=False)
    monkeypatch.setattr(run_index, "PARALLEL_FROM", 10)  # 40 files: 2 processes on 2 cores
    monkeypatch.setattr(run_index, "_cores", lambda: 2)
    spawned = []
    real = run_index._read_in_processes
    monkeypatch.setattr(run_index, "_read_in_processes", lambda *a: spawned.append(a[2]) or real(*a))
    runs, problems = load_runs(tmp_path, details=True, use_index=False)
    assert spawned == [2]
    pd.testing.assert_frame_equal(runs, direct)
    assert problems == direct_problems


def test_two_processes_updating_the_index_at_once_leave_a_whole_one(tmp_path):
    """Two readers refresh the index over and over while records keep arriving; it is never torn."""
    store = _folder(tmp_path, n=4)
    code = (
        "import sys\nfrom harness.reporting.run_index import load_runs\n"
        "for _ in range(int(sys.argv[2])):\n    load_runs(sys.argv[1], details=True)\n"
    )
    readers = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path), "25"]) for _ in range(2)]
    for seed in range(30):
        store.write(make_record(model="cnn", seed=seed))
        time.sleep(0.02)
    assert [reader.wait(timeout=300) for reader in readers] == [0, 0]
    runs, _ = _same_as_files(tmp_path)  # the index both left behind is readable and right (refreshed)
    assert len(runs) == 34
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_mixed_kinds_in_one_column_come_back_as_they_were(tmp_path):
    store = Store(tmp_path)
    store.write(make_record(seed=0, config={"model_params": {"width": 64}}))
    store.write(make_record(seed=1, config={"model_params": {"width": "wide"}}))
    store.write(make_record(seed=2, config={"model_params": {"width": 2**70}}))  # past 64 bits
    runs, _ = _same_as_files(tmp_path)
    assert sorted(map(str, runs["model_params.width"])) == sorted(["64", "wide", str(2**70)])
    assert {type(v) for v in runs["model_params.width"]} == {int, str}


def test_records_parse_the_same_without_orjson(tmp_path, monkeypatch):
    _folder(tmp_path)
    record = make_record(seed=9)
    record["results"]["test_loss"] = float("nan")  # orjson refuses NaN: the standard library reads it
    Store(tmp_path).write(record)
    fast, _ = load_runs(tmp_path, use_index=False)
    monkeypatch.setattr(records_module, "orjson", None)
    slow, _ = load_runs(tmp_path, use_index=False)
    pd.testing.assert_frame_equal(fast, slow)
    assert records_module.parse(b"[123456789012345678901234567890]") == [123456789012345678901234567890]


# ---------------------------------------------------------------------------
# Resume: which cells are finished, without reading every record
# ---------------------------------------------------------------------------


def test_a_resumed_sweep_takes_finished_cells_from_the_index_and_retrains_a_broken_one(tmp_path, monkeypatch):
    store = Store(tmp_path)
    first = Sweep(store)
    first.plan(logreg_grid(range(6)))
    first.run(InstantLauncher())
    broken = logreg_grid([2])[0].key()
    store.path_for(broken).write_text(json.dumps({"key": broken}))  # a hollow record: trained again
    failed = new_record(logreg_grid([6])[0], "tiny") | {"status": "failed", "reason": "RuntimeError: boom"}
    store.write(failed)  # not final: trained again

    loads = []
    real_load = Store.load
    monkeypatch.setattr(Store, "load", lambda self, path: loads.append(path.stem) or real_load(self, path))
    plan = plan_configs(logreg_grid(range(8)), tmp_path)
    assert (plan.total, plan.reused, plan.broken) == (8, 5, 1)
    assert sorted(config.seed for config in plan.todo) == [2, 6, 7]
    assert "8 runs: 5 finished (reused), 3 to train" in plan.describe()
    loads.clear()
    plan = plan_configs(
        logreg_grid(range(8)), tmp_path
    )  # the index knows the valid ones, finished or not: none is read
    absent = logreg_grid([7])[0].key()  # looked for, not there
    assert sorted(loads) == sorted([broken, absent]) and sorted(c.seed for c in plan.todo) == [2, 6, 7]
    oom = new_record(logreg_grid([8])[0], "tiny") | {"status": "oom", "reason": "OutOfMemoryError"}
    store.write(oom)
    loads.clear()
    plan_configs(logreg_grid(range(9)), tmp_path, oom_retry=True)  # with OOM retries, an oom record may name its retry
    assert oom["key"] in loads and failed["key"] not in loads


def test_a_sweep_resumed_through_the_index_reports_every_cell(tmp_path, monkeypatch):
    import harness.sweep as sweep_module

    monkeypatch.setattr(sweep_module, "make_launcher", lambda *args, **kwargs: InstantLauncher())
    monkeypatch.setattr(sweep_module, "notify_record_written", lambda *args: None)
    first = sweep_module.run_configs(logreg_grid(range(4)), tmp_path, registry=None)
    assert first.reused_runs is None and len(first.records) == 4
    again = sweep_module.run_configs(logreg_grid(range(5)), tmp_path, registry=None)
    assert again.reused == 4 and len(again.reused_runs) == 4 and [r["config"]["seed"] for r in again.records] == [4]
    frame = again.frame()
    assert sorted(frame["seed"]) == [0, 1, 2, 3, 4]
    assert sorted(r["config"]["seed"] for r in again.all_records()) == [0, 1, 2, 3, 4]
    assert "5" in again.table()  # one cell of five seeds
    whole = sweep_module.run_configs(logreg_grid(range(5)), tmp_path, registry=None, use_index=False)
    assert whole.reused_runs is None and len(whole.records) == 5
    assert whole.table() == again.table()


def test_a_few_columns_are_read_alike_from_the_files_and_from_the_index(tmp_path):
    store = _folder(tmp_path)
    whole, _ = _same_as_files(tmp_path)
    store.write(make_record(model="cnn", seed=3))  # the index is stale: rewritten, whole, then cut
    some, _ = load_runs(tmp_path, columns=["status"])
    assert list(some.columns) == ["key", "status"] and len(some) == 13
    again, _ = load_runs(tmp_path, columns=["status"])  # from the fresh index: only these columns read
    pd.testing.assert_frame_equal(some, again)
    full, _ = load_runs(tmp_path, use_index=False)
    assert len(whole) == 12
    pd.testing.assert_frame_equal(again, full[["key", "status"]])
