"""harness.stats against hand-computed values: intervals, tests, ranks, time to target, profiles, wins."""

import math

import numpy as np
import pandas as pd
import pytest

from harness.reporting.stats import (
    ALONE,
    BOOTSTRAP_RESAMPLES,
    TIE,
    UNDECIDED,
    WIN,
    bootstrap_p,
    ci_half_width,
    difference_test,
    estimate,
    performance_profile,
    rank_cells,
    t_quantile,
    time_to_target,
    welch_p,
    win_table,
)

# ---------------------------------------------------------------------------
# One sample
# ---------------------------------------------------------------------------


def test_estimate_of_one_to_four():
    e = estimate([1, 2, 3, 4])
    assert e.mean == 2.5 and e.n == 4
    assert e.std == pytest.approx(1.2910, abs=1e-4)  # sqrt(5/3), ddof=1
    assert t_quantile(0.975, 3) == pytest.approx(3.1824, abs=1e-4)
    assert e.ci == pytest.approx(2.0543, abs=1e-4)  # 3.1824 * 1.2910 / 2


def test_one_value_has_no_interval_rather_than_a_zero_one():
    e = estimate([0.9])
    assert e.mean == 0.9 and e.n == 1 and math.isnan(e.std) and math.isnan(e.ci)
    assert math.isnan(ci_half_width(0.1, 1))
    empty = estimate([])
    assert empty.n == 0 and math.isnan(empty.mean)


def test_gaps_are_not_values():
    e = estimate([1.0, None, float("nan"), 3.0, float("inf")])
    assert (e.n, e.mean) == (2, 2.0)
    assert e.ci == pytest.approx(12.7062 * math.sqrt(2) / math.sqrt(2), abs=1e-3)  # t(0.975, 1) * s / sqrt(2)


# ---------------------------------------------------------------------------
# Two samples
# ---------------------------------------------------------------------------


def test_welch_against_the_hand_computed_statistic():
    a, b = [1, 2, 3, 4], [3, 4, 5, 6, 7]
    # by hand: se^2 = 5/3/4 + 5/2/5 = 0.91667, t = -2.5 / 0.95743 = -2.6112,
    # df = 0.91667^2 / ((5/12)^2/3 + (1/2)^2/4) = 6.9808, p = 2 * sf(2.6112, 6.9808)
    from scipy.stats import t, ttest_ind

    assert welch_p(a, b) == pytest.approx(2 * t.sf(2.6112, 6.9808), abs=1e-4)
    assert welch_p(a, b) == pytest.approx(0.034939, abs=1e-6)
    assert welch_p(a, b) == pytest.approx(ttest_ind(a, b, equal_var=False).pvalue, rel=1e-12)
    assert welch_p(a, b) == welch_p(b, a)


def test_welch_without_any_spread():
    assert welch_p([1, 1], [1, 1]) == 1.0
    assert welch_p([1, 1], [2, 2]) == 0.0
    with pytest.raises(ValueError):
        welch_p([1], [1, 2])


def test_bootstrap_on_an_exactly_enumerable_case():
    # a = [1, 3], b = [2, 4]: resampled means take 3 values each (1/4, 1/2, 1/4), so
    # P(mean(b*) - mean(a*) <= 0) = 1/8 + 3/16 = 5/16 exactly, and p = 2 * 5/16 = 0.625
    assert bootstrap_p([1, 3], [2, 4]) == pytest.approx(0.625, abs=0.02)


def test_bootstrap_is_seeded_order_free_and_bounded():
    a, b = [0.90, 0.93, 0.91, 0.95], [0.92, 0.97, 0.94, 0.96]
    assert bootstrap_p(a, b) == bootstrap_p(list(reversed(a)), b[::-1])
    assert bootstrap_p(a, b, seed=1) != bootstrap_p(a, b, seed=2)
    assert bootstrap_p([1, 2], [1, 2]) == 1.0
    separated = bootstrap_p([1, 1.1, 1.2], [2, 2.1, 2.2])
    assert separated == pytest.approx(2 / (BOOTSTRAP_RESAMPLES + 1))  # never exactly zero


def test_difference_test_names_its_test_and_refuses_single_values():
    assert difference_test([1, 2, 3], [4, 5, 6]).method == "welch"
    boot = difference_test([1, 2, 3], [4, 5, 6], method="bootstrap")
    assert boot.method == "bootstrap" and boot.describe().endswith("(bootstrap)")
    alone = difference_test([1.0], [2.0, 3.0])
    assert alone.method == "none" and math.isnan(alone.p_value) and not alone.significant()
    assert "n=1 vs 2" in alone.describe()
    with pytest.raises(ValueError, match="unknown test"):
        difference_test([1, 2], [3, 4], method="magic")


def test_welch_is_the_default_because_the_bootstrap_lies_with_few_seeds():
    """Null data (no real difference), 3 seeds a side: the share of pairs called significant."""
    rng = np.random.default_rng(0)
    pairs = [(rng.normal(size=3), rng.normal(size=3)) for _ in range(400)]
    welch = np.mean([difference_test(a, b).significant() for a, b in pairs])
    boot = np.mean([bootstrap_p(a, b, resamples=2000) < 0.05 for a, b in pairs])
    assert welch <= 0.08  # nominal 5%
    assert boot >= 0.12  # measured ~0.2: why the bootstrap is not the default for a handful of seeds


def test_overlapping_three_seed_cells_are_not_called_different():
    a, b = [0.5, 0.6, 0.7], [0.71, 0.8, 0.9]  # every b above every a, but the spread is as big as the gap
    assert not difference_test(a, b).significant()
    assert difference_test(a, b).p_value == pytest.approx(0.0633, abs=1e-3)  # t = 2.553, df = 3.99


# ---------------------------------------------------------------------------
# Ranks within a workload
# ---------------------------------------------------------------------------


def cells(*rows):
    return pd.DataFrame(rows, columns=["cell", "workload", "mode", "values"])


def test_ranks_with_a_min_metric():
    frame = cells(
        ("slow", "w", "min", [60.0, 61.0, 59.0]),
        ("best", "w", "min", [40.0, 41.0, 39.0]),
        ("close", "w", "min", [40.5, 43.0, 38.5]),
        ("lonely", "v", "min", [1.0]),
    )
    ranked = rank_cells(frame).set_index("cell")
    assert ranked.loc["best", "rank"] == 1 and bool(ranked.loc["best", "best"])
    assert ranked.loc["close", "rank"] == 2 and ranked.loc["slow", "rank"] == 3
    assert bool(ranked.loc["slow", "worse"]) and ranked.loc["slow", "test"] == "welch"
    assert not ranked.loc["close", "worse"]  # 40.67 vs 40.0, well within the noise
    assert ranked.loc["lonely", "rank"] == 1  # its own workload
    max_mode = rank_cells(frame.assign(mode="max")).set_index("cell")
    assert max_mode.loc["slow", "rank"] == 1 and max_mode.loc["best", "rank"] == 3


def test_equal_means_share_a_rank_and_unknown_modes_are_not_ranked():
    frame = cells(("a", "w", "max", [0.9, 0.8]), ("b", "w", "max", [0.85, 0.85]), ("c", "w", "max", [0.5, 0.6]))
    ranked = rank_cells(frame).set_index("cell")
    assert list(ranked["rank"]) == [1, 1, 3]
    assert rank_cells(frame.assign(mode=None)).empty
    with_single = rank_cells(cells(("a", "w", "max", [0.9, 0.8]), ("b", "w", "max", [0.7])))
    assert with_single.set_index("cell").loc["b", "test"] == "none"


# ---------------------------------------------------------------------------
# Optimizers across workloads
# ---------------------------------------------------------------------------


def test_time_to_target_is_a_median_that_counts_misses_as_infinite():
    assert time_to_target([3.0, 1.0, 2.0]) == 2.0
    assert time_to_target([1.0, 2.0, None]) == 2.0  # most runs got there
    assert time_to_target([1.0, None, None]) == math.inf
    assert time_to_target([1.0, float("nan")]) == math.inf
    assert time_to_target([1.0, 3.0]) == 2.0
    assert time_to_target([]) == math.inf


def test_performance_profile_on_three_workloads():
    # per-workload times (median over seeds), fastest optimizer in brackets:
    # w1: A 10 [best], B 20, C 50   -> ratios A 1,   B 2,   C 5
    # w2: A 30, B 15 [best], C never -> ratios A 2,   B 1,   C inf
    # w3: A 12, B not run, C 10 [best] -> ratios A 1.2, B inf, C 1
    frame = pd.DataFrame(
        [
            ("w1", "A", [9.0, 10.0, 11.0]),
            ("w1", "B", [20.0]),
            ("w1", "C", [50.0, 49.0, 51.0]),
            ("w2", "A", [30.0]),
            ("w2", "B", [15.0, None, 15.0]),
            ("w2", "C", [None, None, 40.0]),
            ("w3", "A", [12.0]),
            ("w3", "C", [10.0]),
        ],
        columns=["workload", "contestant", "times"],
    )
    profile = performance_profile(frame, taus=(1.0, 1.5, 2.0, 4.0, 10.0))
    third = 1 / 3
    assert list(profile.loc["A"]) == pytest.approx([third, 2 * third, 1, 1, 1])
    assert list(profile.loc["B"]) == pytest.approx([third, third, 2 * third, 2 * third, 2 * third])
    assert list(profile.loc["C"]) == pytest.approx([third, third, third, third, 2 * third])


def test_a_workload_nobody_solved_counts_against_everyone():
    frame = pd.DataFrame(
        [("w1", "A", [1.0]), ("w1", "B", [2.0]), ("w2", "A", [None]), ("w2", "B", [None])],
        columns=["workload", "contestant", "times"],
    )
    profile = performance_profile(frame, taus=(1.0, 2.0))
    assert list(profile.loc["A"]) == [0.5, 0.5] and list(profile.loc["B"]) == [0.0, 0.5]


def test_win_table_says_win_tie_untested_and_alone():
    frame = pd.DataFrame(
        [
            ("clear", "adam", "max", [0.95, 0.951, 0.949, 0.952, 0.948]),
            ("clear", "sgd", "max", [0.90, 0.901, 0.899, 0.902, 0.898]),
            ("noisy", "adam", "max", [0.90, 0.80, 0.95]),
            ("noisy", "sgd", "max", [0.85, 0.88, 0.83]),
            ("one-seed", "adam", "max", [0.9]),
            ("one-seed", "sgd", "max", [0.8]),
            ("crashed", "adam", "max", [0.9, 0.91]),
            ("crashed", "sgd", "max", []),
            ("rmse", "adam", "min", [50.0, 51.0, 49.0]),
            ("rmse", "sgd", "min", [40.0, 41.0, 39.0]),
        ],
        columns=["workload", "contestant", "mode", "values"],
    )
    wins = win_table(frame).set_index("workload")
    assert wins.loc["clear", "outcome"] == WIN and wins.loc["clear", "winner"] == "adam"
    assert wins.loc["clear", "test"] == "welch" and wins.loc["clear", "p_value"] < 1e-6
    assert wins.loc["noisy", "outcome"] == TIE and wins.loc["noisy", "tied"] == ["adam", "sgd"]
    assert pd.isna(wins.loc["noisy", "winner"])
    assert wins.loc["one-seed", "outcome"] == UNDECIDED and wins.loc["one-seed", "best"] == "adam"
    assert wins.loc["crashed", "outcome"] == ALONE and wins.loc["crashed", "winner"] == "adam"
    assert wins.loc["rmse", "outcome"] == WIN and wins.loc["rmse", "winner"] == "sgd"  # lower RMSE wins


def test_few_values_are_estimated_and_tested_to_the_bit_as_numpy_does():
    """Below 8 values the estimate and Welch's test skip numpy (a comparison makes 60,000 of them): same bits."""
    import random

    import numpy as np

    from harness.reporting import stats

    rng = random.Random(7)
    for _ in range(3000):
        a = [
            rng.choice([rng.random(), rng.gauss(0, 1) * 10 ** rng.randint(-5, 5), None])
            for _ in range(rng.randint(2, 7))
        ]
        b = [rng.uniform(0.8, 0.99) for _ in range(rng.randint(2, 7))]
        fast, slow = stats.estimate(a), stats.estimate(np.asarray([v for v in a if v is not None], dtype=float))
        assert (fast.mean, fast.n) == (slow.mean, slow.n)
        assert fast.std == slow.std or (math.isnan(fast.std) and math.isnan(slow.std))
        assert fast.ci == slow.ci or (math.isnan(fast.ci) and math.isnan(slow.ci))
        if sum(v is not None for v in a) >= 2:
            assert stats.welch_p(a, b) == stats.welch_p(np.asarray([v for v in a if v is not None]), np.asarray(b))
