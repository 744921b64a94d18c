"""The ``harness`` command: parse, call :mod:`harness.api`, print, map errors to exit codes.

Exit codes: 0 success; 1 some run failed (its record says why; a run that ran
out of memory and was retried at a smaller batch size is judged by its retry),
or for ``compare`` a regression; 2 bad input (unknown name, bad value, bad file),
printed as one line without a traceback unless ``--debug``. Nothing heavy is imported before a command needs it, so
``harness --help`` starts in a fraction of a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

KIND_ARGS = {"models": "model", "datasets": "dataset", "optimizers": "optimizer"}
TESTS = ("welch", "bootstrap")  # harness.reporting.stats, named here so --help needs no numpy


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'harness run: error: ...', and no abbreviated options.

    With abbreviations, ``harness tune --lr 0.1`` would silently mean ``--lr-grid 0.1``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _jobs(text: str) -> int:
    """-j N: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number of workers of at least 1, got {text!r}")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("plugins")
    group.add_argument(
        "--plugins",
        action="append",
        default=[],
        metavar="PATH",
        help="also load a local plugin file or folder (repeatable)",
    )
    group.add_argument(
        "-p",
        dest="plugin_options",
        action="append",
        default=[],
        metavar="no:NAME",
        help="block the plugin NAME (repeatable), as in pytest",
    )
    group.add_argument(
        "--data-root", metavar="DIR", help="where datasets with files look for them (default: $HARNESS_DATA_ROOT)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def _sweep_arguments(parser: argparse.ArgumentParser, tuning: bool = False) -> None:
    """The options of a sweep, shared by ``run`` and ``tune`` (which searches the learning rate instead)."""
    parser.add_argument("suite", nargs="?", help="a TOML suite file (default: the built-in default suite)")
    grid = parser.add_argument_group("grid (comma lists; wildcards; NAME[key=value,...] overrides)")
    grid.add_argument("--models", "-m", help="e.g. 'mlp[hidden=[256,128]],logreg'")
    grid.add_argument("--datasets", "-d", help="e.g. 'digits'")
    grid.add_argument("--optimizers", "-o", help="e.g. 'sgd[momentum=0.9],adam' or 'sgd*'")
    if tuning:
        grid.add_argument(
            "--lr-grid",
            help="learning rates to try for every optimizer, e.g. 0.3,0.1,0.03 "
            "(default: 0.1x, 0.3x, 1x, 3x and 10x each optimizer's own default)",
        )
        grid.add_argument("--search-seeds", type=int, default=1, help="seeds per learning rate in the search (1)")
        grid.add_argument("--seeds", type=int, default=3, help="seeds of the final runs at the chosen rate (3)")
    else:
        grid.add_argument("--seeds", type=int, help="number of seeds per cell (0..N-1)")
        grid.add_argument("--lr", help="learning rate(s) for every optimizer, e.g. 0.1,0.01")
    grid.add_argument(
        "--schedule",
        help="learning-rate schedule(s): constant (default), step, cosine, warmup_cosine, onecycle; "
        "e.g. 'cosine,warmup_cosine[warmup=0.1]'",
    )
    grid.add_argument("--batch-size", help="batch size(s), e.g. 64 or 32,128")
    train = parser.add_argument_group("training")
    train.add_argument("--max-epochs", type=int)
    train.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (-1: no limit)")
    train.add_argument("--accelerator", help="auto (default), cpu, cuda, mps")
    train.add_argument(
        "--devices", help="devices per run (Lightning's devices); N > 1 trains each run in N processes, one per device"
    )
    train.add_argument(
        "--strategy",
        help="how a run spreads over its devices: auto (default: DDP when there are several), ddp, fsdp, deepspeed",
    )
    train.add_argument("--precision", help="32-true (default), bf16-mixed, 16-mixed, ...")
    train.add_argument(
        "--early-stopping", type=int, metavar="PATIENCE", help="stop after PATIENCE epochs without improvement"
    )
    train.add_argument("--target", type=float, help="record time until validation first reaches this metric value")
    train.add_argument("--warmup-steps", type=int, help="steps left out of throughput (default 5)")
    speed = parser.add_argument_group("speed")
    speed.add_argument(
        "--compile", action="store_true", default=None, help="torch.compile the model (compile time reported apart)"
    )
    speed.add_argument(
        "--channels-last", action="store_true", default=None, help="channels-last memory format (CNNs on GPU)"
    )
    speed.add_argument(
        "--loader-workers",
        type=int,
        metavar="N",
        help="DataLoader worker processes for datasets that are not tensors (default: 0 on CPU, up to 4 on GPU)",
    )
    execution = parser.add_argument_group("execution")
    execution.add_argument(
        "--launcher",
        choices=("inline", "local", "ray"),
        default="local",
        help="local (default): persistent worker processes; inline: every run in this process (easiest to debug); "
        "ray: persistent Ray actors, on a local Ray instance or the cluster at --address",
    )
    execution.add_argument(
        "--address",
        metavar="ADDRESS",
        help="with --launcher ray: the Ray cluster to use, e.g. auto (the one this machine belongs to) or "
        "ray://HEAD:10001 (Ray Client); default: start a local Ray instance for the sweep",
    )
    execution.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        metavar="N",
        help="runs side by side, in N workers sharing the CPU cores (default: one per GPU when there are several, "
        "else 1; with --launcher ray: one per GPU of the cluster, else one per node)",
    )
    failures = parser.add_argument_group("when runs go wrong (see README: When things go wrong)")
    failures.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop a run still going after SECONDS (its worker is killed and replaced) and record it as timeout; "
        "local launcher only",
    )
    failures.add_argument(
        "--oom-retry",
        action="store_true",
        default=None,
        help="run a run that runs out of memory again at half the batch size, down to 1 (each retry is a run "
        "of its own, stored under its own key)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        help="results directory (default: results/<suite name>"
        + ("-tuned, holding search/ and final/)" if tuning else ")"),
    )
    out.add_argument("--rerun", action="store_true", help="run again cells that already have a finished record")
    out.add_argument(
        "--format",
        default="simple",
        help="table format: any tabulate format (plain, github, latex, ...), csv (one row per run) or html",
    )
    _common(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Benchmark deep-learning models, datasets and optimizers fairly.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = commands.add_parser("run", help="train the grid and print the table (default: the built-in suite)")
    _sweep_arguments(run)

    tune = commands.add_parser(
        "tune",
        help="search a learning-rate grid per optimizer per workload on validation, then train the best with N seeds",
    )
    _sweep_arguments(tune, tuning=True)

    lister = commands.add_parser("list", help="list models, datasets and optimizers")
    lister.add_argument("kind", nargs="?", choices=list(KIND_ARGS), help="only this kind")
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    _common(lister)

    plugins = commands.add_parser("plugins", help="list plugins with their distribution, version and hooks")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    _common(plugins)

    report = commands.add_parser(
        "report", help="a results directory as a table, LaTeX, CSV, Parquet or an HTML page (no torch needed)"
    )
    report.add_argument("directory")
    report.add_argument(
        "--format",
        default="simple",
        help="html (a self-contained page with figures and provenance), csv or parquet (one row per run, every "
        "field), latex (booktabs, the best in bold), or any tabulate format (plain, github, ...)",
    )
    report.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of printing it")
    report.add_argument("--plots", metavar="DIR", help="also save every figure into DIR")
    report.add_argument("--plot-format", default="png", help="png (default) or svg")
    report.add_argument(
        "--stats",
        action="store_true",
        help="also print the significance table, the optimizers' win table and their performance profile",
    )
    report.add_argument("--test", choices=TESTS, default="welch", help="significance test (default: welch)")
    report.add_argument("--debug", action="store_true", help="show tracebacks for errors")

    compare = commands.add_parser(
        "compare", help="compare two results directories cell by cell; exit 1 on a regression (for CI)"
    )
    compare.add_argument("base", help="results directory of the baseline")
    compare.add_argument("new", help="results directory to judge against it")
    compare.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="relative change that counts, 0.05 = 5%% (a regression must also be beyond seed noise)",
    )
    compare.add_argument("--format", default="simple", help="any tabulate format, csv or json")
    compare.add_argument("--test", choices=TESTS, default="welch", help="significance test (default: welch)")
    compare.add_argument(
        "--allow-device-mismatch", action="store_true", help="compare cells that ran on different devices anyway"
    )
    compare.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    return parser


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

    return load_registry(args.plugins, _blocked(args.plugin_options))


def _warn_unavailable(registry) -> None:
    for info in registry.plugins.unavailable():
        print(f"warning: plugin {info.name} ({info.dist or info.location}) unavailable: {info.error}", file=sys.stderr)


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------


def cmd_list(args) -> int:
    from tabulate import tabulate

    from harness.specs import unavailable_reason

    registry = _registry(args)
    kinds = [KIND_ARGS[args.kind]] if args.kind else list(KIND_ARGS.values())
    rows = []
    for kind in kinds:
        for entry in registry.entries(kind):
            spec = entry.spec
            if kind == "model":
                task, modality = "/".join(spec.tasks), "/".join(spec.modalities)
            elif kind == "dataset":
                task, modality = spec.task, spec.modality + (" (synthetic)" if spec.synthetic else "")
            else:
                task, modality = "-", "-"
            rows.append(
                {
                    "kind": kind,
                    "name": spec.name,
                    "plugin": entry.plugin,
                    "task": task,
                    "modality": modality,
                    "description": spec.description,
                    "unavailable": unavailable_reason(spec),
                }
            )
    conflicts = [
        {"kind": kind, "name": name, "plugins": plugins}
        for kind in kinds
        for name, plugins in registry.conflicts(kind).items()
    ]
    unavailable = [info.as_dict() for info in registry.plugins.unavailable()]
    if args.json:
        print(json.dumps({"entries": rows, "conflicts": conflicts, "unavailable_plugins": unavailable}, indent=2))
        return 0
    table = [{k: v for k, v in row.items() if k != "unavailable"} for row in rows]
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
    }


def cmd_run(args) -> int:
    import harness.api as api
    from harness.progress import make_progress
    from harness.reporting.formats import check_text_format

    settings = _settings(args)
    check_text_format(args.format)  # before anything trains
    registry = _registry(args)
    _warn_unavailable(registry)
    progress = make_progress()
    try:
        result = api.run(
            args.suite,
            output=args.output,
            rerun=args.rerun,
            registry=registry,
            on_event=progress,
            launcher=args.launcher,
            jobs=args.jobs,
            address=args.address,
            **settings,
        )
    finally:
        progress.close()
    print(result.table(args.format))
    print(f"\nrecords: {result.output}  (print again: harness report {result.output})", file=sys.stderr)
    return 1 if _any_failed(result.records) else 0


def cmd_tune(args) -> int:
    from harness.config import as_tuple
    from harness.progress import make_progress
    from harness.reporting.formats import check_text_format
    from harness.tuning import tune

    check_text_format(args.format)  # before anything trains
    lr_grid = as_tuple("lr-grid", args.lr_grid, float) if args.lr_grid else None
    registry = _registry(args)
    _warn_unavailable(registry)
    progress = make_progress()

    def on_event(kind, **data):
        if kind == "phase":
            progress.note(f"\n{data['name']}: {data['detail']}")
        elif kind == "untunable":
            config = data["config"]
            progress.note(f"no choice for {config.model_label} | {config.dataset_label} | {config.optimizer}: "
                          f"{data['reason']}")  # fmt: skip
        else:
            progress(kind, **data)

    try:
        result = tune(
            args.suite,
            lr_grid=lr_grid,
            search_seeds=args.search_seeds,
            seeds=args.seeds,
            output=args.output,
            registry=registry,
            on_event=on_event,
            launcher=args.launcher,
            jobs=args.jobs,
            address=args.address,
            rerun=args.rerun,
            **{k: v for k, v in _settings(args).items() if k not in ("seeds", "lr")},  # tune's own meaning
        )
    finally:
        progress.close()
    print(result.table(args.format))
    print(
        f"\nfinal records: {result.output / 'final'}; search: {result.output / 'search'}; "
        f"choices: {result.output / 'tuning.json'}",
        file=sys.stderr,
    )
    return 1 if _any_failed(result.final.records) else 0


def cmd_report(args) -> int:
    import harness.api as api

    def warn(path, problem):
        print(f"warning: skipped {path}: {problem}", file=sys.stderr)

    text = api.report(
        args.directory,
        args.format,
        stats=args.stats,
        test=args.test,
        output=args.output,
        plots=args.plots,
        plot_format=args.plot_format,
        on_skip=warn,
    )
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    if args.plots:
        print(f"figures in {args.plots}", file=sys.stderr)
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


COMMANDS = {
    "run": cmd_run,
    "tune": cmd_tune,
    "list": cmd_list,
    "plugins": cmd_plugins,
    "report": cmd_report,
    "compare": cmd_compare,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from harness.errors import HarnessError

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
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are stored; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
