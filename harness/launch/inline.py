"""The inline launcher: every run in the calling process, one after another. Simplest, and easiest to debug."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class InlineLauncher:
    """A :class:`~harness.launch.base.Launcher` that trains each run here, as it is handed over."""

    name = "inline"

    def __init__(self, registry, suite: str | None = None):
        self.registry = registry
        self.suite = suite

    def size(self, runs: int) -> int:
        """How many runs train at the same time."""
        return 1

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        from harness.launch.ranks import execute  # Lightning is imported only when something trains

        for config in runs:
            if on_start is not None:
                on_start(config)
            yield config, execute(config, self.registry, suite=self.suite)
