"""The Python entry points: ``harness.run(...)``, ``harness.tune(...)``, ``harness.report(...)`` and
``harness.compare(...)``; ``references(...)`` lists the results the plugins ship, with their status.

The CLI is a thin shell over these, so a notebook gets exactly what the
command line does, without printing. The helpers a caller needs beside them
(:func:`load_registry`, :func:`resolve_suite`, :func:`run_configs`,
:class:`SweepResult`) are importable from here too.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

from harness.config import empty_grid, expand, grid_size, resolve_suite
from harness.errors import ConfigError
from harness.paths import check_output_dir, check_output_file
from harness.registry import load_registry
from harness.sweep import DEFAULT_RESULTS, SweepPlan, SweepResult, plan_configs, run_configs
from harness.tuning import execution_options, tune

__all__ = [
    "run", "plan", "tune", "report", "references", "compare", "save_plots",
    "load_registry", "resolve_suite", "run_configs", "SweepResult", "DEFAULT_RESULTS",
]  # fmt: skip


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
    progress (see :class:`harness.sweep.Sweep`). An output directory that
    cannot be written is a ConfigError before anything loads or trains.
    """
    suite, output, registry, runs, skipped = _grid(suite_file, output, plugins, blocked, registry, on_event, settings)
    result = run_configs(
        runs, output, registry=registry, suite_name=suite.name, rerun=rerun, on_event=on_event,
        launcher=launcher, jobs=jobs, address=address, **execution_options(suite),
    )  # fmt: skip
    result.skipped = skipped
    return result


def plan(
    suite_file: str | Path | None = None,
    *,
    output: str | Path | None = None,
    plugins=(),
    blocked=(),
    rerun: bool = False,
    registry=None,
    on_event: Callable[..., None] | None = None,
    **settings,
) -> SweepPlan:
    """What :func:`run` with the same arguments would do, deciding it the same way, without training:
    how many runs it would reuse and which it would train (``harness run --plan``)."""
    suite, output, registry, runs, _ = _grid(suite_file, output, plugins, blocked, registry, on_event, settings)
    return plan_configs(runs, output, rerun=rerun, oom_retry=bool(execution_options(suite).get("oom_retry")))


def _grid(suite_file, output, plugins, blocked, registry, on_event, settings):
    """The suite, its checked output folder, the registry and the expanded grid: what ``run`` and ``plan`` share."""
    emit = on_event or (lambda kind, **data: None)
    suite = resolve_suite(suite_file, **settings)
    if output:  # before anything loads or trains: a sweep must not train only to fail writing its first record
        output = check_output_dir(output)
    else:
        output = check_output_dir(DEFAULT_RESULTS / suite.name, "results directory (named after the suite)")
    registry = registry or load_registry(plugins, blocked)
    emit("grid", size=grid_size(suite, registry))
    runs, skipped = expand(suite, registry)
    if not runs:
        raise empty_grid(skipped)
    for model, dataset, reason in skipped:
        emit("skip", model=model, dataset=dataset, reason=reason)
    return suite, output, registry, runs, skipped


def report(
    directory: str | Path,
    format: str = "simple",
    stats: bool = False,
    test: str = "welch",
    output: str | Path | None = None,
    plots: str | Path | None = None,
    plot_format: str = "png",
    on_skip: Callable[[Path, str], None] | None = None,
    use_index: bool = True,
    references: bool = True,
    plugins=(),
    blocked=(),
    registry=None,
    on_reference_problem: Callable[[str], None] | None = None,
) -> str | bytes:
    """Every record under ``directory`` as a summary table (any tabulate format; ``latex`` is booktabs with
    the best in bold), one row per run (``csv``; ``parquet``, bytes), or a whole ``html`` page.

    With ``references`` a table (the html page's too) gains ``reference`` and ``agrees`` columns where a cell
    matches a result the plugins ship (:class:`harness.specs.Reference`; ``registry``, or loaded with ``plugins``
    and ``blocked``), and the statistics normalise a workload by one that matches every cell it compares. A
    computed one is computed only then; one that fails goes to ``on_reference_problem(message)`` (default: a
    warning) and is left out.

    With ``output`` the text is also written to that file; with ``plots`` the
    figures are saved in that folder as ``plot_format`` (png or svg) files.
    Files that are not records are skipped and passed to ``on_skip(path,
    problem)`` (default: a warning). With ``stats``, the significance table,
    the optimizers' win table and performance profile follow a table
    (``test``: ``welch`` or ``bootstrap``); the html page always has them.
    ``use_index=False`` reads every record file and leaves the run index
    (``runs.index.parquet`` beside ``runs/``) alone.
    """
    from harness.reporting.export import export_runs, load_results, needs_details, uses_references
    from harness.reporting.formats import BINARY_FORMATS, check_format
    from harness.reporting.plots import check_plot_format

    check_plot_format(plot_format)
    if check_format(format) in BINARY_FORMATS and output is None:
        raise ConfigError(f"{format} is a binary format: give an output file (-o FILE)")
    if output is not None:  # before reading: a report that cannot be written is an error, not a traceback
        output = check_output_file(output, "report file")
    if plots is not None:
        plots = check_output_dir(plots, "plots directory")
    # read once (through the run index), for the report and the figures
    runs, problems = load_results(directory, details=needs_details(format) or plots is not None, use_index=use_index)
    load = references and uses_references(format, stats)  # a table, the html page or the statistics read them
    entries = _report_references(runs, format, registry, plugins, blocked, on_reference_problem) if load else ()
    text = export_runs(runs, format, problems, stats=stats, test=test, references=entries)
    for path, problem in problems:
        if on_skip is not None:
            on_skip(path, problem)
        else:
            warnings.warn(f"skipped {path}: {problem}", stacklevel=2)
    if output is not None:
        _write(output, text)
    if plots is not None:
        save_figures_of(runs, plots, plot_format)
    return text


def reference_entries(registry) -> list:
    """Every reference the loaded plugins ship, as ``(kind, spec name, Reference)`` entries
    (:class:`harness.reporting.references.ReferenceEntry`): models, then datasets, each by name."""
    from harness.reporting.references import ReferenceEntry

    return [
        ReferenceEntry(kind, entry.name, reference)
        for kind in ("model", "dataset")
        for entry in registry.entries(kind)
        for reference in entry.spec.references
    ]


def _computed(entries: list, wanted) -> tuple[list, dict[int, str]]:
    """``entries`` with the computed references of the ``wanted`` positions computed, and position -> why not."""
    from harness.errors import one_line

    out, failures = list(entries), {}
    for position in sorted(wanted):
        entry = entries[position]
        try:
            out[position] = entry._replace(reference=entry.reference.resolve())
        except Exception as exc:  # noqa: BLE001 - a plugin's computation must not break the report
            failures[position] = one_line(exc)
    return out, failures


def _failure_message(entry, why: str) -> str:
    return f"{entry.label}: reference {entry.reference.source!r} could not be computed: {why}"


def _report_references(runs, fmt: str, registry, plugins, blocked, on_problem) -> list:
    """The references a report in ``fmt`` reads: where it shows the summary table, every one a cell matches;
    else (the statistics of csv) only those that cover a workload of the statistics across workloads whole."""
    from harness.reporting.export import shows_references
    from harness.reporting.stats_tables import covering_positions

    wanted = None if shows_references(fmt) else covering_positions
    return _table_references(runs, registry or load_registry(plugins, blocked), on_problem, wanted)


def _table_references(runs, registry, on_problem, wanted=None) -> list:
    """The references a table's cells match (or the positions ``wanted(runs, entries)`` names), computed where
    they must be; failures reported, then left out."""
    from harness.reporting.references import needed

    entries = reference_entries(registry)
    if not entries:
        return []
    entries, failures = _computed(entries, (wanted or needed)(runs, entries))
    for position, why in failures.items():
        message = _failure_message(entries[position], why)
        if on_problem is not None:
            on_problem(message)
        else:
            warnings.warn(message, stacklevel=4)
    return [entry for entry in entries if entry.reference.value is not None]


def references(
    directory: str | Path | None = None,
    *,
    plugins=(),
    blocked=(),
    registry=None,
    use_index: bool = True,
    on_skip: Callable[[Path, str], None] | None = None,
):
    """Every reference the loaded plugins ship, with its status against the runs under ``directory``.

    A :class:`harness.reporting.references.ReferenceListing`: ``.rows`` (one
    dict per reference: scope, value, the matching cells' means, ``status``:
    agrees, disagrees, unknown, no matching runs, or failed when a computed
    one could not be computed), ``.problems`` and ``.render(fmt)``. A computed
    reference is computed only when some cell matches it. Without a
    ``directory`` every status is 'no matching runs'.
    """
    from harness.reporting.cells import summary_frame
    from harness.reporting.export import load_results
    from harness.reporting.references import ReferenceListing, listing, needed

    runs = summary = None
    if directory is not None:
        runs, problems = load_results(directory, use_index=use_index)
        for path, problem in problems:
            if on_skip is not None:
                on_skip(path, problem)
            else:
                warnings.warn(f"skipped {path}: {problem}", stacklevel=2)
        summary = summary_frame(runs)
    entries = reference_entries(registry or load_registry(plugins, blocked))
    entries, failures = _computed(entries, needed(runs, entries) if runs is not None else ())
    problems = [_failure_message(entries[position], why) for position, why in failures.items()]
    return ReferenceListing(listing(summary, runs, entries, failures), problems)


def _write(path: Path, text: str | bytes) -> None:
    """The report into ``path``; a file system that refuses it (full, gone read-only) is a one-line error."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"report file {path} cannot be written: {exc.strerror or exc}") from None


def save_plots(records: list[dict], folder: str | Path, plot_format: str = "png") -> list[Path]:
    """Learning curves, metric vs throughput and metric vs memory of ``records`` as image files."""
    from harness.reporting.frames import runs_frame

    return save_figures_of(runs_frame(records), folder, plot_format)


def save_figures_of(runs, folder: str | Path, plot_format: str = "png") -> list[Path]:
    """The figures of a runs frame (with its detail columns) as image files in ``folder``."""
    from harness.reporting import plots

    figures = plots.all_figures(runs)
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
    """Compare two results directories cell by cell; a :class:`harness.reporting.compare.Comparison`.

    ``.regressions`` lists what got worse by more than ``threshold`` (relative)
    and beyond seed noise; ``.render(fmt)`` prints it. Raises
    :class:`harness.reporting.compare.DeviceMismatchError` when matched cells ran on
    different devices, unless ``allow_device_mismatch`` (then the result says so).
    """
    from harness.reporting.compare import compare_dirs

    result = compare_dirs(base, new, threshold, allow_device_mismatch=allow_device_mismatch, test=test)
    for path, problem in result.problems:
        warnings.warn(f"skipped {path}: {problem}", stacklevel=2)
    if result.device_mismatches:
        warnings.warn(f"{len(result.device_mismatches)} cells compared across different devices", stacklevel=2)
    return result
