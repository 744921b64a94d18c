"""harness: a plugin-based benchmark harness for deep learning.

Importing this package is cheap (no torch, no Lightning): plugins import it
for ``hookimpl`` and the specs, and ``harness --help`` must start fast. The
entry points :func:`run`, :func:`plan`, :func:`tune`, :func:`report`, :func:`references` and :func:`compare`
are those of :mod:`harness.api`, loaded on first use (PEP 562), so they keep
their real signatures and docstrings. No submodule shares their names
(reporting lives in :mod:`harness.reporting`, tuning in :mod:`harness.tuning`):
importing a submodule sets the package attribute of its name, which would
replace the function.
"""

from importlib import metadata as _metadata

from harness.families import FamilySpec
from harness.hookspecs import hookimpl
from harness.specs import (
    DatasetInfo,
    DatasetSpec,
    DatasetSplits,
    Incompatible,
    ModelSpec,
    OptimizerSpec,
    Reference,
    SearchParam,
    lazy,
)

#: The name the package is installed under (``pip install harness-dl``); it imports as ``harness``.
DISTRIBUTION = "harness-dl"

try:
    __version__ = _metadata.version(DISTRIBUTION)
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

#: The functions of harness.api offered at the top level.
_ENTRY_POINTS = ("run", "plan", "tune", "report", "references", "compare")


def __getattr__(name: str):
    if name in _ENTRY_POINTS:
        from harness import api

        value = globals()[name] = getattr(api, name)
        return value
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__():
    """The public names only (``__all__``): what ``dir(harness)`` and tab completion offer."""
    return sorted(__all__)


__all__ = [
    "hookimpl",
    "ModelSpec",
    "DatasetSpec",
    "OptimizerSpec",
    "FamilySpec",
    "Reference",
    "SearchParam",
    "DatasetInfo",
    "DatasetSplits",
    "Incompatible",
    "lazy",
    "run",
    "plan",
    "tune",
    "report",
    "references",
    "compare",
    "DISTRIBUTION",
    "__version__",
]
