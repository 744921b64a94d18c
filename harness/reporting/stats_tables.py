"""Statistics across cells -> tables: significance against the best, optimizer wins, performance profiles,
and optimizers (or models) over many workloads.

The numbers come from :mod:`harness.reporting.stats` and :mod:`harness.reporting.across_workloads`;
this module picks the cells each table compares, names them readably and lays the results out.
The cell table is built once for all of them (:func:`stats_parts`), and every
column is computed for all cells at once.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import numpy as np

from harness.records import canonical
from harness.reporting.across_tables import across_parts
from harness.reporting.cells import MODEL_FIELDS, OPTIMIZER_FIELDS, cell_table, natural_codes
from harness.reporting.formats import check_format
from harness.reporting.text import fixed, format_metric, grouped_readable_names
from harness.reporting.values import missing


def _only(settings: dict, fields: tuple[str, ...]) -> dict:
    return {k: settings.get(k) for k in fields}


def _test_name(test: str) -> str:
    from harness.reporting.stats import BOOTSTRAP, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, WELCH

    if test == WELCH:
        return "Welch's t-test"
    if test == BOOTSTRAP:
        return f"percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED})"
    return test


def _verdict(best: bool, test: str, note: str, worse: bool, p_value: float) -> str:
    """How a ranked cell stands against the best of its workload."""
    if best:
        return "best"
    if test == "none":
        return note
    word = "worse" if worse else "not significant"
    return f"{word}, p={p_value:.3g} ({test})"


def _names_by_key(keys, labels) -> dict:
    """key -> readable name (:func:`harness.reporting.text.readable_names`) of ``{key: (label, json.loads(key))}``
    built row by row: each key once, in order of first appearance, with the label of its last row."""
    keys, labels = (v.tolist() if hasattr(v, "tolist") else list(v) for v in (keys, labels))
    last = dict(zip(keys, labels, strict=True))  # a later row's label replaces an earlier one's, not its place
    entries = [(label, json.loads(key)) for key, label in last.items()]
    return dict(zip(last, grouped_readable_names(entries, [0] * len(entries)), strict=True))


def _sorted_by(frame, columns: list[str]):
    """``frame`` sorted by the natural order of ``columns`` (stable), index reset."""
    return frame.iloc[np.lexsort([natural_codes(frame[c]) for c in reversed(columns)])].reset_index(drop=True)


def significance_frame(runs, alpha: float | None = None, test: str | None = None, cells=None):
    """Every cell of a workload with two or more ranked cells: its rank, mean ± CI, and its test against the best.

    ``cells`` is :func:`harness.reporting.cells.cell_table` of ``runs`` when the caller has it already.
    """
    import pandas as pd

    from harness.reporting.samples import estimates
    from harness.reporting.stats import ALPHA, WELCH, rank_cells

    cells = cell_table(runs) if cells is None else cells
    ranked = rank_cells(cells, ALPHA if alpha is None else alpha, test or WELCH)
    if ranked.empty:
        return pd.DataFrame()
    frame = cells.merge(ranked.drop(columns=["mean", "n"]), on="cell")
    frame = frame[frame.groupby("workload")["cell"].transform("size") > 1]
    if frame.empty:
        return pd.DataFrame()
    workloads = _names_by_key(frame["workload"], frame["dataset"])
    metrics = {key: json.loads(key)["metric"] for key in workloads}
    competing = MODEL_FIELDS + OPTIMIZER_FIELDS
    group, _ = pd.factorize(frame["workload"])
    labels = [f"{m} / {o}" for m, o in zip(frame["model"].tolist(), frame["optimizer"].tolist(), strict=True)]
    entries = [(label, _only(s, competing)) for label, s in zip(labels, frame["settings"].tolist(), strict=True)]
    scores = estimates(frame["values"])
    verdicts = zip(*(frame[c].tolist() for c in ("best", "test", "note", "worse", "p_value")), strict=True)
    out = pd.DataFrame(
        {
            "workload": frame["workload"].map(workloads),
            "cell": frame["cell"],
            "contestant": grouped_readable_names(entries, group),
            "metric": frame["workload"].map(metrics),
            "metric_mode": frame["mode"],
            "rank": frame["rank"],
            "mean": scores.mean.tolist(),
            "ci95": scores.ci.tolist(),
            "n": [len(v) for v in frame["values"].tolist()],
            "p_value": frame["p_value"],
            "test": frame["test"],
            "vs_best": [_verdict(*row) for row in verdicts],
        }
    )
    return _sorted_by(out, ["workload", "rank"])


def _optimizer_cells(runs, cells=None):
    """The cell table with readable names for each problem (model × dataset) and each optimizer."""
    cells = cell_table(runs) if cells is None else cells.copy()
    problems = [f"{m} on {d}" for m, d in zip(cells["model"].tolist(), cells["dataset"].tolist(), strict=True)]
    cells["problem_name"] = cells["problem"].map(_names_by_key(cells["problem"], problems))
    cells["contestant"] = cells["optimizer_key"].map(_names_by_key(cells["optimizer_key"], cells["optimizer"]))
    return cells[cells.groupby("problem")["cell"].transform("size") > 1]


def wins_frame(runs, alpha: float | None = None, test: str | None = None, cells=None):
    """Per problem (model × dataset, other settings equal) with two or more optimizers: who won, and how surely."""
    from harness.reporting.stats import ALPHA, WELCH, win_table

    cells = _optimizer_cells(runs, cells)
    table = win_table(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "mode", "values"]],
        ALPHA if alpha is None else alpha,
        test or WELCH,
    )
    return _sorted_by(table, ["workload"])


def profile_frame(runs, taus=None, cells=None):
    """AlgoPerf-style performance profile of the optimizers over the problems that have a target (empty if none)."""
    import pandas as pd

    from harness.reporting.stats import PROFILE_TAUS, performance_profile

    cells = _optimizer_cells(runs, cells)
    cells = cells[cells["target"].notna()]
    if cells.empty:
        return pd.DataFrame()
    return performance_profile(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "times"]], taus or PROFILE_TAUS
    )


def _winner_text(outcome: str, winner, tied, best) -> str:
    from harness.reporting.stats import ALONE, TIE, WIN

    if outcome == WIN:
        return winner
    if outcome == TIE:
        return "tie: " + ", ".join(tied)
    if outcome == ALONE:
        return f"{best} (the others have no ok runs)"
    return "none: too few seeds to test"


def _table(title: str, frame, fmt: str) -> str:
    """A titled table (or, when ``frame`` is None, the title alone); in CSV the title is a '# ' line so each block
    still parses with comment='#'."""
    from harness.reporting.simple_table import simple_table

    if frame is None:  # a message, no table
        return f"# {title}" if fmt == "csv" else title
    if fmt == "csv":
        return f"# {title}\n" + frame.to_csv(index=False).rstrip("\n")
    text = None
    if fmt == "simple":
        text = simple_table([str(c) for c in frame.columns], [frame[c].tolist() for c in frame.columns])
    if text is None:
        from tabulate import tabulate

        text = tabulate(frame, headers="keys", tablefmt=fmt, showindex=False, disable_numparse=True)
    return f"{title}\n\n" + text


def stats_parts(
    runs,
    fmt: str = "simple",
    alpha: float | None = None,
    test: str | None = None,
    references: Mapping | None = None,
    across=True,
    reference_entries=(),
) -> list[tuple]:
    """``(title, frame)`` for the significance table, the optimizers' win table and performance profile,
    and the statistics across workloads (:func:`across_parts`).

    Each part appears only where it has something to say: a workload with two
    ranked cells, a problem with two optimizers, a target for the profile; a
    part whose frame is None is a one-line message. ``test`` is ``welch``
    (default) or ``bootstrap``, see :mod:`harness.reporting.stats`.
    ``references`` maps a workload to the value its scores are normalised by,
    and ``reference_entries`` are the plugins' references (:func:`across_frame`);
    ``across`` is False to leave those statistics out, or an :func:`across_frame`
    already computed.
    """
    from harness.reporting.stats import ALPHA, WELCH

    check_format(fmt)
    alpha, test = (ALPHA if alpha is None else alpha), (test or WELCH)
    cells = cell_table(runs)
    parts = [
        _significance_part(runs, fmt, alpha, test, cells),
        _wins_part(runs, fmt, alpha, test, cells),
        _profile_part(runs, fmt, cells),
    ]
    parts = [part for part in parts if part is not None]
    if not parts or across is False or across is None:  # nothing compared at all: nothing across workloads either
        return parts
    across = across_frame(runs, references, cells, reference_entries) if across is True else across
    return parts + (across_parts(across, fmt) if across is not None else [])


def _significance_part(runs, fmt: str, alpha: float, test: str, cells=None) -> tuple | None:
    """The significance table as ``(title, frame)``; None when no workload has two ranked cells."""
    import pandas as pd

    significance = significance_frame(runs, alpha, test, cells)
    if significance.empty:
        return None
    if fmt == "csv":
        shown = significance.drop(columns=["cell"])
    else:
        columns = ("metric", "mean", "ci95", "metric_mode")
        shown = pd.DataFrame(
            {
                "workload": significance["workload"],
                "model / optimizer": significance["contestant"],
                "rank": significance["rank"].astype(str),
                "test metric (mean ± 95% CI)": [
                    f"{metric} {format_metric(mean, ci95, mode)}"
                    for metric, mean, ci95, mode in zip(*(significance[c].tolist() for c in columns), strict=True)
                ],
                "seeds": significance["n"].astype(str),
                "vs best": significance["vs_best"],
            }
        )
    title = (
        f"Significance: each cell against the best of its workload (dataset, other settings equal); "
        f"{_test_name(test)}, two-sided, alpha {alpha:g}; untested below 2 seeds a side"
    )
    return title, shown


def _wins_part(runs, fmt: str, alpha: float, test: str, cells=None) -> tuple | None:
    """The optimizers' win table as ``(title, frame)``, its title tallying the wins; None without two optimizers."""
    import pandas as pd

    from harness.reporting.stats import WIN

    wins = wins_frame(runs, alpha, test, cells)
    if wins.empty:
        return None
    if fmt == "csv":
        shown = wins.assign(tied=wins["tied"].map(" ".join))
    else:
        outcomes = zip(*(wins[c].tolist() for c in ("outcome", "winner", "tied", "best")), strict=True)
        shown = pd.DataFrame(
            {
                "workload": wins["workload"],
                "optimizers": wins["contestants"].astype(str),
                "winner": [_winner_text(*row) for row in outcomes],
                "best mean": [fixed(v, 4) for v in wins["best_mean"]],
                "runner-up": wins["runner_up"].fillna(""),
                "runner-up mean": [fixed(v, 4) for v in wins["runner_up_mean"]],
                "p (test)": [
                    "" if missing(p) else f"{p:.3g} ({test})"
                    for p, test in zip(wins["p_value"].tolist(), wins["test"].tolist(), strict=True)
                ],
            }
        )
    tally = wins.loc[wins["outcome"] == WIN, "winner"].value_counts()
    counts = ", ".join(f"{name} {count}" for name, count in tally.items()) or "none"
    undecided = int((wins["outcome"] != WIN).sum())
    title = (
        f"Optimizer wins per workload (model x dataset, other settings equal), by mean test metric; "
        f"a win is significant at alpha {alpha:g}. Wins: {counts}; ties or undecided: {undecided}"
    )
    return title, shown


def _profile_part(runs, fmt: str, cells=None) -> tuple | None:
    """The performance profile as ``(title, frame)``; None when no problem has a target."""
    profile = profile_frame(runs, cells=cells)
    if profile.empty:
        return None
    shown = profile.rename(columns=lambda tau: f"tau={tau:g}").reset_index(names="optimizer")
    if fmt != "csv":
        for column in shown.columns[1:]:
            shown[column] = shown[column].map(lambda v: fixed(v, 2))
    cells = _optimizer_cells(runs, cells)
    problems = cells.loc[cells["target"].notna(), "problem"].nunique()
    title = (
        f"Performance profile: share of the {problems} workloads with a target where an optimizer's median "
        f"time to target is within tau x the fastest optimizer's (a run that never reaches it counts as infinite)"
    )
    return title, shown


def across_cells(runs, cells=None):
    """The cells that compete across workloads, as ``(frame, kind)``; kind None when nothing does.

    Optimizers within each problem (model x dataset, other settings equal, as the win table) when the
    runs have more than one optimizer; else models within each workload (dataset, other settings equal,
    as the significance table). ``frame`` has ``workload`` (its readable name), ``workload_key``,
    ``contestant``, ``mode``, ``values``, ``target`` and ``cell`` (:func:`cell_table`'s).
    """
    import pandas as pd

    cells = cell_table(runs) if cells is None else cells
    columns = ["workload", "workload_key", "contestant", "mode", "values", "target", "cell"]
    if cells["optimizer_key"].nunique() > 1:
        chosen = _optimizer_cells(runs, cells)
        frame = chosen.assign(workload=chosen["problem_name"], workload_key=chosen["problem"])
        return frame[columns].reset_index(drop=True), "optimizers"
    models = [canonical(_only(settings, MODEL_FIELDS)) for settings in cells["settings"].tolist()]
    if len(set(models)) < 2:
        return pd.DataFrame([], columns=columns), None
    frame = cells.assign(
        workload=cells["workload"].map(_names_by_key(cells["workload"], cells["dataset"])),
        workload_key=cells["workload"],
        contestant=pd.Series(models, index=cells.index).map(_names_by_key(models, cells["model"])),
    )
    return frame[columns].reset_index(drop=True), "models"


def across_frame(runs, references: Mapping | None = None, cells=None, reference_entries=()):
    """:func:`harness.reporting.across_workloads.across_workloads` of :func:`across_cells`; None when nothing competes.

    ``references`` maps a workload, by the name the tables show ('mlp on digits') or by its key
    (``problem`` or ``workload`` of :func:`harness.reporting.cells.cell_table`), to the value its test
    metric is normalised by. Else a workload takes the one value of the plugins' references
    (``reference_entries``, :mod:`harness.reporting.references`) that apply to every cell it compares
    (:func:`whole_workload_references`); else its runs' target, else min-max.
    """
    from harness.reporting.across_workloads import across_workloads

    frame, kind = across_cells(runs, cells)
    if kind is None:
        return None
    references = references or {}
    named = whole_workload_references(runs, frame, reference_entries)
    for name, key in dict(zip(frame["workload"], frame["workload_key"], strict=True)).items():
        if name in references or key in references:
            named[name] = references[name] if name in references else references[key]
    result = across_workloads(frame, named)
    metrics = {
        name: json.loads(key).get("metric") for name, key in zip(frame["workload"], frame["workload_key"], strict=True)
    }
    modes = frame.groupby("workload", sort=False)["mode"].agg(lambda m: m.iloc[0] if m.nunique() == 1 else None)
    normalisation = result.normalisation.assign(
        metric=result.normalisation["workload"].map(metrics), mode=result.normalisation["workload"].map(modes)
    )
    return dataclasses.replace(result, normalisation=normalisation, kind=kind)


def covering(runs, frame, reference_entries) -> dict[str, list[int]]:
    """Workload name -> the positions in ``reference_entries`` of the references that apply to every cell it
    compares in :func:`across_cells`' ``frame`` (:func:`harness.reporting.references.cell_matches`: model, dataset,
    optimizer, metric and settings). Read from their scope alone, so a computed one need not be computed first."""
    from harness.reporting.cells import entry_runs
    from harness.reporting.references import cell_matches

    found = cell_matches(entry_runs(runs), reference_entries) if reference_entries and not frame.empty else {}
    out = {}
    for workload, cells in frame.groupby("workload", sort=False)["cell"]:
        common = set.intersection(*(set(found.get(cell, ())) for cell in cells.tolist()))
        if common:
            out[workload] = sorted(common)
    return out


def covering_positions(runs, reference_entries) -> set[int]:
    """The positions of the references that cover some workload of the statistics across workloads whole: the
    computed ones a report must compute for its statistics when it shows no summary table (csv)."""
    frame, kind = across_cells(runs)
    return {p for positions in covering(runs, frame, reference_entries).values() for p in positions} if kind else set()


def whole_workload_references(runs, frame, reference_entries) -> dict:
    """Workload name -> :class:`harness.reporting.across_workloads.WorkloadReference` of each workload of
    :func:`across_cells`' ``frame`` that the plugins' references (``reference_entries``, with their values) cover
    whole (:func:`covering`). One value is used, naming its sources; several distinct values are none, and the
    note says so (the workload falls back to its target or min-max)."""
    from harness.reporting.across_workloads import WorkloadReference
    from harness.reporting.references import entries_of, short_source

    entries = entries_of(reference_entries or ())
    out = {}
    for workload, positions in covering(runs, frame, entries).items():
        by_value: dict[float, list[str]] = {}
        for reference in (entries[p].reference for p in positions if entries[p].reference.value is not None):
            sources, source = by_value.setdefault(reference.value, []), short_source(reference.source)
            sources += [] if source in sources else [source]
        if len(by_value) == 1:
            [(value, sources)] = by_value.items()
            out[workload] = WorkloadReference(value, "; ".join(sources))
        elif by_value:
            listed = "; ".join(f"{value:g} ({', '.join(sources)})" for value, sources in by_value.items())
            note = f"{len(by_value)} references apply to all its cells with different values, none chosen: {listed}"
            out[workload] = WorkloadReference(None, note=note)
    return out


def stats_tables(
    runs,
    fmt: str = "simple",
    alpha: float | None = None,
    test: str | None = None,
    references: Mapping | None = None,
    across: bool = True,
    reference_entries=(),
) -> str:
    """:func:`stats_parts` as titled tables in ``fmt`` (csv: '# title' blocks; a message is a '# ' line under
    the block before it, so every block is still one table)."""
    parts = stats_parts(runs, fmt, alpha, test, references, across, reference_entries)
    if not parts:
        return "statistics: no workload has two cells to compare"
    text = _table(*parts[0], fmt)
    for title, frame in parts[1:]:
        text += ("\n" if fmt == "csv" and frame is None else "\n\n") + _table(title, frame, fmt)
    return text
