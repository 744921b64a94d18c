"""The inline launcher: every run in the calling process, one after another. Simplest, and easiest to debug."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from harness.launch.machine import threads_per_worker


class InlineLauncher:
    """A :class:`~harness.launch.base.Launcher` that trains each run here, as it is handed over.

    Each run trains with :func:`~harness.launch.machine.threads_per_worker` CPU
    threads (``threads``, else ``OMP_NUM_THREADS``, else every core); the
    caller's own thread count is restored after each run.
    """

    name = "inline"

    def __init__(self, registry, suite: str | None = None, threads: int | None = None):
        self.registry = registry
        self.suite = suite
        self.threads = threads

    def size(self, runs: int) -> int:
        """How many runs train at the same time."""
        return 1

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        from harness.launch.ranks import execute  # Lightning is imported only when something trains
        from harness.train.devices import cpu_threads

        threads = threads_per_worker(1, self.threads)
        for config in runs:
            if on_start is not None:
                on_start(config)
            with cpu_threads(threads.count):  # not around the yield: the caller's code keeps its own count
                record = execute(config, self.registry, suite=self.suite, threads=threads)
            yield config, record
