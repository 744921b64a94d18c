"""Where runs execute. Today: in this process, one after another.

A launcher takes run configs and yields ``(config, record)`` as each run
finishes; the caller stores records as they arrive, so an interrupted sweep
keeps everything that finished.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


class InlineLauncher:
    """Runs every cell in the calling process: simplest, and easiest to debug."""

    name = "inline"

    def __init__(self, registry, suite: str | None = None):
        self.registry = registry
        self.suite = suite

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        from harness.runner import execute  # Lightning is imported only when something trains

        for config in runs:
            if on_start is not None:
                on_start(config)
            yield config, execute(config, self.registry, suite=self.suite)
