"""The table of a tuning: one row per entry (workload x optimizer as named), over every study and final seed.

Each study of an entry may choose a different point, so a table of cells
would split one optimizer into as many rows as its studies chose points, and
hide how much of its score is tuning luck. This table gathers the final runs
of every study under the entry their ``tuning`` record names and reports the
test metric's mean and 95% CI over studies x seeds, the budget behind it, and
the values each study chose.
"""

from __future__ import annotations

from harness.reporting.stats import estimate
from harness.reporting.text import format_metric

HEADERS = ["model", "dataset", "optimizer", "test metric", "mean ± 95% CI", "runs", "studies", "trials/study",
           "sampler", "chosen (per study)"]  # fmt: skip


def tuned_records(runs) -> list[dict]:
    """The runs of a runs frame that a tuning chose, as the parts of their records this table reads."""
    import json

    if "tuning" not in runs or runs["tuning"].isna().all():
        return []
    chosen = runs[runs["tuning"].notna()]
    columns = [chosen[name].tolist() for name in ("tuning", "status", "test_metric", "metric", "metric_mode")]
    return [
        {"tuning": json.loads(tuning), "status": status, "results": {"test_metric": value}, "metric": metric,
         "metric_mode": mode}
        for tuning, status, value, metric, mode in zip(*columns, strict=True)
    ]  # fmt: skip


def tuned_rows(records: list[dict]) -> list[list]:
    """The rows of :func:`tuned_table`: by dataset, then model, the optimizers of each in the order they come."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        tuning = record.get("tuning") or {}
        entry = tuning.get("entry")
        if entry:
            groups.setdefault((entry["model"], entry["dataset"], entry["optimizer"]), []).append(record)
    rows = []
    for (model, dataset, optimizer), group in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        tuning = group[0]["tuning"]
        values = [(r.get("results") or {}).get("test_metric") for r in group if r.get("status") == "ok"]
        est = estimate([v for v in values if isinstance(v, (int, float))])
        failed = sum(r.get("status") != "ok" for r in group)
        runs = f"{len(group)}" + (f" ({failed} failed)" if failed else "")
        mean_ci = format_metric(est.mean, est.ci, group[0].get("metric_mode")) if est.n else "-"
        rows.append([model, dataset, optimizer, group[0].get("metric"), mean_ci, runs, tuning.get("studies"),
                     _budget(tuning), tuning.get("sampler"), _chosen(group)])  # fmt: skip
    return rows


def _budget(tuning: dict):
    """Trials per study, and with a pruner how many of all the studies' trials it stopped early: '16 (9 of 32
    pruned, median)'. A pruned budget is not a full one: the table says so."""
    trials = tuning.get("trials")
    if not tuning.get("pruner") or not isinstance(trials, int):
        return trials
    total = trials * (tuning.get("studies") or 1)
    return f"{trials} ({tuning.get('pruned', 0)} of {total} pruned, {tuning['pruner']})"


def _chosen(group: list[dict]) -> str:
    """Each distinct chosen point once, in study order: 'lr=0.003 (studies 0, 2); lr=0.01 (study 1)'."""
    points: dict[str, list[int]] = {}
    for record in group:
        tuning = record["tuning"]
        text = ", ".join(f"{key.removeprefix('optimizer.')}={_show(value)}" for key, value in
                         (tuning.get("chosen") or {}).items())  # fmt: skip
        studies = points.setdefault(text, [])
        studies += [s for s in tuning.get("chosen_by", []) if s not in studies]
    if len(points) == 1:
        return next(iter(points))
    parts = []
    for text, studies in sorted(points.items(), key=lambda item: min(item[1], default=0)):
        label = "study" if len(studies) == 1 else "studies"
        parts.append(f"{text} ({label} {', '.join(str(s) for s in sorted(studies))})")
    return "; ".join(parts)


def _show(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def spaces(records: list[dict]) -> dict[str, str]:
    """Each optimizer's searched space as one line: 'lr 0.0001..0.1 log; 1-betas[0] 0.001..0.5 log'."""
    found = {}
    for record in records:
        tuning = record.get("tuning") or {}
        if tuning.get("entry") and tuning.get("space"):
            text = "; ".join(f"{key.replace('optimizer.', '')} {text}" for key, text in tuning["space"].items())
            found.setdefault(tuning["entry"]["optimizer"], text)
    return dict(sorted(found.items()))


def tuned_table(records: list[dict], fmt: str = "simple") -> str:
    """The tuning's table in a tabulate format, and below it the space each optimizer was searched over.

    csv: the table's columns as comma-separated values, nothing below.
    """
    rows = tuned_rows(records)
    if fmt == "csv":
        import csv
        import io

        out = io.StringIO()
        csv.writer(out).writerows([HEADERS, *rows])
        return out.getvalue()
    from tabulate import tabulate

    table = tabulate(rows, headers=HEADERS, tablefmt=fmt, disable_numparse=True)
    searched = [[name, text] for name, text in spaces(records).items()]
    if not searched:
        return table
    below = tabulate(searched, headers=["optimizer", "search space"], tablefmt=fmt, disable_numparse=True)
    return f"{table}\n\n{below}"
