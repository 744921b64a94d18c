"""One row per run -> one row per cell (its runs over seeds), and the workloads cells compete in.

A cell is every record whose config is equal except for the seed, on the
same device (:func:`harness.records.cell_identity`), so runs with different
epochs, learning rates, precisions or hardware are never averaged together.
Cells compete within a workload (:func:`cell_table`); the numbers about that
competition come from :mod:`harness.reporting.stats`. There, a tuning's final
runs compete as the entries they were tuned for, every study's chosen point
together (:func:`entry_runs`).

Every aggregate is computed for all cells at once (:mod:`harness.reporting.grouped`),
with the same numbers the one-cell definitions below give: a 100,000-run
report has no Python loop per run, and per cell only the text work its
settings need (:mod:`harness.reporting.workloads`).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from harness.records import canonical
from harness.reporting.frames import CELL_SETTINGS
from harness.reporting.grouped import Groups, exact_means, medians, nonempty_text, present, real_numbers, split, truthy
from harness.reporting.samples import rank_order, segment_estimates
from harness.reporting.text import grouped_differences
from harness.reporting.values import missing, natural_key
from harness.reporting.workloads import cell_keys, edited_texts, parse_settings

#: Statuses that are neither a success nor a crash: counted in their own column.
DIVERGED = "diverged"
#: A tuning trial stopped early on purpose, and a model that cannot take the dataset: neither a success nor a
#: failure (the status column says which, and why).
NOT_FAILED = ("pruned", "incompatible")


#: The columns of :func:`summary_frame`, in order (``settings`` is inserted after ``batch`` when needed).
SUMMARY_COLUMNS = [
    "cell",
    "model",
    "dataset",
    "optimizer",
    "batch",
    "metric",
    "metric_mode",
    "mean",
    "std",
    "ci95",
    "n",
    "rank",
    "failed",
    "diverged",
    "status",
    "samples_per_s",
    "tokens_per_s",
    "step_ms",
    "peak_mem_mib",
    "memory_kind",
    "params",
    "train_s",
    "target",
    "time_to_target_s",
    "reached_target",
    "trials",
    "device",
    "disturbed",
    "timing_notes",
    "energy_j",
    "samples_per_j",
    "energy_absent",
]

#: Config fields that make a cell's model, and its optimizer (schedule included): what competes in a workload.
MODEL_FIELDS = ("model", "model_params", "model_label")


OPTIMIZER_FIELDS = ("optimizer", "optimizer_params", "optimizer_label", "schedule", "schedule_params")


class CellRuns:
    """A runs frame grouped into cells (in order of first appearance): its runs as recorded, and by seed.

    ``by_seed`` walks each cell's runs by seed (gaps last, ties as recorded), the
    order a cell's first label or failure is read in; ``as_recorded`` keeps the frame's.
    """

    def __init__(self, runs):
        import pandas as pd

        codes, cells = pd.factorize(runs["cell"], use_na_sentinel=False)
        self.runs, self.cells, self.count = runs, cells.tolist(), len(cells)
        self.as_recorded = Groups(codes, self.count)
        self.by_seed = Groups(codes, self.count, _seed_order(runs, codes))
        self.ok = runs["status"].eq("ok").to_numpy(dtype=bool, na_value=False)

    def first_present(self, column: str, by_seed: bool = True, ok: bool = False) -> list:
        """:func:`harness.reporting.values.first_present` of a column in every cell (of its ok runs only if ``ok``)."""
        groups = self.by_seed if by_seed else self.as_recorded
        series = self.runs[column]
        mask = present(series) & self.ok if ok else present(series)
        return groups.first(series, mask)

    def numbers(self, column: str, by_seed: bool = True, finite: bool = False):
        """The real numbers of a column over each cell's ok runs, as segments: ``(values, sizes)``."""
        values = real_numbers(self.runs[column])
        mask = self.ok & np.isfinite(values) if finite else self.ok
        return (self.by_seed if by_seed else self.as_recorded).segments(values, mask)

    def settings(self) -> tuple[list[str], list[dict]]:
        """Each cell's settings: the text of its first run, and that text parsed."""
        texts = self.first_present(CELL_SETTINGS, by_seed=False)
        return texts, parse_settings(texts)


def _seed_order(runs, codes) -> np.ndarray:
    """The rows by seed, gaps last, ties in frame order: within each cell, ``sort_values("seed", kind="stable")``."""
    seeds = runs["seed"].reset_index(drop=True)
    try:
        return seeds.sort_values(kind="stable", na_position="last").index.to_numpy()
    except TypeError:  # seeds no single order covers (numbers in one cell, text in another): sort cell by cell
        order = np.argsort(codes, kind="stable")
        pieces = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
        return np.concatenate([seeds.iloc[p].sort_values(kind="stable", na_position="last").index for p in pieces])


def _whole(values: list) -> list:
    return [None if v is None else int(v) for v in values]


def _summary_columns(cells: CellRuns) -> dict:
    """Every column of :func:`summary_frame` but ``rank``, one value per cell."""
    runs, ok = cells.runs, cells.ok
    scores = segment_estimates(*cells.numbers("test_metric", finite=True))
    status = runs["status"]
    n_ok = np.bincount(cells.as_recorded.codes[ok], minlength=cells.count)
    reached, reached_n = cells.numbers("time_to_target_s")
    other = ~status.isin(["ok", DIVERGED, *NOT_FAILED]).to_numpy(dtype=bool)
    diverged = status.eq(DIVERGED).to_numpy(dtype=bool, na_value=False)
    return {
        "cell": cells.cells,
        "model": cells.first_present("model_label"),
        "dataset": cells.first_present("dataset_label"),
        "optimizer": cells.first_present("optimizer_label"),
        "batch": _whole(cells.first_present("batch_size")),
        "metric": cells.first_present("metric"),
        "metric_mode": cells.first_present("metric_mode"),
        "mean": scores.mean,
        "std": scores.std,  # sample std (n-1)
        "ci95": scores.ci,  # half-width of the 95% t interval; NaN below two seeds
        "n": n_ok,
        "rank": [None] * cells.count,  # filled in by summary_frame, which sees the whole workload
        "failed": np.bincount(cells.as_recorded.codes[other], minlength=cells.count),
        "diverged": np.bincount(cells.as_recorded.codes[diverged], minlength=cells.count),
        "status": _statuses(cells, n_ok),
        "samples_per_s": exact_means(*cells.numbers("samples_per_s")),
        "tokens_per_s": exact_means(*cells.numbers("tokens_per_s")),
        "step_ms": medians(*cells.numbers("step_time_median_ms")),
        "peak_mem_mib": exact_means(*cells.numbers("peak_memory_mb")),
        "memory_kind": cells.first_present("memory_kind", ok=True),
        "params": _whole(cells.first_present("params", ok=True)),
        "train_s": exact_means(*cells.numbers("train_time_s")),
        "target": cells.first_present("target"),
        "time_to_target_s": exact_means(reached, reached_n),
        "reached_target": reached_n,
        "trials": cells.first_present("trials"),
        "device": cells.first_present("device"),
        "disturbed": _disturbed(cells),
        "timing_notes": _timing_notes(cells),
        "energy_j": exact_means(*cells.numbers("energy_j")),  # joules of the training epochs, mean over seeds
        "samples_per_j": exact_means(*cells.numbers("samples_per_j")),
        "energy_absent": cells.first_present("energy_absent"),  # why a run measured none
    }


def _statuses(cells: CellRuns, n_ok: np.ndarray) -> list[str]:
    """'ok' when any seed worked, else the first failure's status and reason (the table shows it)."""
    runs = cells.runs
    failed = np.flatnonzero(n_ok == 0)
    first = np.array(cells.by_seed.first(np.arange(len(runs)), np.ones(len(runs), dtype=bool)), dtype=object)
    rows = first[failed].astype(np.int64)
    statuses = ["ok"] * cells.count
    first_status, first_reason = (runs[c].to_numpy(dtype=object)[rows].tolist() for c in ("status", "reason"))
    for code, status, reason in zip(failed.tolist(), first_status, first_reason, strict=True):
        statuses[code] = f"{status}: {reason}" if not missing(reason) else str(status)
    return statuses


def _disturbed(cells: CellRuns) -> np.ndarray:
    """How many ok runs of each cell said their timing cannot be trusted."""
    flagged = truthy(cells.runs["timing_disturbed"]) & cells.ok
    return np.bincount(cells.as_recorded.codes[flagged], minlength=cells.count)


def _timing_notes(cells: CellRuns) -> list[str]:
    """The distinct reasons each cell's ok runs gave for distrusting their timing, in the order first seen."""
    notes = cells.runs["timing_notes"]
    texts = notes.to_numpy(dtype=object)
    rows, _ = cells.by_seed.select(nonempty_text(notes) & cells.ok)
    reasons: dict[int, list[str]] = {}
    for code, text in zip(cells.by_seed.codes[rows].tolist(), texts[rows].tolist(), strict=True):
        reasons.setdefault(code, []).extend(text.split("; "))
    return ["; ".join(dict.fromkeys(reasons.get(code, ()))) for code in range(cells.count)]


def _settings_column(summary, settings: list[dict]) -> list[str] | None:
    """A ``settings`` value per row when two cells would otherwise render identically, else None."""
    import pandas as pd

    labels = [summary[c].astype(object) for c in ("model", "dataset", "optimizer", "batch")]
    shown = [column.where(present(column), "").astype(str).tolist() for column in labels]  # str(v), '' for gaps
    alike, _ = pd.factorize(pd.Series(list(zip(*shown, strict=True)), dtype=object))
    sizes = np.bincount(alike, minlength=alike.max(initial=-1) + 1)[alike]
    if (sizes == 1).all():
        return None
    repeated = np.flatnonzero(sizes > 1)
    column = [""] * len(summary)
    differing = grouped_differences([settings[p] for p in repeated], alike[repeated])
    for position, text in zip(repeated.tolist(), differing, strict=True):
        column[position] = text
    return column


def summary_frame(runs):
    """One row per cell: the test metric's mean, sample std and 95% CI over ok seeds, its rank, counts, and costs.

    Columns are :data:`SUMMARY_COLUMNS`: ``n`` counts ok seeds, ``ci95`` is
    the half-width of the mean's t interval, ``rank`` the place among the
    cells of its workload (1 is best, see :func:`cell_table`), ``failed`` the
    runs that crashed (``diverged``, ``pruned`` and ``incompatible`` apart), ``step_ms`` the median of the
    runs' median step times, ``time_to_target_s`` the mean over the runs that
    reached the target, ``disturbed`` the ok runs whose own timing said it
    cannot be trusted (see :mod:`harness.reporting.frames`) and
    ``timing_notes`` their distinct reasons: every table marks that cell's
    speed columns. ``settings`` appears only when two cells share every
    label, so no two rows of a table read the same.
    """
    import pandas as pd

    if runs.empty:
        return pd.DataFrame([], columns=SUMMARY_COLUMNS)
    cells = CellRuns(runs)
    summary = pd.DataFrame(_summary_columns(cells), columns=SUMMARY_COLUMNS)
    texts, settings = cells.settings()
    summary["rank"] = _ranks(cells, texts, settings)
    summary = summary.astype({"batch": "Int64", "params": "Int64", "rank": "Int64"})  # whole numbers or <NA>
    column = _settings_column(summary, settings)
    if column is not None:
        summary.insert(summary.columns.get_loc("batch") + 1, "settings", column)
    return summary.iloc[row_order(summary)].reset_index(drop=True)


def _ranks(cells: CellRuns, texts: list[str], settings: list[dict]):
    """Each cell's rank in its workload (:func:`harness.reporting.stats.rank_cells`'s), NaN where unranked."""
    metrics = cells.first_present("metric", by_seed=False)
    workloads = edited_texts(texts, settings, MODEL_FIELDS + OPTIMIZER_FIELDS, "metric", metrics)
    means = segment_estimates(*cells.numbers("test_metric", by_seed=False, finite=True)).mean
    ranked, ranks, _ = rank_order(workloads, cells.first_present("metric_mode", by_seed=False), means)
    out = np.full(cells.count, np.nan)
    out[ranked] = ranks
    return out


def row_order(summary) -> np.ndarray:
    """Rows by dataset, model, optimizer, batch size, then the settings that tell cells apart (natural order)."""
    columns = [c for c in ("dataset", "model", "optimizer", "batch", "settings") if c in summary]
    return np.lexsort([natural_codes(summary[c]) for c in reversed(columns)])


def natural_codes(column) -> np.ndarray:
    """Integers that sort a column as :func:`harness.reporting.values.natural_key` does (equal keys, equal codes)."""
    import pandas as pd

    codes, uniques = pd.factorize(column, use_na_sentinel=False)
    keys = [natural_key(value) for value in uniques.tolist()]
    ordered = sorted(range(len(keys)), key=keys.__getitem__)
    place = np.zeros(len(keys), dtype=np.int64)
    for rank, (previous, current) in enumerate(zip([None, *ordered], ordered, strict=False)):
        place[current] = rank if previous is None or keys[previous] != keys[current] else place[previous]
    return place[codes]


#: How the statistics name a tuned entry (``harness tune``): the optimizer as the user named it, marked as tuned,
#: so that it never merges with untuned runs of that optimizer in the same folder.
TUNED_NAME = "{optimizer} (tuned)"


def _searched(address: str) -> tuple[str, str]:
    """``("optimizer_params", "betas")`` for ``1-optimizer.betas[0]``, an address a tuning's space or choice names."""
    part, _, name = address.removeprefix("1-").partition(".")
    return f"{part}_params", name.split("[", 1)[0]


def _as_entry(settings_text: str, tuning_text: str) -> tuple[str, str, str] | None:
    """The settings text, model label and optimizer label of the cell a tuned run joins: its entry's, without the
    parameters the tuning searched (each study chose its own); None when its ``tuning`` names no entry."""
    tuning = json.loads(tuning_text)
    entry = tuning.get("entry") if isinstance(tuning, dict) else None
    if not isinstance(entry, dict) or not entry.get("optimizer"):
        return None
    settings = json.loads(settings_text)
    for address in {*(tuning.get("space") or {}), *(tuning.get("chosen") or {})}:
        part, name = _searched(address)
        if isinstance(settings.get(part), dict):
            settings[part].pop(name, None)
    settings["model_label"] = entry.get("model") or settings.get("model_label")
    settings["optimizer_label"] = TUNED_NAME.format(optimizer=entry["optimizer"])
    return canonical(settings), settings["model_label"], settings["optimizer_label"]


def _replaced(column, rows: np.ndarray, values: np.ndarray):
    """``column`` with the values at positions ``rows`` replaced (its dtype kept)."""
    out = column.copy()
    out.iloc[rows] = values
    return out


def entry_runs(runs):
    """``runs`` with a tuning's final runs regrouped so that all the studies of one entry are one cell.

    Each study of an entry (model x dataset x optimizer as the user named them, ``harness tune``) may choose
    its own point; a cell per point would split one tuned optimizer into several contestants. Every run whose
    ``tuning`` names an entry joins its entry's cell instead: its settings without the searched parameters,
    labelled by the entry (:data:`TUNED_NAME`), whose runs are every study x seed (a point two studies chose
    is one set of runs, counted once, as the tuning's own table counts them). Other rows are unchanged; a
    frame without such a run comes back as it is. Per distinct cell and tuning, not per run.
    """
    import pandas as pd

    if "tuning" not in runs.columns:
        return runs
    rows = np.flatnonzero(runs["tuning"].notna().to_numpy(dtype=bool))
    if not len(rows):
        return runs
    tuned = runs.iloc[rows]
    # canonical JSON escapes control characters, so NUL cannot occur inside either text
    codes, pairs = pd.factorize(tuned[CELL_SETTINGS].astype(str) + "\0" + tuned["tuning"].astype(str))
    found = [_as_entry(*pair.split("\0", 1)) for pair in pairs.tolist()]
    joins = np.array([entry is not None for entry in found], dtype=bool)[codes]
    if not joins.any():
        return runs
    rows, codes = rows[joins], codes[joins]
    found = [entry or ("", None, None) for entry in found]
    ids = [hashlib.sha256(text.encode()).hexdigest()[:12] for text, _, _ in found]  # as a record's cell is named
    columns = {"cell": _replaced(runs["cell"], rows, np.array(ids, dtype=object)[codes])}
    for position, name in enumerate((CELL_SETTINGS, "model_label", "optimizer_label")):
        columns[name] = _replaced(runs[name], rows, np.array([e[position] for e in found], dtype=object)[codes])
    return runs.assign(**columns)


def cell_table(runs):
    """One row per cell with what :mod:`harness.reporting.stats` needs to compare cells.

    ``workload`` groups the cells where models and optimizers compete: the
    same dataset (hence task and metric) with every other setting equal
    (epochs, batch size, precision, device, target...). ``problem`` groups
    the cells where only optimizers compete: the same model too, as in
    AlgoPerf's workloads. ``optimizer_key`` names the optimizer side (with
    its hyper-parameters and schedule) across problems. ``values`` are the ok
    seeds' test metrics; ``times`` each run's seconds to target, None where a
    run never got there (failed and diverged runs included), empty without a target.
    A tuning's final runs compete as their entries (:func:`entry_runs`), not as
    the points its studies chose.
    """
    import pandas as pd

    columns = ["cell", "settings", "workload", "problem", "optimizer_key", "model", "dataset", "optimizer"]
    columns = [*columns, "mode", "values", "target", "times"]
    if runs.empty:
        return pd.DataFrame([], columns=columns)
    cells = CellRuns(entry_runs(runs))
    texts, settings = cells.settings()
    metrics = cells.first_present("metric", by_seed=False)
    target = cells.first_present("target", by_seed=False)
    values, sizes = cells.numbers("test_metric", by_seed=False)
    competing = [(MODEL_FIELDS + OPTIMIZER_FIELDS, "metric", metrics), (OPTIMIZER_FIELDS, "metric", metrics)]
    (workloads, problems), optimizer_keys = cell_keys(texts, settings, competing, OPTIMIZER_FIELDS)
    table = {
        "cell": cells.cells,
        "settings": settings,
        "workload": workloads,
        "problem": problems,
        "optimizer_key": optimizer_keys,
        "model": cells.first_present("model_label", by_seed=False),
        "dataset": cells.first_present("dataset_label", by_seed=False),
        "optimizer": cells.first_present("optimizer_label", by_seed=False),
        "mode": cells.first_present("metric_mode", by_seed=False),
        "values": split(values.tolist(), sizes),
        "target": target,
        "times": _times(cells, target),
    }
    return pd.DataFrame(table, columns=columns)


def _times(cells: CellRuns, target: list) -> list[list]:
    """Each run's seconds to target (None where an ok run has no number, and for every other run); [] without
    a target."""
    seconds = np.where(cells.ok, real_numbers(cells.runs["time_to_target_s"], flags=True), np.nan)
    timed = np.array([t is not None for t in target], dtype=bool)
    rows, sizes = cells.as_recorded.select(timed[cells.as_recorded.codes])
    per_cell = iter(split([None if t != t else t for t in seconds[rows].tolist()], sizes[timed]))
    return [next(per_cell) if has_target else [] for has_target in timed.tolist()]
