"""How often the probability-of-improvement calls of :mod:`harness.reporting.across_workloads` are wrong.

A call says one entry beats another across workloads because the bootstrap interval of ``P(X > Y)``
excludes 0.5. On null data, where every entry's runs come from one distribution on every workload, a call
is a false alarm, and at 95% intervals it should happen at most 5% of the time. This simulates that, with
the very functions a report uses (:func:`~harness.reporting.across_workloads.stratified_counts`,
:func:`~harness.reporting.across_workloads.mean_improvement`, the percentile interval), every simulated
repetition at once; ``shift`` moves X up by that many standard deviations to measure power instead.

``python -m harness.reporting.calibration`` prints the rates the README quotes (a minute or two).
"""

from __future__ import annotations

import numpy as np

from harness.reporting.across_workloads import (
    CONFIDENCE,
    MIN_CALL_RUNS,
    MIN_CALL_WORKLOADS,
    mean_improvement,
    percentile_interval,
    stratified_counts,
)

#: Counts held at once while simulating (repetitions x workloads x resamples x seeds).
SIMULATION_CHUNK = 1 << 22


def call_rate(
    seeds: int,
    workloads: int,
    repetitions: int = 1000,
    resamples: int = 1000,
    seed: int = 0,
    shift: float = 0.0,
    plain: bool = False,
    rules: bool = True,
    confidence: float = CONFIDENCE,
) -> float:
    """The share of ``repetitions`` in which X and Y (``seeds`` runs on each of ``workloads``) get a call.

    Runs are standard normal, X's moved up by ``shift``. ``plain`` redraws ``n`` of ``n`` runs (the
    textbook percentile bootstrap) instead of the report's ``n - 1``. With ``rules`` (not with ``plain``)
    there is no call below :data:`~harness.reporting.across_workloads.MIN_CALL_RUNS` runs a side or
    :data:`~harness.reporting.across_workloads.MIN_CALL_WORKLOADS` workloads, as in a report; without,
    the share of raw intervals that exclude 0.5.
    """
    if rules and not plain and (seeds < MIN_CALL_RUNS or workloads < MIN_CALL_WORKLOADS):
        return 0.0
    rng = np.random.default_rng(seed)
    runs = np.full((workloads,), seeds)
    draws = runs if plain else None
    chunk = max(1, SIMULATION_CHUNK // (workloads * resamples * seeds))
    called = 0
    for start in range(0, repetitions, chunk):
        size = min(chunk, repetitions - start)
        x = rng.normal(size=(size, workloads, seeds)) + shift
        y = rng.normal(size=(size, workloads, seeds))
        counts = [
            stratified_counts(rng, np.broadcast_to(runs, (size, workloads)), resamples, seeds, draws) for _ in "xy"
        ]
        low, high = percentile_interval(mean_improvement(x, y, *(c.astype(np.float32) for c in counts)), confidence)
        called += int(((low > 0.5) | (high < 0.5)).sum())
    return called / repetitions


def _table(title: str, seeds, workloads, rate) -> None:
    print(f"\n{title}\nseeds \\ workloads  " + "  ".join(f"{w:>6}" for w in workloads))
    for n in seeds:
        print(f"{n:>17}  " + "  ".join(f"{rate(n, w):>6.1%}" for w in workloads))


def main() -> None:
    """Print the false-call rates on null data for a grid of seeds x workloads, both bootstraps, and the power."""
    seeds, workloads = (2, 3, 5, 10), (1, 2, 5, 10, 20)
    print(f"null data, {CONFIDENCE:.0%} intervals, 2,000 repetitions x 1,000 resamples each; nominal rate 5%")
    _table("percentile bootstrap, n of n runs", seeds, workloads, lambda n, w: call_rate(n, w, 2000, plain=True))
    _table("n-1 of n runs, no rule", seeds, workloads, lambda n, w: call_rate(n, w, 2000, rules=False))
    rule = f"calls need {MIN_CALL_RUNS}+ runs a side on {MIN_CALL_WORKLOADS}+ workloads"
    _table(
        f"power (X moved up by 1 sd; the report's: n-1 of n, {rule})",
        seeds,
        workloads,
        lambda n, w: call_rate(n, w, 500, shift=1.0),
    )


if __name__ == "__main__":
    main()
