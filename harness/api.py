"""The Python entry points: ``harness.run(...)``, ``harness.report(...)`` and ``harness.compare(...)``.

The CLI is a thin shell over these, so a notebook gets exactly what the
command line does, without printing.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

from harness.config import EXECUTION_KEYS, RunConfig, Suite, expand, make_suite, read_suite_file
from harness.errors import ConfigError
from harness.store import Store

DEFAULT_RESULTS = Path("results")


def default_suite_path() -> Path:
    return Path(str(resources.files("harness") / "suites" / "default.toml"))


def load_registry(plugins=(), blocked=()):
    """Plugins discovered and their specs collected: what `list` and `run` look names up in."""
    from harness.manager import load_plugins
    from harness.registry import Registry

    return Registry(load_plugins(paths=plugins, blocked=blocked))


@dataclass
class SweepResult:
    """What a sweep did: its records (this grid's cells only), skipped pairs and output folder."""

    output: Path
    records: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    reused: int = 0

    def frame(self):
        from harness.report import runs_frame

        return runs_frame(self.records)

    def table(self, fmt: str = "simple") -> str:
        """The sweep's records in a text format of :func:`harness.report.export` (csv: one row per run)."""
        from harness.report import check_text_format, export

        return export(self.records, check_text_format(fmt))


def resolve_suite(suite_file=None, **settings) -> Suite:
    """A suite file (or the default suite) with the given settings laid over it."""
    values = read_suite_file(suite_file or default_suite_path())
    overrides = {k: v for k, v in settings.items() if v is not None}
    if overrides and suite_file is None:
        values.pop("name", None)  # an ad-hoc sweep gets a name from its content below
    values.update(overrides)
    suite = make_suite(values)
    if suite.name is None:  # named by what its runs compute: a time limit or OOM retries do not make another sweep
        content = {k: v for k, v in asdict(suite).items() if k not in EXECUTION_KEYS}
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:8]
        suite = Suite(**{**asdict(suite), "name": f"sweep-{digest}"})
    return suite


def run(
    suite_file: str | Path | None = None,
    *,
    output: str | Path | None = None,
    plugins=(),
    blocked=(),
    rerun: bool = False,
    registry=None,
    on_event: Callable[..., None] | None = None,
    launcher: str = "local",
    jobs: int | None = None,
    address: str | None = None,
    **settings,
) -> SweepResult:
    """Expand the grid, train every cell not already finished, store one record per run.

    ``settings`` are suite keys (``models``, ``datasets``, ``optimizers``,
    ``seeds``, ``max_epochs``, ..., and ``timeout``: each run's time limit in
    seconds, ``oom_retry``: retry a run that runs out of memory at half the batch
    size). Records land in ``output`` (default ``results/<suite name>``); a cell
    whose record is already final is reused unless ``rerun``. ``launcher`` is
    ``"local"`` (``jobs`` persistent worker processes; default one, or one per
    GPU when there are several), ``"inline"`` (this process) or ``"ray"``
    (``jobs`` Ray actors on the cluster at ``address``, or on a local Ray
    instance started for the sweep). ``on_event(kind, **data)`` observes
    progress (see :class:`harness.sweep.Sweep`).
    """
    emit = on_event or (lambda kind, **data: None)
    suite = resolve_suite(suite_file, **settings)
    registry = registry or load_registry(plugins, blocked)
    runs, skipped = expand(suite, registry)
    if not runs:
        raise ConfigError("the grid is empty: no selected model can train on any selected dataset")
    for model, dataset, reason in skipped:
        emit("skip", model=model, dataset=dataset, reason=reason)
    output = Path(output) if output else DEFAULT_RESULTS / suite.name
    result = run_configs(
        runs, output, registry=registry, suite_name=suite.name, rerun=rerun, on_event=on_event,
        launcher=launcher, jobs=jobs, address=address, timeout=suite.timeout, oom_retry=suite.oom_retry,
    )  # fmt: skip
    result.skipped = skipped
    return result


def run_configs(
    runs: list[RunConfig],
    output: str | Path,
    *,
    registry,
    suite_name: str | None = None,
    rerun: bool = False,
    on_event: Callable[..., None] | None = None,
    launcher: str = "local",
    jobs: int | None = None,
    timeout: float | None = None,
    oom_retry: bool = False,
    address: str | None = None,
) -> SweepResult:
    """Train the given runs (already resolved configs) into ``output``, reusing finished records unless ``rerun``.

    What :func:`run` does after expanding its grid; ``harness tune`` calls it
    with the configs its search chose. ``timeout`` and ``oom_retry`` as in :func:`run`.
    """
    from harness.launch import make_launcher
    from harness.sweep import Sweep, notify_record_written

    emit = on_event or (lambda kind, **data: None)
    pool = make_launcher(launcher, registry, suite=suite_name, jobs=jobs, timeout=timeout, address=address, runs=runs)
    store = Store(output)
    sweep = Sweep(
        store,
        rerun=rerun,
        oom_retry=oom_retry,
        emit=emit,
        on_record=lambda record, path: notify_record_written(registry, record, path),
    )
    todo = sweep.plan(runs)
    emit(
        "plan", total=sweep.total, todo=todo, reused=sweep.reused, output=store.root, workers=pool.size(todo),
        in_process=pool.name == "inline",
    )  # fmt: skip
    sweep.run(pool)
    return SweepResult(store.root, sweep.records, reused=sweep.reused)


def report(
    directory: str | Path,
    format: str = "simple",
    stats: bool = False,
    test: str = "welch",
    output: str | Path | None = None,
    plots: str | Path | None = None,
    plot_format: str = "png",
    on_skip: Callable[[Path, str], None] | None = None,
) -> str | bytes:
    """Every record under ``directory`` as a summary table (any tabulate format; ``latex`` is booktabs with
    the best in bold), one row per run (``csv``; ``parquet``, bytes), or a whole ``html`` page.

    With ``output`` the text is also written to that file; with ``plots`` the
    figures are saved in that folder as ``plot_format`` (png or svg) files.
    Files that are not records are skipped and passed to ``on_skip(path,
    problem)`` (default: a warning). With ``stats``, the significance table,
    the optimizers' win table and performance profile follow a table
    (``test``: ``welch`` or ``bootstrap``); the html page always has them.
    """
    from harness.plots import check_plot_format
    from harness.report import BINARY_FORMATS, check_format, export, load_records

    check_plot_format(plot_format)
    if check_format(format) in BINARY_FORMATS and output is None:
        raise ConfigError(f"{format} is a binary format: give an output file (-o FILE)")
    records, problems = load_records(directory)  # read once, for the report and the figures
    text = export(records, format, problems, stats=stats, test=test)
    for path, problem in problems:
        if on_skip is not None:
            on_skip(path, problem)
        else:
            warnings.warn(f"skipped {path}: {problem}", stacklevel=2)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            Path(output).write_bytes(text)
        else:
            Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    if plots is not None:
        save_plots(records, plots, plot_format)
    return text


def save_plots(records: list[dict], folder: str | Path, plot_format: str = "png") -> list[Path]:
    """Learning curves, metric vs throughput and metric vs memory of ``records`` as image files."""
    from harness import plots

    figures = plots.all_figures(records)
    try:
        return plots.save_figures(figures, folder, plot_format)
    finally:
        plots.close(figures)


def compare(
    base: str | Path,
    new: str | Path,
    threshold: float = 0.05,
    allow_device_mismatch: bool = False,
    test: str = "welch",
):
    """Compare two results directories cell by cell; a :class:`harness.comparison.Comparison`.

    ``.regressions`` lists what got worse by more than ``threshold`` (relative)
    and beyond seed noise; ``.render(fmt)`` prints it. Raises
    :class:`harness.comparison.DeviceMismatchError` when matched cells ran on
    different devices, unless ``allow_device_mismatch`` (then the result says so).
    """
    from harness.comparison import compare_dirs

    result = compare_dirs(base, new, threshold, allow_device_mismatch=allow_device_mismatch, test=test)
    for path, problem in result.problems:
        warnings.warn(f"skipped {path}: {problem}", stacklevel=2)
    if result.device_mismatches:
        warnings.warn(f"{len(result.device_mismatches)} cells compared across different devices", stacklevel=2)
    return result
