"""Whether a run's timing can be trusted: what else the machine was doing while it trained.

A benchmark must notice when its own numbers are not worth comparing (pyperf
warns about unstable results). Around the timed training window the runner
reads the 1-minute load average, the CPU time the process got against the
wall time, how long its threads waited for a core while ready to run, and the
spread of the measured step times, and records them as ``results["timing"]``::

    {"load_start": 0.4, "load_end": 1.1, "cores": 2, "threads": 2, "cpu_time_s": 3.9,
     "wall_time_s": 2.0, "cpu_share": 0.97, "run_queue_wait": 0.02, "step_time_cv": 0.12, "disturbed": []}

``cores`` are the cores this process may use (its affinity); ``cpu_share`` is
``cpu_time_s / (wall_time_s * threads)``, how much of its threads' time the
process really got (None off the CPU, where the CPU mostly waits for the
device); ``run_queue_wait`` is the share of the time its threads were ready
to run that they spent waiting for a core (the kernel's per-thread
``schedstat``; None where there is none); ``step_time_cv`` is the standard
deviation over the mean of the post-warm-up step times (None with fewer than
two). ``disturbed`` lists why the timing is not to be trusted, empty when clean:

* on CPU runs, a load average at the start or end above the cores available
  (:data:`LOAD_PER_CORE` per core): other work competed for them, e.g.
  ``"load 3.2 > 2 cores"``;
* a step-time CV above :data:`STEP_TIME_CV_LIMIT`: steps that should take
  the same time did not, e.g. ``"step-time CV 0.8 > 0.5"``;
* on CPU runs, a run-queue wait above :data:`RUN_QUEUE_WAIT_LIMIT`: its
  threads were ready but other work held the cores, e.g.
  ``"waited for a core 40% of its ready time"``.

``cpu_share`` is recorded, not judged: a run that sleeps, leaves threads idle
(small tensors use one) or waits on DataLoader processes has a low share
without any contention; the run-queue wait counts only time it wanted a core.
"""

from __future__ import annotations

import os
import statistics
from time import perf_counter, process_time

from harness.provenance import cpu_cores

#: A CPU run whose 1-minute load average exceeds this many per core it may use is marked disturbed.
LOAD_PER_CORE = 1.0
#: A run whose measured step times have a coefficient of variation (stdev / mean) above this is marked disturbed.
STEP_TIME_CV_LIMIT = 0.5
#: A CPU run whose threads spent more than this share of their ready time waiting for a core is marked disturbed.
RUN_QUEUE_WAIT_LIMIT = 0.25


def load_average() -> float | None:
    """The 1-minute load average, or None where the system has none (Windows)."""
    try:
        return float(os.getloadavg()[0])
    except (AttributeError, OSError):
        return None


def step_time_cv(step_times) -> float | None:
    """Standard deviation over mean of ``step_times``; None with fewer than two or a zero mean."""
    times = list(step_times)
    if len(times) < 2:
        return None
    mean = statistics.fmean(times)
    return statistics.stdev(times) / mean if mean > 0 else None


def _shown(value: float) -> str:
    return f"{round(value, 2):g}"


def disturbances(timing: dict, on_cpu: bool) -> list[str]:
    """Why ``timing`` (the record's shape, without ``disturbed``) cannot be trusted; empty when it can."""
    reasons = []
    cores = timing["cores"]
    loads = [load for load in (timing["load_start"], timing["load_end"]) if load is not None]
    if on_cpu and loads and max(loads) > cores * LOAD_PER_CORE:
        reasons.append(f"load {_shown(max(loads))} > {cores} core{'s' if cores != 1 else ''}")
    cv = timing["step_time_cv"]
    if cv is not None and cv > STEP_TIME_CV_LIMIT:
        reasons.append(f"step-time CV {_shown(cv)} > {_shown(STEP_TIME_CV_LIMIT)}")
    wait = timing.get("run_queue_wait")
    if on_cpu and wait is not None and wait > RUN_QUEUE_WAIT_LIMIT:
        reasons.append(f"waited for a core {wait:.0%} of its ready time")
    return reasons


def scheduler_times() -> tuple[int, int] | None:
    """(ns on a core, ns waiting for one while ready) summed over this process's threads; None without schedstat."""
    ran = waited = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/schedstat") as handle:
                fields = handle.read().split()
        except OSError:  # the thread ended meanwhile
            continue
        ran, waited = ran + int(fields[0]), waited + int(fields[1])
    return (ran, waited) if ran or waited else None


def _wait_share(start: tuple[int, int] | None, end: tuple[int, int] | None) -> float | None:
    if start is None or end is None:
        return None
    ran, waited = end[0] - start[0], end[1] - start[1]
    return waited / (ran + waited) if ran > 0 and waited >= 0 else None


class TimingWatch:
    """Reads the machine around a run's timed window: :meth:`start` before training, :meth:`stop` after."""

    def __init__(self, device_type: str, threads: int):
        self.on_cpu = device_type == "cpu"
        self.threads = max(1, threads)
        self._load_start: float | None = None
        self._cpu_start = 0.0
        self._wall_start = 0.0
        self._scheduler_start: tuple[int, int] | None = None

    def start(self) -> None:
        self._load_start = load_average()
        self._scheduler_start = scheduler_times()
        self._cpu_start = process_time()
        self._wall_start = perf_counter()

    def stop(self, step_times) -> dict:
        """The record's ``timing``, given the measured (post-warm-up) step times."""
        wall = perf_counter() - self._wall_start
        cpu = process_time() - self._cpu_start
        timing = {
            "load_start": self._load_start,
            "load_end": load_average(),
            "cores": cpu_cores(),
            "threads": self.threads,
            "cpu_time_s": cpu,
            "wall_time_s": wall,
            "cpu_share": cpu / (wall * self.threads) if self.on_cpu and wall > 0 else None,
            "run_queue_wait": _wait_share(self._scheduler_start, scheduler_times()),
            "step_time_cv": step_time_cv(step_times),
        }
        timing["disturbed"] = disturbances(timing, self.on_cpu)
        return timing


__all__ = ["TimingWatch", "disturbances", "load_average", "scheduler_times", "step_time_cv"]
