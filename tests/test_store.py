"""Records on disk: atomic, readable back, corrupt files reported instead of crashing."""

import json
import multiprocessing

from harness.store import Store


def _record(key, status="ok"):
    return {"key": key, "status": status, "config": {"model": "m"}, "results": {"test_metric": 0.5}}


def test_write_read_round_trip_leaves_no_temp_files(tmp_path):
    store = Store(tmp_path)
    path = store.write(_record("abc"))
    assert path == tmp_path / "runs" / "abc.json"
    assert store.read("abc") == _record("abc")
    assert store.is_finished("abc")
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["abc.json"]


def test_failed_records_are_not_finished(tmp_path):
    store = Store(tmp_path)
    store.write(_record("f", status="failed"))
    store.write(_record("d", status="diverged"))
    assert not store.is_finished("f") and store.is_finished("d") and not store.is_finished("missing")


def test_corrupt_and_foreign_files_are_reported_and_skipped(tmp_path):
    store = Store(tmp_path)
    store.write(_record("good"))
    (tmp_path / "runs" / "truncated.json").write_text('{"key": "trunc", "conf')
    (tmp_path / "runs" / "other.json").write_text(json.dumps([1, 2]))
    records, problems = store.load_all()
    assert [r["key"] for r in records] == ["good"]
    assert {p.name for p, _ in problems} == {"truncated.json", "other.json"}
    assert store.read("truncated") is None


def _write_many(root, start):
    store = Store(root)
    for i in range(start, start + 50):
        store.write(_record(f"k{i % 60}"))


def test_parallel_writers_never_corrupt_a_record(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_write_many, args=(tmp_path, s)) for s in (0, 25)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    records, problems = Store(tmp_path).load_all()
    assert problems == []
    assert len(records) == len({f"k{i % 60}" for i in range(0, 75)})
    assert not list((tmp_path / "runs").glob(".*.tmp"))
