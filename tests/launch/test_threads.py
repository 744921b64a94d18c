"""CPU threads per worker: an explicit count (the option, then OMP_NUM_THREADS) wins over an even share of the cores."""

import pytest
import torch

from harness.config import expand, resolve_suite
from harness.errors import ConfigError
from harness.launch.factory import make_launcher
from harness.launch.machine import Threads, environment_threads, threads_per_worker
from harness.launch.ranks import rank_threads

TINY = {"models": "logreg", "datasets": "digits", "optimizers": "sgd", "seeds": 1, "max_steps": 5}


@pytest.fixture
def no_omp(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)


def test_an_even_share_of_the_cores_without_an_explicit_count(no_omp):
    assert threads_per_worker(2, cores=8) == Threads(4, "cores/workers")
    assert threads_per_worker(3, cores=8) == Threads(2, "cores/workers")
    assert threads_per_worker(4, cores=2) == Threads(1, "cores/workers")  # never below one


def test_omp_num_threads_the_user_set_is_honoured_per_worker(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_worker(1, cores=16) == Threads(1, "OMP_NUM_THREADS")
    assert threads_per_worker(4, cores=16) == Threads(1, "OMP_NUM_THREADS")


def test_the_option_wins_over_omp_num_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads_per_worker(2, threads=3, cores=16) == Threads(3, "option")


@pytest.mark.parametrize("value", ["", "0", "-1", "two", "4,2", "1.5"])
def test_an_omp_num_threads_that_is_no_positive_count_is_ignored(monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    assert environment_threads() is None
    assert threads_per_worker(2, cores=8) == Threads(4, "cores/workers")


def test_ranks_split_a_share_of_the_cores_but_keep_a_count_the_user_gave(no_omp):
    assert rank_threads(Threads(8, "cores/workers"), 2) == Threads(4, "cores/workers")
    assert rank_threads(Threads(1, "cores/workers"), 4) == Threads(1, "cores/workers")
    assert rank_threads(Threads(3, "option"), 2) == Threads(3, "option")
    assert rank_threads(Threads(2, "OMP_NUM_THREADS"), 2) == Threads(2, "OMP_NUM_THREADS")


@pytest.mark.parametrize("threads", [0, -1, True, 1.5, "2"])
def test_threads_below_one_or_not_whole_are_config_errors(registry, threads):
    with pytest.raises(ConfigError, match="threads must be a whole number of at least 1"):
        make_launcher("local", registry, threads=threads)


def _runs(registry):
    runs, _ = expand(resolve_suite(**TINY), registry)
    return runs


def _record(registry, launcher: str, **options) -> dict:
    runs = _runs(registry)
    ((_, record),) = list(make_launcher(launcher, registry, runs=runs, **options).map(runs))
    assert record["status"] == "ok", record["reason"]
    return record


def test_a_pool_worker_trains_with_the_omp_num_threads_the_user_set(monkeypatch, registry):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    provenance = _record(registry, "local", jobs=1)["provenance"]
    assert (provenance["threads"], provenance["threads_from"]) == (1, "OMP_NUM_THREADS")


def test_a_pool_worker_trains_with_the_threads_option(no_omp, registry):
    record = _record(registry, "local", jobs=1, threads=1)
    provenance = record["provenance"]
    assert (provenance["threads"], provenance["threads_from"]) == (1, "option")
    assert record["results"]["timing"]["threads"] == 1
    assert provenance["device"].endswith("(1 threads)")


def test_a_pool_without_an_explicit_count_records_its_share_of_the_cores(no_omp, registry):
    provenance = _record(registry, "local", jobs=1)["provenance"]
    assert (provenance["threads"], provenance["threads_from"]) == (threads_per_worker(1).count, "cores/workers")


def test_inline_runs_use_the_option_and_give_the_caller_its_threads_back(no_omp, registry):
    before = torch.get_num_threads()
    provenance = _record(registry, "inline", threads=1)["provenance"]
    assert (provenance["threads"], provenance["threads_from"]) == (1, "option")
    assert torch.get_num_threads() == before
