"""The ``harness`` command: parse, call :mod:`harness.api`, print, map errors to exit codes.

Exit codes: 0 success; 1 some run failed (its record says why; a run that ran
out of memory and was retried at a smaller batch size is judged by its retry),
or for ``compare`` a regression; 2 bad input (unknown name, bad value, bad file),
printed as one line without a traceback unless ``--debug``. Nothing heavy is
imported before a command needs it, so ``harness --help`` starts in a fraction
of a second. The options themselves are in :mod:`harness.cli_parser`.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from harness.cli_parser import KIND_ARGS, build_parser


def _blocked(options: list[str]) -> list[str]:
    from harness.errors import ConfigError

    blocked = []
    for option in options:
        if not option.startswith("no:") or len(option) == 3:
            raise ConfigError(f"-p {option}: expected no:NAME to block a plugin")
        blocked.append(option[3:])
    return blocked


def _registry(args):
    from harness.data import DATA_ROOT_ENV
    from harness.registry import load_registry

    if args.data_root:
        os.environ[DATA_ROOT_ENV] = args.data_root  # read by dataset plugins, inherited by worker processes

    registry = load_registry(args.plugins, _blocked(args.plugin_options))
    _warn_unmatched_blocks(registry)
    return registry


def _warn_unmatched_blocks(registry) -> None:
    """A ``-p no:NAME`` that blocks nothing is most likely a typo: say so, and what it could have meant."""
    from harness.errors import did_you_mean

    names = registry.plugins.plugin_names()
    for name in registry.plugins.unmatched_blocks():
        print(
            f"warning: -p no:{name} matched no plugin{did_you_mean(name, names)} (plugins: {', '.join(names)})",
            file=sys.stderr,
        )


def _warn_unavailable(registry) -> None:
    for info in registry.plugins.unavailable():
        print(f"warning: plugin {info.name} ({info.dist or info.location}) unavailable: {info.error}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def cmd_list(args) -> int:
    from tabulate import tabulate

    registry = _registry(args)
    kinds = [KIND_ARGS[args.kind]] if args.kind else list(KIND_ARGS.values())
    rows = []
    for kind in kinds:
        rows += _listed(registry, kind, args.pattern)
    conflicts = [
        {"kind": kind, "name": name, "plugins": plugins}
        for kind in kinds
        for name, plugins in registry.conflicts(kind).items()
    ]
    unavailable = [info.as_dict() for info in registry.plugins.unavailable()]
    if args.json:
        print(json.dumps({"entries": rows, "conflicts": conflicts, "unavailable_plugins": unavailable}, indent=2))
        return 0
    table = [{k: v for k, v in row.items() if k not in ("unavailable", "parameters")} for row in rows]
    print(tabulate(table, headers="keys") if table else "nothing registered")
    missing = [row for row in rows if row["unavailable"]]
    if missing:
        print("\nlisted but not usable here:")
        for row in missing:
            print(f"  {row['kind']} {row['name']}: {row['unavailable']}")
    for conflict in conflicts:
        print(f"\nconflict: {conflict['kind']} {conflict['name']!r} is provided by {' and '.join(conflict['plugins'])}")
    if unavailable:
        print("\nunavailable plugins:")
        for info in unavailable:
            print(f"  {info['name']} ({info['distribution'] or info['location']}): {info['error']}")
    return 0


def _entry_row(kind: str, spec, plugin: str) -> dict:
    """One row of ``harness list``: a registered model, dataset or optimizer (``parameters`` for --json only)."""
    from harness.showing import parameters
    from harness.specs import unavailable_reason

    if kind == "model":
        task, modality = "/".join(spec.tasks), "/".join(spec.modalities)
    elif kind == "dataset":
        task, modality = spec.task, spec.modality + (" (synthetic)" if spec.synthetic else "")
    else:
        task, modality = "-", "-"
    return {"kind": kind, "name": spec.name, "plugin": plugin, "task": task, "modality": modality,
            "description": spec.description, "unavailable": unavailable_reason(spec),
            "parameters": parameters(spec)}  # fmt: skip


def _listed(registry, kind: str, pattern: str | None) -> list[dict]:
    """The rows of one kind: its entries and one line per family, or the names ``pattern`` matches.

    A family's members are listed by name only: describing each would import every one of them."""
    from harness.families import summary

    if pattern is None:
        rows = [_entry_row(kind, entry.spec, entry.plugin) for entry in registry.entries(kind)]
        for family in registry.families.of_kind(kind):
            spec = family.spec
            rows.append({"kind": kind, "name": f"{spec.prefix}<name>", "plugin": family.plugin, "task": "-",
                         "modality": "-", "description": summary(family, registry.families),
                         "unavailable": registry.families.unavailable(family)})  # fmt: skip
        return rows
    family = registry.families.of(kind, pattern)
    if family is None:
        return [_entry_row(kind, registry.get(kind, name).spec, registry.get(kind, name).plugin)
                for name in registry.select(kind, pattern)]  # fmt: skip
    names = registry.select(kind, pattern)
    return [{"kind": kind, "name": name, "plugin": family.plugin, "task": "-", "modality": "-", "description": "",
             "unavailable": None} for name in names]  # fmt: skip


def cmd_show(args) -> int:
    from harness.showing import describe, render

    shown = describe(_registry(args), args.name, args.kind)
    print(json.dumps(shown, indent=2, default=str) if args.json else render(shown))
    return 0


def cmd_plugins(args) -> int:
    from tabulate import tabulate

    registry = _registry(args)
    infos = [info.as_dict() for info in registry.plugins.infos.values()]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    rows = [
        {
            "plugin": i["name"],
            "distribution": i["distribution"],
            "version": i["version"] or "-",
            "hooks": ", ".join(h.removeprefix("harness_") for h in i["hooks"]) or "-",
            "status": "ok" if i["available"] else f"unavailable: {i['error']}",
        }
        for i in infos
    ]
    print(tabulate(rows, headers="keys") if rows else "no plugins found")
    return 0


def _any_failed(records: list[dict]) -> bool:
    """Whether a run ended badly: not final, and not an out-of-memory run retried at a smaller batch size."""
    from harness.records import settled

    return not all(settled(record) for record in records)


def _settings(args) -> dict:
    """The suite keys a sweep's options set (None: the suite file's or the default value)."""
    return {
        "models": args.models,
        "datasets": args.datasets,
        "optimizers": args.optimizers,
        "seeds": args.seeds,
        "lr": getattr(args, "lr", None),
        "timeout": args.timeout,
        "oom_retry": args.oom_retry,
        "schedules": args.schedule,
        "batch_size": args.batch_size,
        "max_epochs": args.max_epochs,
        "max_steps": args.max_steps,
        "accelerator": args.accelerator,
        "devices": args.devices,
        "strategy": args.strategy,
        "precision": args.precision,
        "early_stopping": args.early_stopping,
        "target": args.target,
        "warmup_steps": args.warmup_steps,
        "compile": args.compile,
        "channels_last": args.channels_last,
        "loader_workers": args.loader_workers,
        "threads": args.threads,
        "max_runs": args.max_runs,
    }


def _sweep(args, launch, options, events=None):
    """What ``run`` and ``tune`` share: check, load the plugins, launch with a progress bar, close it.

    ``launch`` is :func:`harness.api.run` or :func:`harness.tuning.tune`. ``options(args)`` returns the command's
    own keyword arguments; it is called after the format check and before the plugins load, so a bad value is reported
    in the same order for both commands. ``events`` wraps the progress bar into the command's event handler.
    """
    from harness.progress import make_progress
    from harness.reporting.formats import check_text_format

    check_text_format(args.format)  # before anything trains
    own = options(args)
    registry = _registry(args)
    _warn_unavailable(registry)
    progress = make_progress()
    on_event = events(progress) if events else progress
    if args.launcher == "local":
        on_event = importing_summary_when_trained(on_event)
    try:
        return launch(
            args.suite,
            output=args.output,
            rerun=args.rerun,
            registry=registry,
            on_event=on_event,
            launcher=args.launcher,
            jobs=args.jobs,
            address=args.address,
            **own,
        )
    finally:
        progress.close()


#: What printing a sweep's summary imports (pandas alone is most of a second).
SUMMARY_MODULES = ("pandas", "harness.reporting.export")


def importing_summary_when_trained(on_event):
    """``on_event``, which also imports :data:`SUMMARY_MODULES` in a thread when the first run is handed out.

    Only for runs trained in worker processes: this process then just waits
    while the first worker imports torch (seconds, one core), so importing the
    summary's modules meanwhile takes nothing from any run, and the summary is
    printed that much sooner after the last one. (In-process training would
    share its interpreter with the import, and be timed slower for it.)
    """
    started = False

    def on_event_importing(kind, **data):
        nonlocal started
        if kind == "start" and not started:
            started = True
            threading.Thread(target=_import_all, args=(SUMMARY_MODULES,), name="harness-summary-imports",
                             daemon=True).start()  # fmt: skip
        on_event(kind, **data)

    return on_event_importing


def _import_all(modules) -> None:
    """Import ``modules``; a failure is left for the summary itself to raise, where it is reported."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the import is repeated, and reported, where it is needed
            return


def cmd_run(args) -> int:
    import harness.api as api

    if args.plan:
        return _plan(args)
    result = _sweep(args, api.run, _settings)
    print(result.table(args.format))
    print(f"\nrecords: {result.output}  (print again: harness report {result.output})", file=sys.stderr)
    return 1 if _any_failed(result.records) or not result.storage_ok else 0


def _tune_options(args) -> dict:
    """``tune``'s keyword arguments: its --seeds means the final runs, and it searches instead of taking --lr."""
    from harness.config import as_tuple

    return {
        "lr_grid": as_tuple("lr-grid", args.lr_grid, float) if args.lr_grid else None,
        "sampler": args.sampler or ("grid" if args.lr_grid else "quasirandom"),
        "trials": args.trials,
        "studies": args.studies,
        "space": args.space,
        "search_seeds": args.search_seeds,
        "prune": args.prune,
        "seeds": args.seeds,
        **{k: v for k, v in _settings(args).items() if k not in ("seeds", "lr")},  # tune's own meaning
    }


def _tune_events(progress):
    """The progress bar, plus a line for each phase of the search and each workload left without a choice."""

    def on_event(kind, **data):
        if kind == "phase":
            progress.note(f"\n{data['name']}: {data['detail']}")
        elif kind == "untunable":
            config = data["config"]
            progress.note(f"no choice for {config.model_label} | {config.dataset_label} | {config.optimizer}: "
                          f"{data['reason']}")  # fmt: skip
        else:
            progress(kind, **data)

    return on_event


def cmd_tune(args) -> int:
    from harness.tuning import tune

    result = _sweep(args, tune, _tune_options, events=_tune_events)
    print(result.table(args.format))
    print(
        f"\nfinal records: {result.output / 'final'}; search: {result.output / 'search'}; "
        f"choices: {result.output / 'tuning.json'}; studies: {result.output / 'studies.db'}",
        file=sys.stderr,
    )
    return 1 if _any_failed(result.final.records) or not (result.search.storage_ok and result.final.storage_ok) else 0


def _plan(args) -> int:
    """``harness run --plan``: what the sweep would reuse and train; exit 1 when a cell's file cannot be read."""
    import harness.api as api

    registry = _registry(args)
    _warn_unavailable(registry)
    plan = api.plan(args.suite, output=args.output, rerun=args.rerun, registry=registry, **_settings(args))
    print(plan.describe())
    print(f"\nrecords: {plan.output}  (train them: the same command without --plan)", file=sys.stderr)
    return 1 if plan.blocked else 0


def _warn_skipped(path, problem) -> None:
    print(f"warning: skipped {path}: {problem}", file=sys.stderr)


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def cmd_report(args) -> int:
    import harness.api as api
    from harness.reporting.export import uses_references

    if args.references:
        return _list_references(args)
    registry = _registry(args) if uses_references(args.format, args.stats) else None  # tables and statistics
    text = api.report(
        args.directory,
        args.format,
        stats=args.stats,
        test=args.test,
        output=args.output,
        plots=args.plots,
        plot_format=args.plot_format,
        on_skip=_warn_skipped,
        use_index=not args.no_index,
        references=registry is not None,
        registry=registry,
        on_reference_problem=_warn,
    )
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    if args.plots:
        print(f"figures in {args.plots}", file=sys.stderr)
    return 0


def _list_references(args) -> int:
    """``harness report DIR --references``: every reference of the loaded plugins with its status against DIR."""
    import harness.api as api
    from harness.errors import ConfigError
    from harness.reporting.formats import DOCUMENT_FORMATS, check_format

    given = [
        option for option, value in (("-o", args.output), ("--plots", args.plots), ("--stats", args.stats)) if value
    ]
    if given:
        raise ConfigError(f"--references prints the list of references; it takes no {', '.join(given)}")
    if check_format(args.format) in DOCUMENT_FORMATS:
        raise ConfigError(f"--references prints a table: any tabulate format or csv, not {args.format}")
    registry = _registry(args)
    listing = api.references(args.directory, registry=registry, use_index=not args.no_index, on_skip=_warn_skipped)
    for message in listing.problems:
        _warn(message)
    print(listing.render(args.format))
    return 0


def cmd_compare(args) -> int:
    from harness.reporting.compare import check_compare_format, compare_dirs

    check_compare_format(args.format)
    result = compare_dirs(
        args.base, args.new, args.threshold, allow_device_mismatch=args.allow_device_mismatch, test=args.test
    )
    for path, problem in result.problems:
        print(f"warning: skipped {path}: {problem}", file=sys.stderr)
    if result.device_mismatches:
        print(f"warning: {len(result.device_mismatches)} CELLS RAN ON DIFFERENT DEVICES", file=sys.stderr)
        for mismatch in result.device_mismatches:
            print(f"  {mismatch.cell}: {mismatch.base_device!r} -> {mismatch.new_device!r}", file=sys.stderr)
    print(result.render(args.format))
    if not result.cells:  # a gate that checked nothing must not pass
        print(f"harness compare: error: no cell of {args.base} matches one of {args.new}", file=sys.stderr)
        return 2
    return 1 if result.regressions else 0


def cmd_new_plugin(args) -> int:
    from harness.scaffold import KINDS, new_plugin

    kinds = [kind for kind in KINDS if getattr(args, kind)]
    print(new_plugin(args.name, kinds, args.output).summary())
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a batch scheduler's stop): the sweep stops as on Ctrl-C, its workers with it."""


def _stop_on_sigterm() -> None:
    def terminated(signum, frame):
        raise Terminated()

    if threading.current_thread() is threading.main_thread():  # only the main thread may set a handler
        signal.signal(signal.SIGTERM, terminated)


COMMANDS = {
    "run": cmd_run,
    "tune": cmd_tune,
    "list": cmd_list,
    "show": cmd_show,
    "plugins": cmd_plugins,
    "report": cmd_report,
    "compare": cmd_compare,
    "new-plugin": cmd_new_plugin,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from harness.errors import HarnessError

    _stop_on_sigterm()
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        if args.debug:
            raise
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `harness report ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        print("\ninterrupted: finished runs are stored; run the same command again to resume", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
