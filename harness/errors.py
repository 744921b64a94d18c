"""Errors a user can cause and fix. The CLI prints their message on one line and exits 2."""

from __future__ import annotations

import difflib
import traceback
from pathlib import Path


class HarnessError(Exception):
    """Bad input: a name, a value, a file. Never a bug in the harness."""


class ConfigError(HarnessError):
    """A suite file or command-line value that cannot be used."""


class UnknownNameError(HarnessError):
    """A model, dataset or optimizer name that no available plugin provides."""


class DuplicateNameError(HarnessError):
    """Two plugins claim the same name, so neither can be picked silently."""


class LaunchError(HarnessError):
    """A worker process that could not start (its plugins would not load, or it died while starting)."""


def did_you_mean(name: str, candidates) -> str:
    """' (did you mean: a, b?)' for the close matches of ``name``, or ''."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def one_line(exc: BaseException) -> str:
    """'ModuleNotFoundError: No module named x (file.py:3)': one line that says what and where.

    What a record's ``reason``, an unavailable plugin's error and a worker's
    start-up failure show, so a table cell never holds a traceback.
    """
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {message}{where}"
