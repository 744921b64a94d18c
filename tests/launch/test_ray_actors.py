"""The Ray launcher: runs train in Ray actors, their records are the inline ones, a dead actor gives a crashed
record, a missing ray says how to install it, and nothing Ray started outlives the sweep."""

import os
import shutil
import sys
import tempfile
import time

import psutil
import pytest

import harness
from harness.api import resolve_suite
from harness.cli import main
from harness.config import expand
from harness.errors import ConfigError, LaunchError
from harness.store import Store

TINY = {"datasets": "digits", "optimizers": "sgd", "max_epochs": 1}


def _ray_processes() -> list[psutil.Process]:
    """Ray's daemons and actors started from this process (a local instance's are all its descendants)."""
    found = []
    for child in psutil.Process().children(recursive=True):
        try:
            name = child.name()
            if child.status() != psutil.STATUS_ZOMBIE and ("ray" in name or name == "gcs_server"):
                found.append(child)
        except psutil.Error:
            pass
    return found


def _actors() -> list[psutil.Process]:
    """The harness's actors: Ray names their processes after the class."""
    found = []
    for process in _ray_processes():
        try:
            if "_Trainer" in process.name():
                found.append(process)
        except psutil.Error:  # it ended since it was listed: exactly what the callers wait for
            pass
    return found


def _until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture(scope="module")
def ray_temp():
    """Ray's temporary files in a short-lived folder of their own (short: Ray's socket paths have a length limit)."""
    pytest.importorskip("ray", reason="the ray launcher's tests need ray: pip install harness[ray]")
    folder = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_AUTH_MODE", "disabled")
        patch.setenv("RAY_TMPDIR", folder)
        patch.delenv("RAY_ADDRESS", raising=False)
        yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def swept(ray_temp, test_registry, tmp_path_factory):
    """Four tiny runs on two actors of a Ray instance the launcher starts itself: `harness run --launcher ray -j 2`."""
    import ray

    out = tmp_path_factory.mktemp("ray-results")
    result = harness.run(
        output=out, registry=test_registry, launcher="ray", jobs=2, models="logreg,mlp", seeds=2, **TINY
    )
    sessions = [name for name in os.listdir(os.path.join(ray_temp, "ray")) if name.startswith("session_")]
    return out, result, sessions, ray.is_initialized()


@pytest.fixture(scope="module")
def cluster(ray_temp, swept):
    """One Ray instance for the rest of the module, opened by the caller (the launcher uses it and leaves it open).

    After ``swept``, whose launcher must find no Ray running, whatever order the tests run in.
    """
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
    assert _until(lambda: not _ray_processes()), [p.name() for p in _ray_processes()]


def test_ray_actors_write_the_records_an_inline_sweep_writes(swept, test_registry, tmp_path):
    out, result, _, _ = swept
    assert [r["status"] for r in result.records] == ["ok"] * 4
    pids = {r["provenance"]["pid"] for r in result.records}
    # two actors pull runs as they come free: on a loaded machine the first one ready may train all four tiny runs
    # before the second has imported torch, so one or two actors, never the driver
    assert os.getpid() not in pids and len(pids) in (1, 2)
    assert all(Store(out).read(r["key"]) == r for r in result.records)  # the driver stored them
    runs, _ = expand(resolve_suite(models="logreg,mlp", seeds=2, **TINY), test_registry)
    assert sorted(r["key"] for r in result.records) == sorted(config.key() for config in runs)

    (inline,) = harness.run(
        output=tmp_path, registry=test_registry, launcher="inline", models="mlp", seeds=1, **TINY
    ).records
    (twin,) = [r for r in result.records if r["key"] == inline["key"]]
    assert twin["config"] == inline["config"]
    for part in (None, "results", "provenance"):
        mine, theirs = (r if part is None else r[part] for r in (twin, inline))
        assert set(mine) == set(theirs), part
    assert twin["results"]["test_metric"] == pytest.approx(inline["results"]["test_metric"], abs=0.02)


def test_threads_are_split_across_actors_as_in_the_local_pool(swept):
    _, result, _, _ = swept
    assert {r["provenance"]["threads"] for r in result.records} == {1}  # two actors on two CPUs


def test_a_ray_instance_the_launcher_started_is_gone_after_the_sweep(swept, ray_temp):
    _, _, sessions, connected = swept
    assert not connected
    assert _until(lambda: not _ray_processes()), [p.name() for p in _ray_processes()]
    assert sessions  # its files went to the folder RAY_TMPDIR names, which the fixture removes


def test_an_actor_killed_mid_run_gives_a_crashed_record_and_a_replacement_trains_the_rest(
    cluster, tmp_path, test_registry
):
    marker = tmp_path / "killed-once"  # its first build dies; a retry would train
    out = tmp_path / "results"
    models = f"killed[marker={marker}],logreg"  # in this order, through one actor: the second run needs a new one
    result = harness.run(output=out, registry=test_registry, launcher="ray", jobs=1, models=models, seeds=1, **TINY)
    by_model = {r["config"]["model"]: r for r in result.records}
    killed, fine = by_model["killed"], by_model["logreg"]

    assert fine["status"] == "ok"
    assert killed["status"] == "crashed"
    assert killed["reason"].startswith("Ray actor died while running this cell (")
    assert set(killed) == set(fine) - {"task", "metric", "metric_mode", "synthetic", "descriptions"}
    assert killed["provenance"]["device"] == fine["provenance"]["device"]
    assert killed["provenance"]["pid"] not in (fine["provenance"]["pid"], os.getpid())
    assert Store(out).read(killed["key"]) == killed
    assert "crashed: Ray actor died while running this cell" in result.table()
    assert cluster.is_initialized()  # the caller's connection stays open
    assert _until(lambda: not _actors())  # but the sweep's actors are gone


def test_plugins_an_actor_cannot_load_are_a_launch_error(cluster, tmp_path, test_registry):
    from harness.manager import Plugins
    from harness.registry import Registry

    plugins = test_registry.plugins
    registry = Registry(Plugins(plugins.pm, plugins.infos))  # built by hand: no origin to rebuild test_models from
    with pytest.raises(LaunchError, match="plugins test_models are available here but not in a Ray actor"):
        harness.run(output=tmp_path, registry=registry, launcher="ray", models="logreg", seeds=1, **TINY)
    assert _until(lambda: not _actors())


def test_the_thread_option_and_omp_num_threads_reach_the_actors(cluster, tmp_path, registry, monkeypatch):
    result = harness.run(output=tmp_path / "a", registry=registry, launcher="ray", models="logreg", seeds=1,
                         threads=1, **TINY)  # fmt: skip
    assert [(r["provenance"]["threads"], r["provenance"]["threads_from"]) for r in result.records] == [(1, "option")]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the driver's environment: one actor would get both CPUs otherwise
    result = harness.run(output=tmp_path / "b", registry=registry, launcher="ray", models="logreg", seeds=1, **TINY)
    assert [(r["provenance"]["threads"], r["provenance"]["threads_from"]) for r in result.records] == [
        (1, "OMP_NUM_THREADS")
    ]


def test_an_interrupted_sweep_stops_its_actors_and_keeps_what_finished(cluster, tmp_path, registry):
    def on_event(kind, **data):
        if kind == "done":  # Ctrl-C as the first record comes back: the launcher is closed at once
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        harness.run(
            output=tmp_path, registry=registry, launcher="ray", models="logreg", seeds=3, on_event=on_event, **TINY
        )
    assert _until(lambda: not _actors())
    assert len(Store(tmp_path).load_all()[0]) == 1  # stored before anyone was told


def test_without_ray_the_launcher_says_how_to_install_it(monkeypatch, tmp_path, registry, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(LaunchError, match=r"the ray launcher needs `pip install harness\[ray\]`"):
        harness.run(output=tmp_path, registry=registry, launcher="ray", models="logreg", seeds=1, **TINY)
    assert main(["run", "-m", "logreg", "-d", "digits", "--launcher", "ray", "--output", str(tmp_path)]) == 2
    assert "the ray launcher needs `pip install harness[ray]`" in capsys.readouterr().err


def test_a_cluster_that_cannot_be_reached_is_a_launch_error(ray_temp, monkeypatch, tmp_path, registry):
    import ray

    def unreachable(*args, **kwargs):  # what ray.init raises when no cluster runs at the address
        raise ConnectionError("Could not find any running Ray instance.\nPlease specify the one to connect to.")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)  # whatever connection this process holds
    monkeypatch.setattr(ray, "init", unreachable)
    with pytest.raises(
        LaunchError, match=r"^could not start or reach the Ray cluster at auto: Could not find any .*\.$"
    ):
        harness.run(output=tmp_path, registry=registry, launcher="ray", address="auto", models="logreg", **TINY)


def test_an_address_needs_the_ray_launcher(tmp_path, registry, capsys):
    with pytest.raises(ConfigError, match="an address names a Ray cluster: it needs the ray launcher"):
        harness.run(output=tmp_path, registry=registry, launcher="local", address="auto", models="logreg", **TINY)
    assert main(["run", "-m", "logreg", "-d", "digits", "--address", "auto", "--output", str(tmp_path)]) == 2
    assert "it needs the ray launcher, not the local one" in capsys.readouterr().err
