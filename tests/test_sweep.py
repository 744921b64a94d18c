"""When things go wrong: runs past the time limit, out of memory, diverging; sweeps killed or side by side.

Every failure becomes a record that says what happened, the sweep goes on,
and running the same command again redoes only what is not finished.
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

import harness
import harness.launch.local
import harness.store
import harness.sweep
from harness.api import resolve_suite
from harness.cli import main
from harness.config import expand
from harness.errors import ConfigError
from harness.store import Store
from harness.sweep import Sweep, SweepResult, notify_record_written, run_configs
from tests import FIXTURES
from tests.sweeps import InstantLauncher, logreg_grid

TINY = {"datasets": "digits", "optimizers": "sgd", "seeds": 1, "max_epochs": 1}
STEPS_PER_EPOCH = math.ceil(1077 / 64)  # digits' training split at batch size 64


def _events():
    seen = []
    return seen, lambda kind, **data: seen.append((kind, data))


def _gone(pids, timeout: float = 20.0) -> bool:
    """Whether every process in ``pids`` ends in time (a zombie awaiting its reaper has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


# ---------------------------------------------------------------------------
# A time limit per run
# ---------------------------------------------------------------------------


def test_a_run_past_the_time_limit_is_stopped_recorded_and_its_worker_replaced(tmp_path, test_registry, monkeypatch):
    monkeypatch.setattr(harness.launch.local, "TIMEOUT_GRACE_S", 0.5)  # how long SIGTERM gets before SIGKILL
    seen, on_event = _events()
    started = time.monotonic()
    result = harness.run(
        output=tmp_path,
        registry=test_registry,
        models="stubborn,sleepy[fast=1.0],logreg",  # a worker each for the first two; logreg goes to a replacement
        jobs=2,
        timeout=2,
        on_event=on_event,
        **TINY,
    )
    elapsed = time.monotonic() - started
    by_model = {r["config"]["model"]: r for r in result.records}
    stubborn, sleepy, fine = by_model["stubborn"], by_model["sleepy"], by_model["logreg"]

    assert sleepy["status"] == "timeout"  # 17 steps of 1 s: it could never finish in 2 s
    assert sleepy["reason"] == "still running after the time limit of 2s; its worker was stopped (signal SIGTERM)"
    assert stubborn["status"] == "timeout"  # it ignores SIGTERM: killed after the grace period
    assert stubborn["reason"].endswith("its worker was stopped (signal SIGKILL)")
    for record in (sleepy, stubborn):
        assert 2 <= record["results"]["wall_time_s"] < 10  # stopped at the limit, not at the end of the run
        assert record["provenance"]["pid"] and Store(tmp_path).read(record["key"]) == record
    assert fine["status"] == "ok"
    assert fine["provenance"]["pid"] not in (stubborn["provenance"]["pid"], sleepy["provenance"]["pid"])
    assert elapsed < 40  # nobody waited out the stubborn model's minute-long step
    assert _gone([stubborn["provenance"]["pid"], sleepy["provenance"]["pid"], fine["provenance"]["pid"]])
    assert "timeout: still running after the time limit" in result.table()  # shown like a failure


def test_timeout_is_not_part_of_what_a_run_computes():
    registry = harness.api.load_registry()
    grid = {"models": "logreg", **TINY}
    plain, limited = resolve_suite(**grid), resolve_suite(**grid, timeout=30, oom_retry=True)
    assert limited.timeout == 30 and limited.oom_retry
    assert plain.name == limited.name  # an ad-hoc sweep keeps its folder
    assert [r.key() for r in expand(plain, registry)[0]] == [r.key() for r in expand(limited, registry)[0]]


def test_the_inline_launcher_refuses_a_time_limit(tmp_path, registry):
    with pytest.raises(ConfigError, match="timeout: the inline launcher .* needs the local launcher"):
        harness.run(launcher="inline", output=tmp_path, registry=registry, models="logreg", timeout=5, **TINY)


# ---------------------------------------------------------------------------
# Out of memory
# ---------------------------------------------------------------------------


def test_out_of_memory_is_recorded_naming_the_batch_size(tmp_path, test_registry):
    result = harness.run(
        launcher="inline", output=tmp_path, registry=test_registry, models="oom[max_batch=40],logreg", **TINY
    )
    by_model = {r["config"]["model"]: r for r in result.records}
    oom = by_model["oom"]
    assert oom["status"] == "oom"
    assert oom["reason"].startswith("out of memory at batch size 64: OutOfMemoryError: CUDA out of memory")
    assert "retried_as" not in oom  # nobody asked for a retry
    assert by_model["logreg"]["status"] == "ok"  # the sweep went on


def test_a_model_that_cannot_take_the_dataset_is_final_not_failed(tmp_path, test_registry):
    result = harness.run(launcher="inline", output=tmp_path, registry=test_registry, models="too_big,logreg", **TINY)
    by_model = {r["config"]["model"]: r for r in result.records}
    assert by_model["too_big"]["status"] == "incompatible" and by_model["logreg"]["status"] == "ok"
    assert by_model["too_big"]["reason"] == "too_big cannot take a 1x8x8 input: it needs 224x224"
    table = result.table()
    assert "incompatible: too_big cannot take a 1x8x8" in table and "failed" not in table
    again = harness.run(launcher="inline", output=tmp_path, registry=test_registry, models="too_big,logreg", **TINY)
    assert again.reused == 2  # final: a resume does not try it again


def test_oom_retry_halves_the_batch_size_as_runs_of_their_own(tmp_path, test_registry):
    common = {"launcher": "inline", "output": tmp_path, "registry": test_registry, "oom_retry": True, **TINY}
    seen, on_event = _events()
    result = harness.run(models="oom[max_batch=20]", on_event=on_event, **common)
    first, second, third = result.records  # 64 and 32 run out of memory, 16 fits
    assert [r["config"]["batch_size"] for r in result.records] == [64, 32, 16]
    assert [r["status"] for r in result.records] == ["oom", "oom", "ok"]
    assert first["reason"].startswith("out of memory at batch size 64: ")
    assert first["reason"].endswith("; retried at batch size 32")
    assert first["retried_as"] == {"key": second["key"], "batch_size": 32}
    assert second["retry_of"] == first["key"] and second["retried_as"] == {"key": third["key"], "batch_size": 16}
    assert third["retry_of"] == second["key"] and "retried_as" not in third
    assert len({r["key"] for r in result.records}) == 3  # each batch size is a config of its own, stored apart
    assert {r["key"]: r for r in Store(tmp_path).load_all()[0]} == {r["key"]: r for r in result.records}
    assert [data["batch_size"] for kind, data in seen if kind == "retry"] == [32, 16]
    assert [data["total"] for kind, data in seen if kind == "start"] == [1, 2, 3]  # the sweep grows as it retries

    # again: nothing trains, not even the cell that ran out of memory at 64 (its retries settled it)
    seen, on_event = _events()
    again = harness.run(models="oom[max_batch=20]", on_event=on_event, **common)
    assert not [kind for kind, _ in seen if kind == "start"]
    assert again.reused == 3 and {r["key"] for r in again.records} == {r["key"] for r in result.records}


def test_oom_retry_stops_at_batch_size_one_and_the_cli_exits_1(tmp_path, capsys):
    args = ["run", "--plugins", str(FIXTURES / "test_models.py"), "--launcher", "inline", "--oom-retry"]
    args += ["-m", "oom[max_batch=0]", "-d", "digits", "-o", "sgd", "--seeds", "1", "--max-epochs", "1"]
    assert main([*args, "--batch-size", "4", "--output", str(tmp_path / "never")]) == 1
    records = sorted(Store(tmp_path / "never").load_all()[0], key=lambda r: -r["config"]["batch_size"])
    assert [(r["config"]["batch_size"], r["status"]) for r in records] == [(4, "oom"), (2, "oom"), (1, "oom")]
    assert "retried_as" not in records[-1] and records[-1]["reason"].startswith("out of memory at batch size 1:")
    err = capsys.readouterr().err
    assert "oom: out of memory at batch size 4: " in err and "retried at batch size 2" in err

    # a retry that fits settles the cell: exit 0, though the first record says oom
    assert main([*args, "-m", "oom[max_batch=40]", "--output", str(tmp_path / "fits")]) == 0
    statuses = sorted(r["status"] for r in Store(tmp_path / "fits").load_all()[0])
    assert statuses == ["ok", "oom"]


# ---------------------------------------------------------------------------
# Divergence
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("model, engine", [("nan", "fabric"), ("ownloop[diverge=true]", "trainer")])
def test_a_diverging_run_stops_after_its_first_epoch(tmp_path, test_registry, model, engine):
    result = harness.run(
        launcher="inline", output=tmp_path, registry=test_registry, models=model, **{**TINY, "max_epochs": 5}
    )
    (record,) = result.records
    results = record["results"]
    assert record["status"] == "diverged" and results["engine"] == engine
    assert record["reason"] == "training loss became non-finite in epoch 0"
    assert results["epochs"] == 1 and results["steps"] == STEPS_PER_EPOCH  # of 5 epochs planned
    assert len(results["val_curve"]) == 1 and math.isnan(results["train_losses"][0])
    assert "test_metric" not in results  # not tested: its weights are NaN


# ---------------------------------------------------------------------------
# A whole sweep SIGKILLed, then run again
# ---------------------------------------------------------------------------


def _sweep_command(output, *extra):
    command = [sys.executable, "-m", "harness.cli", "run", "--plugins", str(FIXTURES / "test_models.py")]
    command += ["-m", "sleepy", "-d", "digits", "-o", "sgd", "--max-epochs", "1", "--output", str(output)]
    return [*command, *extra]


def _group_gone(group: int, timeout: float = 20.0) -> bool:
    """Whether no process of process group ``group`` is left (zombies awaiting their reaper do not count)."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for process in psutil.process_iter(["status"]):
            try:
                if os.getpgid(process.pid) == group and process.info["status"] != psutil.STATUS_ZOMBIE:
                    left.append(process.pid)
            except (ProcessLookupError, psutil.Error):
                pass
        if not left:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)


def test_a_sweep_killed_mid_run_resumes_without_redoing_finished_runs(tmp_path):
    command = _sweep_command(tmp_path, "--seeds", "4")
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while not list(tmp_path.glob("runs/*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the sweep and its worker, with no chance to clean up
        sweep.wait()
    assert _group_gone(sweep.pid)
    written = sorted(tmp_path.glob("runs/*.json"))
    assert 1 <= len(written) < 4
    before = {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in written}
    assert all(json.loads(content)["status"] == "ok" for _, content in before.values())  # whole, valid records

    again = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    _, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert f"4 runs ({4 - len(written)} to train, {len(written)} already done)" in err
    assert err.count(" ... ok") == 4 - len(written)
    assert {path: (path.stat().st_mtime_ns, path.read_bytes()) for path in written} == before  # untouched
    records, problems = Store(tmp_path).load_all()
    assert problems == [] and sorted(r["config"]["seed"] for r in records) == [0, 1, 2, 3]
    assert all(r["status"] == "ok" for r in records)
    assert _group_gone(again.pid)  # its worker exited with it
    assert not list(tmp_path.glob("runs/.*.lock"))  # the claims the killed sweep held went with it


# ---------------------------------------------------------------------------
# Two sweeps writing into one results directory at once
# ---------------------------------------------------------------------------


def test_a_cell_another_sweep_holds_is_collected_when_it_is_done(tmp_path, registry):
    """In-process and deterministic: this test holds a claim as another sweep would, and finishes the cell."""
    store = Store(tmp_path)
    done_elsewhere = {}
    grid = {"models": "logreg", "datasets": "digits", "optimizers": "sgd", "seeds": 3, "max_epochs": 1}
    (first, second, third), _ = expand(resolve_suite(**grid), registry)
    claim = store.claim(second.key())  # "another sweep" is training seed 1
    seen = []

    def on_event(kind, **data):
        seen.append((kind, data))
        if kind == "wait":  # only the held cell is left: the other sweep finishes it and lets go
            record = dict(Store(tmp_path).read(first.key()), key=second.key(), config=second.as_dict())
            done_elsewhere["path"] = store.write(record)
            claim.release()

    result = harness.run(launcher="inline", output=tmp_path, registry=registry, on_event=on_event, **grid)
    started = [data["config"].seed for kind, data in seen if kind == "start"]
    assert started == [0, 2]  # seed 1 was never trained here
    assert [data["config"].seed for kind, data in seen if kind == "held"] == [1]
    assert [data["config"].seed for kind, data in seen if kind == "reused"] == [1]
    assert sorted(r["config"]["seed"] for r in result.records) == [0, 1, 2]
    assert store.read(second.key()) == next(r for r in result.records if r["config"]["seed"] == 1)
    assert not list(tmp_path.glob("runs/.*.lock"))


@pytest.mark.slow
def test_two_sweeps_into_one_directory_train_each_cell_once(tmp_path):
    suites = []
    for name, seeds in (("a", [0, 1, 2, 3, 4]), ("b", [4, 3, 2, 1, 5])):  # four cells in common, met in either order
        suite = tmp_path / f"{name}.toml"
        suite.write_text(f"seeds = {seeds}\n")
        suites.append(suite)
    common = _sweep_command(tmp_path / "shared", "--format", "csv")
    sweeps = [
        subprocess.Popen([*common, str(suite)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for suite in suites
    ]
    outputs = [sweep.communicate(timeout=180) for sweep in sweeps]
    for sweep, (_, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err
    records, problems = Store(tmp_path / "shared").load_all()
    assert problems == [] and sorted(r["config"]["seed"] for r in records) == [0, 1, 2, 3, 4, 5]
    assert all(r["status"] == "ok" for r in records)
    trained = sum(err.count(" ... ok") for _, err in outputs)
    assert trained == 6  # no cell trained by both
    for out, _ in outputs:
        assert len(out.strip().splitlines()) == 1 + 5  # each sweep's table has every one of its cells
    assert not list((tmp_path / "shared").glob("runs/.*"))  # no lock or temporary file left behind


# ---------------------------------------------------------------------------
# Files that are not their cell's record, that cannot be read, or that cannot be written
# ---------------------------------------------------------------------------


def _sweep(root, seeds, **options):
    seen, on_event = _events()
    sweep, pool = Sweep(Store(root), emit=on_event, **options), InstantLauncher()
    sweep.plan(logreg_grid(seeds))
    sweep.run(pool)
    return sweep, pool.trained, seen


def _refuse_to_open(monkeypatch, refused):
    """Open as if ``refused`` belonged to another user (what chmod 000 does, even for root)."""
    real_open = os.open

    def fake_open(path, *args, **kwargs):
        if str(path) == str(refused):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(harness.store.os, "open", fake_open)


def test_a_cell_whose_file_holds_another_cells_record_is_trained_again_and_counted_once(tmp_path):
    first, second = logreg_grid([0, 1])
    _sweep(tmp_path, [0, 1])
    store = Store(tmp_path)
    store.path_for(second.key()).write_bytes(store.path_for(first.key()).read_bytes())  # cp A.json B.json
    sweep, trained, seen = _sweep(tmp_path, [0, 1])
    assert trained == [1] and sweep.reused == 1
    assert [(data["path"], "file name" in data["problem"]) for kind, data in seen if kind == "broken"] == [
        (store.path_for(second.key()), True)
    ]  # told once, though read at planning and again at claiming
    assert sorted(r["config"]["seed"] for r in sweep.records) == [0, 1]
    records, problems = store.load_all()
    assert problems == [] and sorted(r["config"]["seed"] for r in records) == [0, 1]


def test_a_hollow_final_record_is_not_reused(tmp_path):
    (config,) = logreg_grid([0])
    store = Store(tmp_path)
    store.runs.mkdir(parents=True)
    store.path_for(config.key()).write_text(json.dumps({"key": config.key(), "status": "ok", "config": {}}))
    sweep, trained, _ = _sweep(tmp_path, [0])
    assert trained == [0] and sweep.reused == 0 and store.read(config.key())["results"] == {"test_metric": 0.9}


@pytest.mark.parametrize("rerun", [False, True])
def test_a_cell_whose_file_cannot_be_read_is_neither_trained_nor_replaced(tmp_path, monkeypatch, rerun):
    _sweep(tmp_path, [0])
    path = Store(tmp_path).path_for(logreg_grid([0])[0].key())
    before = path.read_bytes()
    _refuse_to_open(monkeypatch, path)
    sweep, trained, seen = _sweep(tmp_path, [0, 1], rerun=rerun)
    assert trained == [1] and sweep.blocked == [str(path)]
    (blocked,) = [data for kind, data in seen if kind == "blocked"]
    assert blocked["path"] == path and "exists but cannot be read (PermissionError" in blocked["reason"]
    monkeypatch.undo()
    assert path.read_bytes() == before


def test_a_file_that_becomes_unreadable_after_planning_blocks_its_cell_too(tmp_path, monkeypatch):
    _sweep(tmp_path, [0], rerun=True)
    path = Store(tmp_path).path_for(logreg_grid([0])[0].key())
    sweep = Sweep(Store(tmp_path), rerun=True)
    sweep.plan(logreg_grid([0, 1]))
    _refuse_to_open(monkeypatch, path)
    pool = InstantLauncher()
    sweep.run(pool)
    assert pool.trained == [1] and sweep.blocked == [str(path)]
    assert not list(tmp_path.glob("runs/.*.lock"))  # its claim was let go


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_a_record_another_user_cannot_read_is_never_overwritten(tmp_path):
    _sweep(tmp_path, [0])
    path = Store(tmp_path).path_for(logreg_grid([0])[0].key())
    path.chmod(0)
    try:
        sweep, trained, _ = _sweep(tmp_path, [0])
        assert trained == [] and sweep.blocked == [str(path)]
    finally:
        path.chmod(0o644)


def test_records_that_cannot_be_written_are_kept_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(harness.sweep, "WRITE_RETRY_S", 0)
    store, attempts, written = Store(tmp_path), [], []
    real_write = Store.write

    def write(self, record):
        attempts.append(record["config"]["seed"])
        if record["config"]["seed"] == 0:
            return real_write(self, record)
        raise PermissionError(13, "Permission denied", str(self.path_for(record["key"])))

    monkeypatch.setattr(Store, "write", write)
    seen, on_event = _events()
    sweep = Sweep(store, emit=on_event, on_record=lambda record, path: written.append(path))
    sweep.plan(logreg_grid([0, 1, 2]))
    sweep.run(InstantLauncher())  # no traceback
    kept = tmp_path / "unsaved-records.jsonl"
    assert attempts == [0, 1, 1, 1, 2, 2, 2]  # each tried again before it is kept elsewhere
    assert sorted(r["config"]["seed"] for r in sweep.records) == [0, 1, 2]  # every run that trained is reported
    assert sweep.unsaved == [str(kept)] * 2 and written[1:] == [kept, kept]
    assert [json.loads(line)["config"]["seed"] for line in kept.read_text().splitlines()] == [1, 2]
    unsaved = [data for kind, data in seen if kind == "unsaved"]
    assert [(d["kept"], d["error"]) for d in unsaved] == [(str(kept), "PermissionError: Permission denied")] * 2
    assert not list(tmp_path.glob("runs/.*.lock"))


def test_when_runs_cannot_be_written_at_all_every_cell_still_trains_and_is_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(harness.sweep, "WRITE_RETRY_S", 0)

    def refuse(self, *args):
        raise PermissionError(13, "Permission denied", str(self.runs))

    monkeypatch.setattr(Store, "claim", refuse)  # no lock file can be made
    monkeypatch.setattr(Store, "write", refuse)  # nor any record written
    sweep, trained, seen = _sweep(tmp_path, [0, 1])
    assert trained == [0, 1] and sweep.blocked == []
    assert sweep.unsaved == [str(tmp_path / "unsaved-records.jsonl")] * 2
    unclaimed = [data for kind, data in seen if kind == "unclaimed"]  # said once, not per cell
    assert [(d["path"], d["error"]) for d in unclaimed] == [(tmp_path / "runs", "PermissionError: Permission denied")]


def test_run_configs_reports_storage_trouble_and_passes_threads_on(tmp_path, monkeypatch):
    asked = {}

    def make_launcher(name, registry, **options):
        asked.update(options)
        return InstantLauncher()

    monkeypatch.setattr(harness.sweep, "make_launcher", make_launcher)
    registry = SimpleNamespace(plugins=SimpleNamespace(pm=SimpleNamespace(hook=SimpleNamespace(
        harness_record_written=SimpleNamespace(get_hookimpls=lambda: [])))))  # fmt: skip
    result = run_configs(logreg_grid([0]), tmp_path, registry=registry, threads=3)
    assert asked["threads"] == 3 and result.storage_ok and result.blocked == result.unsaved == []
    run_configs(logreg_grid([0]), tmp_path, registry=registry)
    assert asked["threads"] is None
    assert not SweepResult(tmp_path, unsaved=["stderr"]).storage_ok
    assert not SweepResult(tmp_path, blocked=["runs/x.json"]).storage_ok


def test_a_failing_record_observer_is_one_line_naming_the_plugin(tmp_path, capsys):
    def broken(record, path):
        raise RuntimeError("tracker down\nsecond line")

    impl = SimpleNamespace(plugin_name="tracker", function=broken)
    registry = SimpleNamespace(plugins=SimpleNamespace(pm=SimpleNamespace(hook=SimpleNamespace(
        harness_record_written=SimpleNamespace(get_hookimpls=lambda: [impl])))))  # fmt: skip
    notify_record_written(registry, {"key": "k"}, tmp_path / "k.json")
    err = capsys.readouterr().err
    assert err.startswith("warning: plugin tracker: harness_record_written failed: RuntimeError: tracker down")
    assert err.count("\n") == 1
