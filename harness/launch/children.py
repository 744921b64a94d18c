"""The life of a child process that trains: how a parent starts, watches and stops one, and how one starts up.

Shared by every launcher that trains outside the calling process: the local
pool's workers, the rank processes of a multi-device run, and Ray's actors.

* A parent starts a child with its environment in place before the child
  imports torch (``OMP_NUM_THREADS``, ``CUDA_VISIBLE_DEVICES``, rank
  variables) and with SIGINT blocked until the child ignores it, so Ctrl-C
  is the parent's alone (:func:`start`).
* A child exits as soon as its parent is gone, even if the parent was
  SIGKILLed mid-run, so no sweep leaves orphans behind (:func:`become_child`).
* A child rebuilds the registry from the parent's :class:`~harness.manager.PluginOrigin`
  (a pluggy manager cannot cross a process boundary), then pays torch's
  import and the runner's once (:func:`prepare`), and skips the interpreter's
  slow teardown of torch when it is done (:func:`leave`). What only some runs
  need -- Lightning with ``torch._dynamo`` and torchmetrics, scipy,
  transformers -- is left to the runs that need it (see
  :mod:`harness.train.lazy_lightning`), so a child is ready in about the time
  torch takes to import.
* A parent reaps children: a grace period, then kill (:func:`reap`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

#: How often a child checks that the process that started it is still there.
PARENT_POLL_S = 0.5
#: How long a child gets to exit on its own after its work, or after SIGTERM, before it is killed.
EXIT_GRACE_S = 5.0


# -- the parent's side ---------------------------------------------------------


@contextlib.contextmanager
def child_environment(values: dict[str, str]):
    """Set environment variables for a child about to start, and put the parent's back afterwards.

    They must be in place before the child imports torch (``OMP_NUM_THREADS``,
    ``CUDA_VISIBLE_DEVICES``), which may happen before any of its code runs.
    """
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def sigint_blocked():
    """Start children with SIGINT blocked until they ignore it, so Ctrl-C during their start-up cannot hit them.

    A signal that arrives meanwhile stays pending for the parent and is delivered when this ends.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def start(context, target: Callable, args: tuple, environment: dict[str, str], name: str, duplex: bool = True):
    """Start ``target(child_end_of_pipe, *args)`` in a new process; ``(process, parent's end of the pipe)``.

    The parent closes the child's end at once, so the child's death closes the pipe.
    """
    conn, child_end = context.Pipe(duplex=duplex)
    process = context.Process(target=target, args=(child_end, *args), name=name, daemon=False)
    with child_environment(environment), sigint_blocked():
        process.start()
    child_end.close()
    return process, conn


def death(exitcode: int | None) -> str:
    """'signal SIGKILL' or 'exit code 3': how a child ended."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"signal {-exitcode}"
    return f"exit code {exitcode}"


def reap(pairs) -> None:
    """Give ``(process, pipe)`` pairs :data:`EXIT_GRACE_S` in all to exit, kill those still there, close the pipes."""
    deadline = time.monotonic() + EXIT_GRACE_S
    for process, conn in pairs:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
        conn.close()


# -- the child's side ----------------------------------------------------------


def exit_with_parent(parent_pid: int) -> None:
    """Exit as soon as the parent is gone (even SIGKILLed mid-run), so no sweep leaves orphans behind."""

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="harness-parent-watch", daemon=True).start()


def become_child(parent_pid: int) -> None:
    """A child's first act: leave Ctrl-C to the parent, and die with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    exit_with_parent(parent_pid)


def prepare(origin, threads: int, on_loaded: Callable | None = None):
    """Rebuild the registry from ``origin``, then import torch and the runner with ``threads`` CPU threads.

    The registry comes first: one that cannot be rebuilt fails in a second,
    not after torch's imports. ``on_loaded(registry)`` is called in between.
    The runner imports neither Lightning nor torchmetrics (nor, through them,
    ``torch._dynamo``, scipy or transformers): a run that needs them imports
    them, once per process (``tests/launch/test_startup.py`` checks).
    """
    from harness.registry import Registry

    registry = Registry(origin.load())
    if on_loaded is not None:
        on_loaded(registry)
    import torch

    torch.set_num_threads(threads)
    import harness.train.runner  # noqa: F401 - torch and the runner are imported now, not during the first run

    return registry


def tell_parent(conn, message) -> bool:
    """Send ``message`` up the pipe; False when the parent is gone (killed): the child then just leaves, quietly."""
    try:
        conn.send(message)
    except (BrokenPipeError, EOFError, ConnectionResetError):
        return False
    return True


def leave() -> None:
    """End a child whose work is done, skipping the interpreter's teardown of torch (about a second)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
