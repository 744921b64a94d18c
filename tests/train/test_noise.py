"""Timing trust: load, CPU share, run-queue wait and step-time spread are recorded, and a disturbed run says why."""

import pytest

from harness.train import noise
from harness.train.noise import TimingWatch, disturbances, step_time_cv

STEADY = [0.010, 0.011, 0.010, 0.009, 0.010]


def _timing(**changes) -> dict:
    clean = {
        "load_start": 0.5,
        "load_end": 0.7,
        "cores": 2,
        "threads": 2,
        "cpu_time_s": 3.8,
        "wall_time_s": 2.0,
        "cpu_share": 0.95,
        "run_queue_wait": 0.02,
        "step_time_cv": 0.1,
    }
    return {**clean, **changes}


@pytest.fixture
def machine(monkeypatch):
    """Two cores, and clocks and a load average the test sets: ``machine(loads, cpu=..., wall=...)``."""
    state = {"loads": iter(()), "cpu": iter(()), "wall": iter(())}
    monkeypatch.setattr(noise, "cpu_cores", lambda: 2)
    monkeypatch.setattr(noise.os, "getloadavg", lambda: (next(state["loads"]), 0.0, 0.0))
    monkeypatch.setattr(noise, "process_time", lambda: next(state["cpu"]))
    monkeypatch.setattr(noise, "perf_counter", lambda: next(state["wall"]))
    monkeypatch.setattr(noise, "scheduler_times", lambda: next(state["scheduler"]))

    def set_up(loads=(0.3, 0.6), cpu=(10.0, 13.8), wall=(100.0, 102.0), scheduler=((0, 0), (3_800, 80))):
        state.update(loads=iter(loads), cpu=iter(cpu), wall=iter(wall), scheduler=iter(scheduler))

    return set_up


def _watch(step_times, device="cpu", threads=2) -> dict:
    watch = TimingWatch(device, threads)
    watch.start()
    return watch.stop(step_times)


def test_a_quiet_run_is_clean(machine):
    machine()
    timing = _watch(STEADY)
    assert set(timing) == {*_timing(), "disturbed"}
    assert (timing["load_start"], timing["load_end"], timing["cores"], timing["threads"]) == (0.3, 0.6, 2, 2)
    assert timing["cpu_time_s"] == pytest.approx(3.8) and timing["wall_time_s"] == pytest.approx(2.0)
    assert timing["cpu_share"] == pytest.approx(0.95)  # 3.8 s of CPU in 2 s on 2 threads
    assert 0 < timing["step_time_cv"] < 0.5
    assert timing["disturbed"] == []


def test_a_run_whose_threads_waited_for_cores_says_so(machine):
    machine(cpu=(10.0, 11.24), scheduler=((1_000, 500), (2_240, 1_500)))  # ran 1.24, waited 1.0 while ready
    timing = _watch(STEADY)
    assert timing["cpu_share"] == pytest.approx(0.31)
    assert timing["run_queue_wait"] == pytest.approx(1_000 / 2_240)
    assert timing["disturbed"] == ["waited for a core 45% of its ready time"]


def test_a_run_that_idles_without_contention_is_not_marked(machine):
    # one busy thread of two, or a run that sleeps: a low CPU share, but it never waited for a core
    machine(cpu=(10.0, 11.0), scheduler=((0, 0), (1_000, 10)))
    timing = _watch(STEADY)
    assert timing["cpu_share"] == pytest.approx(0.25)
    assert timing["disturbed"] == []


def test_the_scheduler_times_of_this_process_are_read():
    times = noise.scheduler_times()
    if times is None:
        pytest.skip("no /proc/self/task/*/schedstat here")
    busy = sum(range(200_000))
    later = noise.scheduler_times()
    assert busy and later[0] > times[0] >= 0 and later[1] >= times[1] >= 0


def test_load_above_the_cores_marks_a_cpu_run(machine):
    machine(loads=(0.5, 3.2))
    assert "load 3.2 > 2 cores" in _watch(STEADY)["disturbed"]


def test_load_and_share_are_not_judged_off_the_cpu(machine):
    machine(loads=(5.0, 5.0), cpu=(10.0, 10.1))
    timing = _watch(STEADY, device="cuda")
    assert timing["cpu_share"] is None
    assert timing["disturbed"] == []


def test_no_load_average_is_none_and_not_judged(machine, monkeypatch):
    def unavailable():
        raise OSError("no load average here")

    machine()
    monkeypatch.setattr(noise.os, "getloadavg", unavailable)
    timing = _watch(STEADY)
    assert timing["load_start"] is None and timing["load_end"] is None
    assert timing["disturbed"] == []


def test_uneven_step_times_mark_a_run_on_any_device(machine):
    machine()
    timing = _watch([0.01, 0.01, 0.01, 0.05], device="cuda")
    assert timing["step_time_cv"] == pytest.approx(1.0)  # stdev 0.02 over mean 0.02
    assert timing["disturbed"] == ["step-time CV 1 > 0.5"]


def test_waiting_for_cores_marks_a_cpu_run_and_a_small_cpu_share_alone_does_not():
    assert disturbances(_timing(run_queue_wait=0.4), on_cpu=True) == ["waited for a core 40% of its ready time"]
    assert disturbances(_timing(run_queue_wait=0.4), on_cpu=False) == []
    assert disturbances(_timing(cpu_share=0.2), on_cpu=True) == []
    assert disturbances(_timing(run_queue_wait=None), on_cpu=True) == []


def test_every_reason_is_listed_and_one_core_reads_as_one():
    reasons = disturbances(_timing(cores=1, load_start=1.5, run_queue_wait=0.3, step_time_cv=1.25), on_cpu=True)
    assert reasons == ["load 1.5 > 1 core", "step-time CV 1.25 > 0.5", "waited for a core 30% of its ready time"]
    assert disturbances(_timing(), on_cpu=True) == []


@pytest.mark.parametrize("times, expected", [([], None), ([0.1], None), ([0.0, 0.0], None), ([1.0, 1.0], 0.0)])
def test_step_time_cv_needs_two_steps_and_time(times, expected):
    assert step_time_cv(times) == expected
