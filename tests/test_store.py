"""Records on disk: atomic, readable back, corrupt files reported instead of crashing."""

import ast
import json
import multiprocessing
import os
import signal
import stat
import time
from pathlib import Path

import pytest

import harness.store
from harness.records import config_key
from harness.store import UNSAVED_NAME, Store, UnreadableRecord


def _record(model="m", status="ok", seed=0):
    """A small valid record whose key is its config's, as the store demands."""
    config = {"model": model, "dataset": "digits", "optimizer": "sgd", "seed": seed}
    return {"schema": 1, "key": config_key(config), "status": status, "config": config, "results": {"test_metric": 0.5}}


def _key(model="m", seed=0):
    return _record(model, seed=seed)["key"]


def test_write_read_round_trip_leaves_no_temp_files(tmp_path):
    store = Store(tmp_path)
    path = store.write(_record("abc"))
    assert path == tmp_path / "runs" / f"{_key('abc')}.json"
    assert store.read(_key("abc")) == _record("abc")
    assert store.is_finished(_key("abc"))
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [path.name]


def test_failed_records_are_not_finished(tmp_path):
    store = Store(tmp_path)
    store.write(_record("f", status="failed"))
    store.write(_record("d", status="diverged"))
    assert not store.is_finished(_key("f")) and store.is_finished(_key("d")) and not store.is_finished("missing")


def test_corrupt_and_foreign_files_are_reported_and_skipped(tmp_path):
    store = Store(tmp_path)
    store.write(_record("good"))
    (tmp_path / "runs" / "truncated.json").write_text('{"key": "trunc", "conf')
    (tmp_path / "runs" / "other.json").write_text(json.dumps([1, 2]))
    records, problems = store.load_all()
    assert [r["key"] for r in records] == [_key("good")]
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
    assert [r["key"] for r in records] == [_key("good")]
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
    path = store.write(_record("k"))
    assert store.read(_key("k")) == _record("k") and store.load_all()[0] == [_record("k")]
    assert json.loads(path.read_text()) == _record("k")  # the file is plain JSON
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
    path, reads = tmp_path / "runs" / f"{_key('hot')}.json", 0
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


# ---------------------------------------------------------------------------
# A record counts only for its own cell
# ---------------------------------------------------------------------------


def test_a_record_copied_over_another_cells_file_is_broken_and_counted_once(tmp_path):
    store = Store(tmp_path)
    first, second = store.write(_record(seed=0)), store.write(_record(seed=1))
    second.write_bytes(first.read_bytes())  # cp runs/A.json runs/B.json
    records, problems = store.load_all()
    assert records == [_record(seed=0)]
    assert [(path, "its key" in why and "file name" in why) for path, why in problems] == [(second, True)]
    assert store.read(_key(seed=1)) is None and store.inspect(_key(seed=1))[1] == problems[0][1]


def test_a_record_whose_key_is_not_its_configs_is_broken(tmp_path):
    store = Store(tmp_path)
    forged = _record(seed=1)
    forged["key"] = _key(seed=0)  # renamed to take another cell's place
    store.runs.mkdir(parents=True)
    store.path_for(forged["key"]).write_text(json.dumps(forged))
    hollow = {"schema": 1, "key": "hollow", "status": "ok", "config": {}}
    store.path_for("hollow").write_text(json.dumps(hollow))
    edited = _record("edited")
    edited["config"]["optimizer"] = "adam"
    store.path_for(edited["key"]).write_text(json.dumps(edited))
    records, problems = store.load_all()
    assert records == []
    why = {path.stem: text for path, text in problems}
    assert "is not its config's" in why[_key(seed=0)] and "is not its config's" in why[edited["key"]]
    assert "config has no 'model'" in why["hollow"]
    assert store.read(_key(seed=0)) is None and store.read("hollow") is None


def test_type_garbage_in_a_stored_record_is_reported(tmp_path):
    store = Store(tmp_path)
    record = _record()
    record["results"]["test_metric"] = "abc"
    store.runs.mkdir(parents=True)
    store.path_for(record["key"]).write_text(json.dumps(record))
    records, problems = store.load_all()
    assert records == [] and [path for path, _ in problems] == [store.path_for(record["key"])]
    assert "results.test_metric" in problems[0][1]
    assert store.inspect(record["key"]) == (None, problems[0][1])


# ---------------------------------------------------------------------------
# Permissions: records are readable by the group; an unreadable one is never replaced
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_records_get_the_mode_of_any_new_file(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        path = Store(tmp_path).write(_record())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_record_that_exists_but_cannot_be_read_raises_and_is_reported(tmp_path):
    store = Store(tmp_path)
    path = store.write(_record())
    path.chmod(0)
    try:
        with pytest.raises(UnreadableRecord, match=f"{path} exists but cannot be read.*PermissionError"):
            store.read(_key())
        assert [(p, why.startswith("cannot be read: PermissionError")) for p, why in store.load_all()[1]] == [
            (path, True)
        ]
    finally:
        path.chmod(0o644)


def _refuse_to_open(monkeypatch, refused: Path):
    """Open as if ``refused`` belonged to another user: what chmod 000 does, even for root."""
    real_open = os.open

    def fake_open(path, *args, **kwargs):
        if Path(path) == refused:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(harness.store.os, "open", fake_open)


def test_unreadable_is_told_apart_from_absent_and_broken(tmp_path, monkeypatch):
    store = Store(tmp_path)
    path = store.write(_record())
    _refuse_to_open(monkeypatch, path)
    with pytest.raises(UnreadableRecord) as raised:
        store.inspect(_key())
    assert raised.value.path == path and "PermissionError: Permission denied" in str(raised.value)
    assert str(raised.value).count("\n") == 0
    assert store.inspect("absent") == (None, None)
    assert store.load_all() == ([], [(path, "cannot be read: PermissionError: Permission denied")])


# ---------------------------------------------------------------------------
# Special and huge files are never read
# ---------------------------------------------------------------------------


@pytest.fixture
def deadline():
    """Fail (instead of hanging the suite) if a read blocks."""

    def expired(signum, frame):
        raise TimeoutError("a read blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_fifo_or_a_link_to_a_device_is_refused_without_reading(tmp_path, deadline):
    store = Store(tmp_path)
    store.write(_record())
    os.mkfifo(store.runs / "fifo.json")  # nobody writes: opening it for reading would block
    (store.runs / "zero.json").symlink_to("/dev/zero")  # endless: reading it whole would exhaust memory
    (store.runs / "dir.json").mkdir()
    records, problems = store.load_all()
    assert records == [_record()]
    assert {path.name: "not a regular file" in why for path, why in problems} == dict.fromkeys(
        ("dir.json", "fifo.json", "zero.json"), True
    )
    assert store.inspect("fifo")[0] is None and "not a regular file" in store.inspect("zero")[1]


def test_a_link_to_a_record_elsewhere_is_followed(tmp_path):
    elsewhere = Store(tmp_path / "elsewhere").write(_record())
    store = Store(tmp_path / "here")
    store.runs.mkdir(parents=True)
    store.path_for(_key()).symlink_to(elsewhere)
    (store.runs / "dangling.json").symlink_to(tmp_path / "nothing.json")
    assert store.read(_key()) == _record()
    assert store.load_all() == ([_record()], [(store.runs / "dangling.json", "a link to a file that does not exist")])


def test_a_file_past_the_size_limit_is_refused_unread(tmp_path, monkeypatch):
    store = Store(tmp_path)
    store.runs.mkdir(parents=True)
    with open(store.runs / "huge.json", "wb") as handle:
        handle.truncate(harness.store.MAX_RECORD_BYTES + 1)  # sparse: no disk used
    padded = store.path_for(_key())
    padded.write_text(json.dumps(_record()) + " " * 2000)
    assert "larger than 16 MB" in store.inspect("huge")[1]
    assert store.read(_key()) == _record()
    monkeypatch.setattr(harness.store, "MAX_RECORD_BYTES", 1000)
    assert "larger than" in store.inspect(_key())[1]
    reads = []
    real_read = os.read
    monkeypatch.setattr(harness.store.os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    monkeypatch.setattr(harness.store, "_check_regular", lambda info, limit: None)  # a file that grows after stat
    with pytest.raises(harness.store.NotARecord, match="larger than"):
        harness.store.read_limited(padded)
    assert sum(reads) <= 1001


# ---------------------------------------------------------------------------
# When runs/ cannot be written
# ---------------------------------------------------------------------------


def test_a_record_that_cannot_be_stored_is_kept_beside_the_results_or_elsewhere(tmp_path, monkeypatch, capsys):
    store = Store(tmp_path / "results")
    store.root.mkdir()
    kept = store.keep(_record(seed=0))
    assert kept == str(store.root / UNSAVED_NAME)
    assert store.keep(_record(seed=1)) == kept
    lines = (store.root / UNSAVED_NAME).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [_record(seed=0), _record(seed=1)]

    monkeypatch.chdir(tmp_path)
    _refuse_to_open(monkeypatch, store.root / UNSAVED_NAME)
    assert store.keep(_record(seed=2)) == str(tmp_path / UNSAVED_NAME)  # the results folder refused it

    monkeypatch.setattr(harness.store.os, "open", lambda *a, **k: (_ for _ in ()).throw(OSError(28, "No space")))
    assert store.keep(_record(seed=3)) == "stderr"
    err = capsys.readouterr().err
    assert err.startswith("unsaved record: ") and json.loads(err.removeprefix("unsaved record: ")) == _record(seed=3)


def test_a_claim_released_after_runs_became_unwritable_raises_nothing(tmp_path, monkeypatch):
    store = Store(tmp_path)
    claim = store.claim("k")

    def refuse(self, missing_ok=False):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "unlink", refuse)
    claim.release()
    monkeypatch.undo()
    again = store.claim("k")  # the lock file left behind is unlocked: a later claim takes it
    assert again is not None
    again.release()


def test_a_report_with_no_valid_record_says_why_in_one_line(tmp_path, capsys):
    from harness.cli import main

    store = Store(tmp_path)
    store.runs.mkdir(parents=True)
    (store.runs / "copied.json").write_text(json.dumps(_record()))
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no run records under" in err
    assert f"{store.runs / 'copied.json'}: not a harness run record: its key" in err
