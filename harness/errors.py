"""Errors a user can cause and fix. The CLI prints their message on one line and exits 2."""

from __future__ import annotations

import difflib


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
