"""Records on disk: atomic, readable back, corrupt files reported instead of crashing."""

import ast
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

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


# ---------------------------------------------------------------------------
# Files that are not records, and what is never used to read them
# ---------------------------------------------------------------------------

NOT_RECORDS = {
    "truncated.json": b'{"key": "t", "status": "ok", "conf',
    "empty.json": b"",
    "garbage.json": bytes(range(256)) * 4,  # binary: not even UTF-8
    "list.json": b"[1, 2]",
    "nokey.json": json.dumps({"status": "ok", "config": {}}).encode(),
    "badconfig.json": json.dumps({"key": "b", "status": "ok", "config": "mlp"}).encode(),
    "badresults.json": json.dumps({"key": "r", "status": "ok", "config": {}, "results": [1]}).encode(),
}


def test_every_kind_of_broken_file_is_named_and_skipped(tmp_path):
    store = Store(tmp_path)
    store.write(_record("good"))
    for name, content in NOT_RECORDS.items():
        (tmp_path / "runs" / name).write_bytes(content)
    records, problems = store.load_all()
    assert [r["key"] for r in records] == ["good"]
    assert {path.name for path, _ in problems} == set(NOT_RECORDS)
    assert all(store.read(Path(name).stem) is None for name in NOT_RECORDS)  # a sweep retrains such a cell


def test_harness_report_warns_about_each_broken_file_and_still_prints(tmp_path, capsys):
    from harness.cli import main

    Store(tmp_path).write({**_record("good"), "metric": "accuracy", "task": "classification"})
    for name, content in NOT_RECORDS.items():
        (tmp_path / "runs" / name).write_bytes(content)
    assert main(["report", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == len(NOT_RECORDS)
    for name in NOT_RECORDS:
        assert any(line.startswith(f"warning: skipped {tmp_path / 'runs' / name}: ") for line in warnings)
    assert "m" in captured.out and "Traceback" not in captured.err


def test_a_broken_record_where_a_cell_should_be_is_trained_again(tmp_path, registry):
    import harness

    common = {"launcher": "inline", "output": tmp_path, "registry": registry, "models": "logreg",
              "datasets": "digits", "optimizers": "sgd", "seeds": 1, "max_epochs": 1}  # fmt: skip
    (record,) = harness.run(**common).records
    path = Store(tmp_path).path_for(record["key"])
    path.write_bytes(b"\x00\xff not json")
    again = harness.run(**common)
    assert again.reused == 0 and again.records[0]["status"] == "ok"
    assert json.loads(path.read_text())["key"] == record["key"]


def test_records_are_never_pickled(tmp_path, monkeypatch):
    import pickle

    import harness.store

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used")

    for name in ("dump", "dumps", "load", "loads", "Pickler", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    store = Store(tmp_path)
    store.write(_record("k"))
    assert store.read("k") == _record("k") and store.load_all()[0] == [_record("k")]
    assert json.loads((tmp_path / "runs" / "k.json").read_text()) == _record("k")  # the file is plain JSON
    tree = ast.parse(Path(harness.store.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not imported & {"pickle", "cPickle", "dill", "shelve", "marshal", "torch"}


# ---------------------------------------------------------------------------
# Readers never see half a record
# ---------------------------------------------------------------------------


def _rewrite(root, rounds):
    store = Store(root)
    for i in range(rounds):
        store.write({**_record("hot"), "results": {"payload": "x" * (50_000 + 997 * (i % 50))}})


def test_a_reader_never_sees_a_partial_record_while_it_is_rewritten(tmp_path):
    Store(tmp_path).write(_record("hot"))
    ctx = multiprocessing.get_context("spawn")
    writers = [ctx.Process(target=_rewrite, args=(tmp_path, 150)) for _ in range(2)]
    for writer in writers:
        writer.start()
    path, reads = tmp_path / "runs" / "hot.json", 0
    while any(w.is_alive() for w in writers) or reads < 200:
        json.loads(path.read_text())  # a half-written file would not parse
        reads += 1
    for writer in writers:
        writer.join()
        assert writer.exitcode == 0
    assert reads >= 200 and not list((tmp_path / "runs").glob(".*.tmp"))


# ---------------------------------------------------------------------------
# Claims: one sweep trains a cell at a time
# ---------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released_and_leaves_no_file(tmp_path):
    store = Store(tmp_path)
    claim = store.claim("k")
    assert claim is not None and store.claim("k") is None  # even from the same process: another open file
    assert store.holder("k").endswith(f" {os.getpid()}")
    assert store.claim("other") is not None
    claim.release()
    again = store.claim("k")
    assert again is not None
    again.release()
    assert not (tmp_path / "runs" / ".k.lock").exists()


def _hold_claim(root, ready):
    claim = Store(root).claim("k")
    assert claim is not None
    ready.set()
    time.sleep(60)


def test_a_claim_dies_with_its_holder_even_when_killed(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_claim, args=(tmp_path, ready))
    holder.start()
    try:
        assert ready.wait(30)
        assert Store(tmp_path).claim("k") is None
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.join()
    claim = Store(tmp_path).claim("k")  # no stale claim: the kernel let go of the dead holder's lock
    assert claim is not None
    claim.release()
