"""The statistics across workloads (:mod:`harness.reporting.across_workloads`) as titled tables.

Three tables, each saying in its title how its numbers were made: the entries' interquartile mean and
optimality gap, the probability of improvement of each pair with its call, and how each workload was
normalised. With fewer than two workloads to compare on, one line says so instead. In CSV every number
is raw; in the other formats intervals read ``0.812 [0.774, 0.851]``.
"""

from __future__ import annotations

from harness.reporting.across_workloads import LEFT_OUT, MIN_CALL_RUNS, MIN_CALL_WORKLOADS, MIN_MAX, AcrossWorkloads
from harness.reporting.values import missing

#: Where an entry's workload comes from, by kind of entry.
PLACES = {"optimizers": "model x dataset, other settings equal", "models": "dataset, other settings equal"}


def interval_text(value: float, low: float, high: float, places: int = 3) -> str:
    """'0.812 [0.774, 0.851]'; a missing bound leaves the bracket out."""
    if missing(value):
        return ""
    text = f"{value:.{places}f}"
    return text if missing(low) or missing(high) else f"{text} [{low:.{places}f}, {high:.{places}f}]"


def _singular(kind: str) -> str:
    return kind[:-1] if kind.endswith("s") else kind


def across_parts(result: AcrossWorkloads, fmt: str) -> list[tuple]:
    """``(title, frame)`` of each table; one ``(message, None)`` when fewer than two workloads count."""
    place = PLACES.get(result.kind, "")
    if result.workloads < 2:
        some = "no workload has" if result.workloads == 0 else "only one workload has"
        return [
            (
                f"Across workloads: {some} two or more {result.kind} to compare ({place}); the interquartile "
                "mean, optimality gap and probability of improvement need several workloads",
                None,
            )
        ]
    return [_scores_part(result, fmt), _improvement_part(result, fmt), _normalisation_part(result, fmt)]


def _bootstrap_words(result: AcrossWorkloads) -> str:
    return (
        f"{result.confidence:.0%} stratified bootstrap intervals ({result.resamples:,} resamples of n-1 of each "
        f"workload's n runs, seed {result.seed})"
    )


def _scores_part(result: AcrossWorkloads, fmt: str) -> tuple:
    import pandas as pd

    scores, entry = result.scores, _singular(result.kind)
    if fmt == "csv":
        shown = scores.rename(columns={"contestant": entry})
    else:
        shown = pd.DataFrame(
            {
                entry: scores["contestant"],
                "workloads": scores["workloads"].astype(str),
                "runs": scores["runs"].astype(str),
                f"IQM [{result.confidence:.0%} CI]": [
                    interval_text(*row)
                    for row in zip(*(scores[c] for c in ("iqm", "iqm_low", "iqm_high")), strict=True)
                ],
                f"optimality gap [{result.confidence:.0%} CI]": [
                    interval_text(*row)
                    for row in zip(*(scores[c] for c in ("gap", "gap_low", "gap_high")), strict=True)
                ],
            }
        )
    title = (
        f"Across workloads (after rliable, Agarwal et al. 2021): the {result.kind} over {result.workloads} "
        f"workloads ({PLACES.get(result.kind, '')}), test metric normalised per workload so that 1 is the best "
        f"{entry}'s mean or the reference (table below); interquartile mean (IQM, the middle half of all runs) and "
        f"optimality gap (mean of max(0, 1 - score), lower is better), best IQM first; {_bootstrap_words(result)}"
    )
    return title, shown


def _call_text(called: bool, better, fewest: int, workloads: int) -> str:
    if called:
        return f"{better} better"
    if workloads < MIN_CALL_WORKLOADS:
        return f"no call: {workloads} workload in common (needs {MIN_CALL_WORKLOADS})"
    if fewest < MIN_CALL_RUNS:
        return f"no call: {fewest} run{'s' if fewest != 1 else ''} a side on a workload (needs {MIN_CALL_RUNS})"
    return "no call: the interval holds 0.5"


def _improvement_part(result: AcrossWorkloads, fmt: str) -> tuple:
    import pandas as pd

    pairs = result.improvement
    if fmt == "csv":
        shown = pairs
    else:
        calls = zip(*(pairs[c].tolist() for c in ("called", "better", "fewest_runs", "workloads")), strict=True)
        shown = pd.DataFrame(
            {
                "X": pairs["x"],
                "Y": pairs["y"],
                f"P(X > Y) [{result.confidence:.0%} CI]": [
                    interval_text(*row, places=2)
                    for row in zip(*(pairs[c] for c in ("probability", "low", "high")), strict=True)
                ],
                "workloads": pairs["workloads"].astype(str),
                "call": [_call_text(*row) for row in calls],
            }
        )
    called = int(pairs["called"].sum()) if len(pairs) else 0
    title = (
        f"Probability of improvement across workloads: P(X > Y), the chance that a run of X beats a run of Y on "
        f"the same workload (ties count half), averaged over the workloads both ran; {_bootstrap_words(result)}; "
        f"a call needs the interval to exclude 0.5, {MIN_CALL_WORKLOADS} or more such workloads and "
        f"{MIN_CALL_RUNS} or more runs a side on each. Calls: {called} of {len(pairs)} pairs"
    )
    return title, shown


def _normaliser_text(method: str, low: float, scale: float, mode, note: str, source: str = "") -> str:
    """'reference 0.95 (Paper 2020)', 'target 0.9', 'min-max of the means: ...'; a note why a reference was not
    used follows after '; '."""
    if method == LEFT_OUT:
        return f"left out: {note}"
    if method != MIN_MAX:
        text = f"{method} {low:.6g}" + (f" ({source})" if source else "")
    else:
        best = low + scale if mode == "max" else low - scale
        text = f"min-max of the means: {low:.6g} (worst) to {best:.6g} (best)"
    return f"{text}; {note}" if note else text


def _metric_text(metric, mode) -> str:
    if missing(metric):
        return ""
    return f"{metric} ({'higher' if mode == 'max' else 'lower'} is better)" if mode in ("max", "min") else str(metric)


def _normalisation_part(result: AcrossWorkloads, fmt: str) -> tuple:
    import pandas as pd

    frame = result.normalisation
    modes = frame["mode"] if "mode" in frame else pd.Series([None] * len(frame), index=frame.index)
    if fmt == "csv":
        shown = frame
    else:
        metrics = frame["metric"] if "metric" in frame else pd.Series([None] * len(frame), index=frame.index)
        sources = frame["source"] if "source" in frame else pd.Series([""] * len(frame), index=frame.index)
        described = zip(
            *(frame[c].tolist() for c in ("method", "low", "scale")), modes, frame["note"], sources, strict=True
        )
        shown = pd.DataFrame(
            {
                "workload": frame["workload"],
                "metric": [_metric_text(metric, mode) for metric, mode in zip(metrics, modes, strict=True)],
                result.kind: frame["entries"].astype(str),
                "runs": frame["runs"].astype(str),
                "normalised by": [_normaliser_text(*row) for row in described],
            }
        )
    title = (
        "Normalisation of each workload for the statistics across workloads: by its reference r (named by its "
        "source: a result the plugins ship for every compared cell of the workload, or one given) or else its "
        "runs' target, score 1 + (x - r)/|r| (1 - (x - r)/|r| for a metric to minimise); else min-max over "
        f"the {result.kind}' means, the worst 0 and the best 1. Left out: workloads with fewer than two {result.kind}"
    )
    return title, shown
