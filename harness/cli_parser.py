"""What the ``harness`` command line accepts: the argument parser of every subcommand.

Kept apart from :mod:`harness.cli` (what the commands do) so the options can be read in one place. It imports
nothing but argparse, so ``harness --help`` stays fast.
"""

from __future__ import annotations

import argparse

KIND_ARGS = {"models": "model", "datasets": "dataset", "optimizers": "optimizer"}
TESTS = ("welch", "bootstrap")  # harness.reporting.stats, named here so --help needs no numpy
PRUNERS = ("median", "hyperband")  # harness.train.pruning's, named here as the tests check


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: 'harness run: error: ...', and no abbreviated options.

    With abbreviations, ``harness tune --lr 0.1`` would silently mean ``--lr-grid 0.1``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _positive(what: str):
    """An argparse type for a whole number of at least 1; ``what`` names it in the error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"expected a {what} of at least 1, got {text!r}")
        return value

    return parse


def seeds_option(text: str) -> int | tuple[int, ...]:
    """``--seeds``: a count N (an int: seeds 0..N-1) or a comma list of the seeds themselves (a tuple of ints).

    Only the form is checked here; the range and repeats are checked with the
    suite's seeds (:mod:`harness.suite_rules`), whichever way they were given.
    """
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a count N (seeds 0..N-1) or a comma list of whole numbers (42,43,44), got {text!r}"
        ) from None
    return seeds[0] if len(seeds) == 1 else tuple(seeds)


def _common(parser: argparse.ArgumentParser) -> None:
    """Options of every command that loads plugins, plus --debug."""
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


# ---------------------------------------------------------------------------
# A sweep's options, one function per --help group
# ---------------------------------------------------------------------------


def _grid_arguments(parser: argparse.ArgumentParser, tuning: bool) -> None:
    """What is trained; ``tune`` searches learning rates instead of taking --lr, and defaults to more seeds."""
    grid = parser.add_argument_group("grid (comma lists; wildcards; NAME[key=value,...] overrides)")
    grid.add_argument("--models", "-m", help="e.g. 'mlp[hidden=[256,128]],logreg'")
    grid.add_argument("--datasets", "-d", help="e.g. 'digits'")
    grid.add_argument("--optimizers", "-o", help="e.g. 'sgd[momentum=0.9],adam' or 'sgd*'")
    if tuning:
        _search_arguments(parser)
        grid.add_argument(
            "--seeds",
            type=seeds_option,
            default=3,
            metavar="N|S1,S2,...",
            help="seeds of the final runs at the chosen rate: a count N (0..N-1; default 3) or the seeds, 42,43,44",
        )
    else:
        grid.add_argument(
            "--seeds",
            type=seeds_option,
            metavar="N|S1,S2,...",
            help="seeds per cell: a count N (seeds 0..N-1) or the seeds themselves, e.g. 42,43,44",
        )
        grid.add_argument("--lr", help="learning rate(s) for every optimizer, e.g. 0.1,0.01")
    grid.add_argument(
        "--schedule",
        help="learning-rate schedule(s): constant (default), step, cosine, warmup_cosine, onecycle; "
        "e.g. 'cosine,warmup_cosine[warmup=0.1]'",
    )
    grid.add_argument("--batch-size", help="batch size(s), e.g. 64 or 32,128")
    grid.add_argument(
        "--max-runs",
        type=_positive("number of runs"),
        metavar="N",
        help="refuse a grid of more than N runs before anything trains (default 100000; suite key max_runs)",
    )


def _search_arguments(parser: argparse.ArgumentParser) -> None:
    """``tune``'s budget and search: the same for every optimizer on every workload."""
    search = parser.add_argument_group("search (an equal budget for every optimizer on every workload)")
    search.add_argument(
        "--trials",
        type=_positive("number of trials"),
        metavar="N",
        help="points of the search space tried per study (default 5; with --sampler grid, the grid's size)",
    )
    search.add_argument(
        "--studies",
        type=_positive("number of studies"),
        default=1,
        metavar="K",
        help="independent repetitions of the whole search with different sampler seeds, to show tuning luck (1)",
    )
    search.add_argument(
        "--sampler",
        choices=("quasirandom", "tpe", "grid"),
        help="quasirandom (the default, as AlgoPerf: a scrambled Halton sequence), tpe (Optuna's TPE), or grid (the "
        "learning rate alone, --lr-grid; the default when --lr-grid is given)",
    )
    search.add_argument(
        "--space",
        action="append",
        metavar="NAME=RANGE",
        help="override a searched range (repeatable): lr=1e-4:1e-1:log, adam.weight_decay=1e-5:1e-2:log, "
        "1-betas[0]=1e-3:0.5:log (searches 1 - beta1), model.dropout=0:0.5, model.hidden=64|128, "
        "schedule.warmup=0.01:0.1, weight_decay=off (the built-in optimizers' spaces: README, Tuning)",
    )
    search.add_argument(
        "--lr-grid",
        help="with --sampler grid: learning rates to try for every optimizer, e.g. 0.3,0.1,0.03 "
        "(default: 0.1x, 0.3x, 1x, 3x and 10x each optimizer's own default)",
    )
    search.add_argument("--search-seeds", type=int, default=1, help="seeds per trial in the search (1)")
    search.add_argument(
        "--prune",
        choices=PRUNERS,
        help="stop a trial early when its per-epoch validation curve trails its study's others: median (Optuna's "
        "median pruner, after 5 trials and 2 epochs) or hyperband (Optuna's Hyperband, 1 epoch to the whole budget, "
        "keeping 1 in 3); the table says how many trials were pruned. Needs --search-seeds 1",
    )


def _training_arguments(parser: argparse.ArgumentParser) -> None:
    """How each run trains; None (not given) leaves the suite file's value."""
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


def _speed_arguments(parser: argparse.ArgumentParser) -> None:
    """Speed-ups; the flags default to None, not False, so that leaving one out keeps the suite file's value."""
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


def _execution_arguments(parser: argparse.ArgumentParser) -> None:
    """Where the runs go: these pick the launcher, they are not suite keys."""
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
        type=_positive("number of workers"),
        metavar="N",
        help="runs side by side, in N workers sharing the CPU cores (default: one per GPU when there are several, "
        "else 1; with --launcher ray: one per GPU of the cluster, else one per node)",
    )
    execution.add_argument(
        "--threads",
        type=_positive("number of threads"),
        metavar="N",
        help="CPU threads per worker; default: OMP_NUM_THREADS when set, else the cores divided among the workers",
    )


def _failure_arguments(parser: argparse.ArgumentParser) -> None:
    """What happens to a run that hangs or runs out of memory."""
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


def _output_arguments(parser: argparse.ArgumentParser, tuning: bool) -> None:
    """Where records go and how the table prints; ``tune`` keeps its two phases under one directory."""
    out = parser.add_argument_group("output")
    out.add_argument(
        "--output",
        help="results directory (default: results/<suite name>"
        + ("-tuned, holding search/ and final/)" if tuning else ")"),
    )
    out.add_argument("--rerun", action="store_true", help="run again cells that already have a finished record")
    if not tuning:
        out.add_argument(
            "--plan",
            action="store_true",
            help="train nothing: say how many runs of the grid are finished (reused) and which would be trained",
        )
    out.add_argument(
        "--format",
        default="simple",
        help="table format: any tabulate format (plain, github, latex, ...), csv (one row per run) or html",
    )


def _sweep_arguments(parser: argparse.ArgumentParser, tuning: bool = False) -> None:
    """The options of a sweep, shared by ``run`` and ``tune`` (which searches the learning rate instead).

    The groups are added in the order --help lists them.
    """
    parser.add_argument(
        "suite",
        nargs="?",
        help="a TOML suite file, or the name of a built-in suite: default, mnist1d-paper (default: default)",
    )
    _grid_arguments(parser, tuning)
    _training_arguments(parser)
    _speed_arguments(parser)
    _execution_arguments(parser)
    _failure_arguments(parser)
    _output_arguments(parser, tuning)
    _common(parser)


# ---------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------


def _add_run(commands) -> None:
    run = commands.add_parser("run", help="train the grid and print the table (default: the built-in suite)")
    _sweep_arguments(run)


def _add_tune(commands) -> None:
    tune = commands.add_parser(
        "tune",
        help="search a learning-rate grid per optimizer per workload on validation, then train the best with N seeds",
    )
    _sweep_arguments(tune, tuning=True)


def _add_list(commands) -> None:
    lister = commands.add_parser("list", help="list models, datasets and optimizers")
    lister.add_argument("kind", nargs="?", choices=list(KIND_ARGS), help="only this kind")
    lister.add_argument(
        "pattern",
        nargs="?",
        help="only the names matching this wildcard; under a family's prefix it lists the family ('timm/*vit*')",
    )
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    _common(lister)


def _add_show(commands) -> None:
    show = commands.add_parser(
        "show", help="one model, dataset or optimizer: its plugin, parameters (type, default, search range), pairs"
    )
    show.add_argument("name", help="a model, dataset or optimizer name (a family member too: timm/resnet18)")
    show.add_argument("--kind", choices=list(KIND_ARGS.values()), help="when the name is of several kinds")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    _common(show)


def _add_plugins(commands) -> None:
    plugins = commands.add_parser("plugins", help="list plugins with their distribution, version and hooks")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    _common(plugins)


def _add_report(commands) -> None:
    """``report`` reads stored records; it loads the plugins only for the results they ship (``--references``
    and a table's reference column), which is what its plugin options are for."""
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
    report.add_argument(
        "--no-index",
        action="store_true",
        help="read every record file, ignoring and leaving alone the run index (DIR/runs.index.parquet, a cache "
        "that makes a second report read only the records that changed)",
    )
    report.add_argument(
        "--references",
        action="store_true",
        help="list every published or computed result the plugins ship (model, dataset, value, spread or "
        "tolerance, protocol, source) and whether the runs in DIRECTORY agree with it",
    )
    _common(report)


def _add_compare(commands) -> None:
    """``compare`` reads stored records only, so it takes no plugin options."""
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


def _add_new_plugin(commands) -> None:
    """``new-plugin`` writes files only: it loads no plugin, so it takes no plugin options."""
    new = commands.add_parser(
        "new-plugin", help="write a plugin package to start from: installable, with tests that pass (harness.testing)"
    )
    new.add_argument(
        "name",
        help="lowercase letters, digits, _ (demo: package and entry point harness_demo, distribution harness-demo, "
        "specs demo_model, demo_dataset, demo_optimizer)",
    )
    for kind, what in (("model", "a model (an MLP)"), ("dataset", "a dataset (Gaussian blobs made offline)"),
                       ("optimizer", "an optimizer (plain SGD)")):  # fmt: skip
        new.add_argument(f"--{kind}", action="store_true", help=f"include {what}; none given: all three")
    new.add_argument("--output", metavar="DIR", help="where to write it (default: ./harness-NAME); new or empty")
    new.add_argument("--debug", action="store_true", help="show tracebacks for errors")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; subcommands are added in the order ``harness --help`` lists them."""
    parser = _Parser(prog="harness", description="Benchmark deep-learning models, datasets and optimizers fairly.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for add in (_add_run, _add_tune, _add_list, _add_show, _add_plugins, _add_report, _add_compare, _add_new_plugin):
        add(commands)
    return parser
