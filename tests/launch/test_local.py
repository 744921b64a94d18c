"""The local worker pool: runs train in persistent workers, a dead worker gives a crashed record, none linger."""

import json
import os
import re
import subprocess
import sys
import time

import psutil
import pytest

import harness
from harness.api import load_registry
from harness.cli import main
from harness.errors import ConfigError, LaunchError
from harness.launch.children import death
from harness.launch.machine import default_jobs, threads_per_worker, visible_gpus
from harness.store import Store
from tests import FIXTURES
from tests.plugin_factory import write_plugin

TINY = {"datasets": "digits", "optimizers": "sgd", "seeds": 1, "max_epochs": 1}


def _workers() -> list[psutil.Process]:
    """This process's worker children (multiprocessing's resource tracker is not one)."""
    return [child for child in psutil.Process().children() if "spawn_main" in " ".join(_cmdline(child))]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def _status(pid: int) -> str | None:
    try:
        return psutil.Process(pid).status()
    except psutil.NoSuchProcess:
        return None


def _gone(pids, timeout: float = 20.0) -> bool:
    """Whether every process in ``pids`` ends in time (a zombie awaiting its reaper has ended)."""
    deadline = time.monotonic() + timeout
    while any(_status(pid) not in (None, psutil.STATUS_ZOMBIE) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.fixture(scope="module")
def pooled(tmp_path_factory, test_registry):
    """Four tiny runs through two workers, as `harness run -j 2` does, on a machine that shows two GPUs.

    ``envprobe`` runs fail on purpose, naming the thread count and GPU their worker was started with;
    they come first in the grid, so each worker gets one of them.
    """
    out = tmp_path_factory.mktemp("pooled")
    outside = {name: os.environ.get(name) for name in ("OMP_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
    os.environ["CUDA_VISIBLE_DEVICES"] = "7,9"  # not real devices: torch sees none, so the runs stay on the CPU
    try:
        result = harness.run(
            output=out, registry=test_registry, models="envprobe,logreg", jobs=2, **{**TINY, "seeds": 2}
        )
    finally:
        os.environ.pop("CUDA_VISIBLE_DEVICES")
        if outside["CUDA_VISIBLE_DEVICES"] is not None:
            os.environ["CUDA_VISIBLE_DEVICES"] = outside["CUDA_VISIBLE_DEVICES"]
    assert {name: os.environ.get(name) for name in outside} == outside  # the parent's own environment is untouched
    return out, result


def test_runs_train_in_two_worker_processes_that_are_reused(pooled):
    out, result = pooled
    assert sorted((r["config"]["model"], r["status"]) for r in result.records) == [
        ("envprobe", "failed"),
        ("envprobe", "failed"),
        ("logreg", "ok"),
        ("logreg", "ok"),
    ]
    pids = [r["provenance"]["pid"] for r in result.records]
    assert os.getpid() not in pids
    assert len(set(pids)) == 2  # two workers for four runs: each trained more than one
    store = Store(out)
    assert all(store.read(r["key"]) == r for r in result.records)  # stored as they came back


def test_cpu_threads_are_split_across_workers(pooled):
    _, result = pooled
    threads, source = threads_per_worker(2)  # an even share of the cores, unless the user set OMP_NUM_THREADS
    assert {r["provenance"]["threads"] for r in result.records} == {threads}
    assert {r["provenance"]["threads_from"] for r in result.records} == {source}
    assert all(r["provenance"]["device"].endswith(f"({threads} threads)") for r in result.records)
    probes = [r["reason"] for r in result.records if r["config"]["model"] == "envprobe"]
    assert all(f"OMP_NUM_THREADS={threads} " in reason for reason in probes)  # set before torch was imported


def test_each_worker_sees_one_gpu_of_its_own(pooled):
    _, result = pooled
    gpu_of = {}  # worker pid -> the CUDA_VISIBLE_DEVICES it was started with
    for record in result.records:
        if record["config"]["model"] == "envprobe":
            seen = re.search(r"CUDA_VISIBLE_DEVICES=(\S+)", record["reason"]).group(1)
            assert gpu_of.setdefault(record["provenance"]["pid"], seen) == seen
    assert sorted(gpu_of.values()) == ["7", "9"]  # two workers, one GPU each


def test_no_worker_outlives_the_sweep(pooled):
    _, result = pooled
    assert _workers() == []
    assert _gone({r["provenance"]["pid"] for r in result.records}, timeout=0.5)


def test_a_workers_record_has_the_shape_of_an_inline_one(pooled, registry, tmp_path):
    _, result = pooled
    pooled_record = next(r for r in result.records if r["config"]["model"] == "logreg" and r["config"]["seed"] == 0)
    (inline,) = harness.run(launcher="inline", output=tmp_path, registry=registry, models="logreg", **TINY).records
    assert inline["provenance"]["pid"] == os.getpid()
    assert inline["key"] == pooled_record["key"] and inline["config"] == pooled_record["config"]
    for part in (None, "results", "provenance"):
        mine, theirs = (r if part is None else r[part] for r in (pooled_record, inline))
        assert set(mine) == set(theirs), part
    assert json.loads(json.dumps(pooled_record)) == pooled_record  # plain JSON data, like the runner's


def test_a_worker_killed_mid_run_gives_a_crashed_record_and_the_sweep_goes_on(tmp_path, test_registry):
    marker = tmp_path / "killed-once"  # its first build dies; a retry trains
    models = f"killed[marker={marker}],logreg"
    out = tmp_path / "results"
    first = harness.run(output=out, registry=test_registry, models=models, jobs=2, **TINY)
    by_model = {r["config"]["model"]: r for r in first.records}
    killed, fine = by_model["killed"], by_model["logreg"]

    assert fine["status"] == "ok"
    assert killed["status"] == "crashed"
    assert killed["reason"] == "worker process died (signal SIGKILL) while running this cell"
    assert set(killed) == {"schema", "key", "suite", "status", "reason", "traceback", "config", "results", "provenance"}
    assert killed["traceback"] is None and killed["results"] == {} and killed["suite"] == fine["suite"]
    assert killed["provenance"]["device"] == fine["provenance"]["device"]  # the same cell as its siblings in tables
    assert {"pid", "threads", "accelerator", "started_at", "finished_at", "torch", "plugins", "seed"} <= set(
        killed["provenance"]
    )
    assert killed["provenance"]["pid"] not in (fine["provenance"]["pid"], os.getpid())
    assert Store(out).read(killed["key"]) == killed
    assert "crashed: worker process died (signal SIGKILL)" in first.table()  # shown, not hidden
    assert _workers() == []

    # crashed is not final: the same sweep again retries the crashed cell (which now trains), not the finished one
    second = harness.run(output=out, registry=test_registry, models=models, jobs=2, **TINY)
    assert second.reused == 1
    again = {r["config"]["model"]: r for r in second.records}
    assert again["killed"]["status"] == "ok" and again["killed"]["key"] == killed["key"]
    assert again["logreg"] == fine


@pytest.mark.parametrize(
    "listed, expected",
    [("0,1,2", ["0", "1", "2"]), ("GPU-a1,GPU-b2", ["GPU-a1", "GPU-b2"]), ("1,-1,2", ["1"]), ("", []), ("3", ["3"])],
)
def test_gpus_to_pin_workers_to_follow_cuda_visible_devices(monkeypatch, listed, expected):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", listed)
    assert visible_gpus() == expected
    assert default_jobs() == max(1, len(expected))  # one worker per GPU when there are several, else one


@pytest.mark.parametrize("exitcode, how", [(-9, "signal SIGKILL"), (-11, "signal SIGSEGV"), (3, "exit code 3")])
def test_a_dead_worker_is_described_by_its_signal_or_exit_code(exitcode, how):
    assert death(exitcode) == how


def test_a_worker_that_cannot_rebuild_the_registry_is_a_launch_error(tmp_path):
    plugin = write_plugin(tmp_path, "vanishing", models=["ghost"])
    registry = load_registry(plugins=[plugin])
    plugin.unlink()  # the worker loads plugins from the same paths, and this one is gone
    with pytest.raises(LaunchError, match=r"could not start: .*vanishing.py does not exist"):
        harness.run(output=tmp_path / "r", registry=registry, models="logreg", **TINY)
    assert _workers() == []


def test_plugins_a_worker_cannot_load_are_named(tmp_path, test_registry):
    from harness.manager import Plugins
    from harness.registry import Registry

    plugins = test_registry.plugins
    registry = Registry(Plugins(plugins.pm, plugins.infos))  # built by hand: no origin to rebuild test_models from
    with pytest.raises(LaunchError, match="plugins test_models are available here but not in a worker"):
        harness.run(output=tmp_path, registry=registry, models="logreg", **TINY)
    assert _workers() == []


def test_an_interrupted_sweep_stops_its_workers_and_keeps_what_finished(tmp_path, registry):
    def on_event(kind, **data):
        if kind == "done":  # Ctrl-C as the first record comes back: the pool is closed at once
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        harness.run(output=tmp_path, registry=registry, models="logreg", on_event=on_event, **{**TINY, "seeds": 3})
    assert _workers() == []
    assert len(Store(tmp_path).load_all()[0]) == 1  # stored before anyone was told


def test_unknown_launcher_and_bad_jobs_are_config_errors(tmp_path, registry):
    with pytest.raises(ConfigError, match="unknown launcher 'slurm'; allowed: inline, local, ray"):
        harness.run(output=tmp_path, registry=registry, models="logreg", launcher="slurm", **TINY)
    with pytest.raises(ConfigError, match="jobs"):
        harness.run(output=tmp_path, registry=registry, models="logreg", jobs=0, **TINY)
    with pytest.raises(ConfigError, match="one run at a time"):
        harness.run(output=tmp_path, registry=registry, models="logreg", launcher="inline", jobs=2, **TINY)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_cli_jobs_below_one_exits_2(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "-m", "logreg", "-j", value])
    assert exit_info.value.code == 2
    assert "-j/--jobs: expected a number of workers of at least 1" in capsys.readouterr().err


def test_workers_exit_when_the_sweep_is_killed(tmp_path):
    command = [sys.executable, "-m", "harness.cli", "run", "--plugins", str(FIXTURES / "test_models.py")]
    command += ["-m", "sleepy[fast=0.5]", "-d", "digits", "-o", "sgd", "--seeds", "2", "-j", "2"]
    command += ["--max-epochs", "1", "--output", str(tmp_path)]
    sweep = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers = []
        while len(workers) < 2 and time.monotonic() < deadline:
            workers = [c for c in psutil.Process(sweep.pid).children() if "spawn_main" in " ".join(_cmdline(c))]
            time.sleep(0.1)
        assert len(workers) == 2
        time.sleep(1.0)  # let them get going
    finally:
        sweep.kill()  # no chance to clean up: the workers must notice on their own
        sweep.wait()
    assert _gone([w.pid for w in workers])
