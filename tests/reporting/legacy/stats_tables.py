"""Statistics across cells -> tables: significance against the best, optimizer wins, performance profiles.

The numbers come from :mod:`tests.reporting.legacy.stats`; this module picks
the cells each table compares, names them readably and lays the results out.
"""

from __future__ import annotations

import json

from harness.reporting.formats import check_format
from harness.reporting.values import missing, natural_key
from tests.reporting.legacy.cells import MODEL_FIELDS, OPTIMIZER_FIELDS, cell_table
from tests.reporting.legacy.text import fixed, format_metric, readable_names


def _only(settings: dict, fields: tuple[str, ...]) -> dict:
    return {k: settings.get(k) for k in fields}


def _test_name(test: str) -> str:
    from tests.reporting.legacy.stats import BOOTSTRAP, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, WELCH

    if test == WELCH:
        return "Welch's t-test"
    if test == BOOTSTRAP:
        return f"percentile bootstrap ({BOOTSTRAP_RESAMPLES:,} resamples, seed {BOOTSTRAP_SEED})"
    return test


def _verdict(row) -> str:
    """How a ranked cell stands against the best of its workload."""
    if row["best"]:
        return "best"
    if row["test"] == "none":
        return row["note"]
    word = "worse" if row["worse"] else "not significant"
    return f"{word}, p={row['p_value']:.3g} ({row['test']})"


def significance_frame(runs, alpha: float | None = None, test: str | None = None):
    """Every cell of a workload with two or more ranked cells: its rank, mean ± CI, and its test against the best."""
    import pandas as pd

    from tests.reporting.legacy.stats import ALPHA, WELCH, estimate, rank_cells

    cells = cell_table(runs)
    ranked = rank_cells(cells, ALPHA if alpha is None else alpha, test or WELCH)
    if ranked.empty:
        return pd.DataFrame()
    frame = cells.merge(ranked.drop(columns=["mean", "n"]), on="cell")
    frame = frame[frame.groupby("workload")["cell"].transform("size") > 1]
    if frame.empty:
        return pd.DataFrame()
    competing = MODEL_FIELDS + OPTIMIZER_FIELDS
    pairs = zip(frame["workload"], frame["dataset"], strict=True)
    workloads = readable_names({workload: (dataset, json.loads(workload)) for workload, dataset in pairs})
    contestants = {}
    for _, group in frame.groupby("workload", sort=False):
        entries = {
            c: (f"{m} / {o}", _only(s, competing))
            for c, m, o, s in zip(group["cell"], group["model"], group["optimizer"], group["settings"], strict=True)
        }
        contestants.update(readable_names(entries))
    metric = {c: json.loads(w)["metric"] for c, w in zip(frame["cell"], frame["workload"], strict=True)}
    out = pd.DataFrame(
        {
            "workload": frame["workload"].map(workloads),
            "cell": frame["cell"],
            "contestant": frame["cell"].map(contestants),
            "metric": frame["cell"].map(metric),
            "metric_mode": frame["mode"],
            "rank": frame["rank"],
            "mean": [estimate(v).mean for v in frame["values"]],
            "ci95": [estimate(v).ci for v in frame["values"]],
            "n": [len(v) for v in frame["values"]],
            "p_value": frame["p_value"],
            "test": frame["test"],
            "vs_best": frame.apply(_verdict, axis=1),
        }
    )
    return out.sort_values(["workload", "rank"], key=lambda c: c.map(natural_key), kind="stable").reset_index(drop=True)


def _optimizer_cells(runs):
    """The cell table with readable names for each problem (model × dataset) and each optimizer."""
    cells = cell_table(runs)
    cells["problem_name"] = cells["problem"].map(
        readable_names(
            {
                p: (f"{m} on {d}", json.loads(p))
                for p, m, d in zip(cells["problem"], cells["model"], cells["dataset"], strict=True)
            }
        )
    )
    cells["contestant"] = cells["optimizer_key"].map(
        readable_names({k: (o, json.loads(k)) for k, o in zip(cells["optimizer_key"], cells["optimizer"], strict=True)})
    )
    return cells[cells.groupby("problem")["cell"].transform("size") > 1]


def wins_frame(runs, alpha: float | None = None, test: str | None = None):
    """Per problem (model × dataset, other settings equal) with two or more optimizers: who won, and how surely."""
    from tests.reporting.legacy.stats import ALPHA, WELCH, win_table

    cells = _optimizer_cells(runs)
    table = win_table(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "mode", "values"]],
        ALPHA if alpha is None else alpha,
        test or WELCH,
    )
    return table.sort_values("workload", key=lambda c: c.map(natural_key), kind="stable").reset_index(drop=True)


def profile_frame(runs, taus=None):
    """AlgoPerf-style performance profile of the optimizers over the problems that have a target (empty if none)."""
    import pandas as pd

    from tests.reporting.legacy.stats import PROFILE_TAUS, performance_profile

    cells = _optimizer_cells(runs)
    cells = cells[cells["target"].notna()]
    if cells.empty:
        return pd.DataFrame()
    return performance_profile(
        cells.assign(workload=cells["problem_name"])[["workload", "contestant", "times"]], taus or PROFILE_TAUS
    )


def _winner_text(row) -> str:
    from tests.reporting.legacy.stats import ALONE, TIE, WIN

    if row["outcome"] == WIN:
        return row["winner"]
    if row["outcome"] == TIE:
        return "tie: " + ", ".join(row["tied"])
    if row["outcome"] == ALONE:
        return f"{row['best']} (the others have no ok runs)"
    return "none: too few seeds to test"


def _table(title: str, frame, fmt: str) -> str:
    """A titled table; in CSV the title is a '# ' line so each block still parses with comment='#'."""
    from tabulate import tabulate

    if fmt == "csv":
        return f"# {title}\n" + frame.to_csv(index=False).rstrip("\n")
    return f"{title}\n\n" + tabulate(frame, headers="keys", tablefmt=fmt, showindex=False, disable_numparse=True)


def stats_parts(runs, fmt: str = "simple", alpha: float | None = None, test: str | None = None) -> list[tuple]:
    """``(title, frame)`` for the significance table, the optimizers' win table and performance profile.

    Each part appears only where it has something to say: a workload with two
    ranked cells, a problem with two optimizers, a target for the profile.
    ``test`` is ``welch`` (default) or ``bootstrap``, see :mod:`tests.reporting.legacy.stats`.
    """
    from tests.reporting.legacy.stats import ALPHA, WELCH

    check_format(fmt)
    alpha, test = (ALPHA if alpha is None else alpha), (test or WELCH)
    parts = [_significance_part(runs, fmt, alpha, test), _wins_part(runs, fmt, alpha, test), _profile_part(runs, fmt)]
    return [part for part in parts if part is not None]


def _significance_part(runs, fmt: str, alpha: float, test: str) -> tuple | None:
    """The significance table as ``(title, frame)``; None when no workload has two ranked cells."""
    import pandas as pd

    significance = significance_frame(runs, alpha, test)
    if significance.empty:
        return None
    if fmt == "csv":
        shown = significance.drop(columns=["cell"])
    else:
        shown = pd.DataFrame(
            {
                "workload": significance["workload"],
                "model / optimizer": significance["contestant"],
                "rank": significance["rank"].astype(str),
                "test metric (mean ± 95% CI)": [
                    f"{m} {format_metric(r['mean'], r['ci95'], r['metric_mode'])}"
                    for m, (_, r) in zip(significance["metric"], significance.iterrows(), strict=True)
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


def _wins_part(runs, fmt: str, alpha: float, test: str) -> tuple | None:
    """The optimizers' win table as ``(title, frame)``, its title tallying the wins; None without two optimizers."""
    import pandas as pd

    from tests.reporting.legacy.stats import WIN

    wins = wins_frame(runs, alpha, test)
    if wins.empty:
        return None
    if fmt == "csv":
        shown = wins.assign(tied=wins["tied"].map(" ".join))
    else:
        shown = pd.DataFrame(
            {
                "workload": wins["workload"],
                "optimizers": wins["contestants"].astype(str),
                "winner": wins.apply(_winner_text, axis=1),
                "best mean": [fixed(v, 4) for v in wins["best_mean"]],
                "runner-up": wins["runner_up"].fillna(""),
                "runner-up mean": [fixed(v, 4) for v in wins["runner_up_mean"]],
                "p (test)": [
                    "" if missing(p) else f"{p:.3g} ({test})"
                    for p, test in zip(wins["p_value"], wins["test"], strict=True)
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


def _profile_part(runs, fmt: str) -> tuple | None:
    """The performance profile as ``(title, frame)``; None when no problem has a target."""
    profile = profile_frame(runs)
    if profile.empty:
        return None
    shown = profile.rename(columns=lambda tau: f"tau={tau:g}").reset_index(names="optimizer")
    if fmt != "csv":
        for column in shown.columns[1:]:
            shown[column] = shown[column].map(lambda v: fixed(v, 2))
    cells = _optimizer_cells(runs)
    problems = cells.loc[cells["target"].notna(), "problem"].nunique()
    title = (
        f"Performance profile: share of the {problems} workloads with a target where an optimizer's median "
        f"time to target is within tau x the fastest optimizer's (a run that never reaches it counts as infinite)"
    )
    return title, shown


def stats_tables(runs, fmt: str = "simple", alpha: float | None = None, test: str | None = None) -> str:
    """:func:`stats_parts` as titled tables in ``fmt`` (csv: '# title' blocks)."""
    parts = stats_parts(runs, fmt, alpha, test)
    if not parts:
        return "statistics: no workload has two cells to compare"
    return "\n\n".join(_table(title, frame, fmt) for title, frame in parts)
