"""What every launcher is: the :class:`Launcher` protocol, and the check that its workers have the parent's plugins."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from harness.errors import LaunchError


class Launcher(Protocol):
    """Where runs execute. Implemented by the inline, local-pool and Ray launchers.

    :meth:`map` takes run configs and yields ``(config, record)`` as each run
    finishes; the caller stores records as they arrive, so an interrupted
    sweep keeps everything that finished. A launcher takes the next config
    only when a worker is free to start it: the caller decides at that moment
    whether the cell is still to be trained (another sweep may have claimed
    it), and may add runs while the sweep goes on (a retry at a smaller batch
    size). A run that raises, dies or hangs still gets a record: a launcher
    never loses a run and never raises for one.
    """

    #: The name ``--launcher`` takes.
    name: str

    def size(self, runs: int) -> int:
        """How many of ``runs`` runs train at the same time."""
        ...

    def map(self, runs: Iterable, on_start: Callable | None = None) -> Iterator[tuple]:
        """Train ``runs``; call ``on_start(config)`` as each starts, yield ``(config, record)`` as each ends."""
        ...


def missing_plugins(registry, loaded) -> list[str]:
    """The plugins available here that a worker, rebuilding the registry from its origin, did not load."""
    return sorted({info.name for info in registry.plugins.available()} - set(loaded))


def check_plugins(registry, loaded, where: str) -> None:
    """Refuse a worker that lacks a plugin the parent has: its runs would fail, or differ, cell after cell.

    ``where`` names the worker and says what to do, e.g. ``"a Ray actor: install them on every node"``.
    """
    missing = missing_plugins(registry, loaded)
    if missing:
        raise LaunchError(f"plugins {', '.join(missing)} are available here but not in {where}")
