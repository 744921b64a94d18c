"""harness: a plugin-based benchmark harness for deep learning.

Importing this package is cheap (no torch, no Lightning): plugins import it
for ``hookimpl`` and the specs, and ``harness --help`` must start fast.
"""

from importlib import metadata as _metadata

import harness.report as _report_module  # noqa: F401  (see report() below)
from harness.hookspecs import hookimpl
from harness.specs import DatasetInfo, DatasetSpec, DatasetSplits, ModelSpec, OptimizerSpec, lazy

try:
    __version__ = _metadata.version("harness")
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"


def run(*args, **kwargs):
    """Run a sweep; see :func:`harness.api.run`."""
    from harness.api import run as _run

    return _run(*args, **kwargs)


def report(*args, **kwargs):
    """Render the records of a results directory; see :func:`harness.api.report`.

    The submodule harness.report is imported above, before this function is
    defined: importing a submodule for the first time sets the package
    attribute of its name, which would otherwise replace this function with
    the module after the first report. That import is cheap (no pandas).
    """
    from harness.api import report as _report

    return _report(*args, **kwargs)


def compare(*args, **kwargs):
    """Compare two results directories cell by cell; see :func:`harness.api.compare`."""
    from harness.api import compare as _compare

    return _compare(*args, **kwargs)


__all__ = [
    "hookimpl",
    "ModelSpec",
    "DatasetSpec",
    "OptimizerSpec",
    "DatasetInfo",
    "DatasetSplits",
    "lazy",
    "run",
    "report",
    "compare",
    "__version__",
]
