"""Statistics across workloads (issue 14, after rliable): hand-computed IQM, optimality gap and probability of
improvement; normalisation; the stratified bootstrap; calibration on null data; the tables of --stats."""

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.reporting.across_workloads import (
    LEFT_OUT,
    MIN_CALL_RUNS,
    MIN_MAX,
    REFERENCE,
    TARGET,
    across_workloads,
    improvement_probability,
    interquartile_mean,
    normalise,
    optimality_gap,
    probability_of_improvement,
    resample_sizes,
    stratified_counts,
)
from harness.reporting.calibration import call_rate
from harness.reporting.cells import cell_table
from harness.reporting.frames import runs_frame
from harness.reporting.stats_tables import across_frame, stats_tables
from harness.store import Store
from tests.records import make_record


def cells(*rows, target=None):
    """(workload, contestant, mode, values) rows as the frame across_workloads takes."""
    frame = pd.DataFrame(rows, columns=["workload", "contestant", "mode", "values"])
    return frame if target is None else frame.assign(target=target)


# ---------------------------------------------------------------------------
# The statistics, by hand
# ---------------------------------------------------------------------------


def test_interquartile_mean_cuts_a_quarter_from_each_end():
    assert interquartile_mean([8, 1, 7, 2, 6, 3, 5, 4]) == 4.5  # int(0.25 * 8) = 2 cut each end: mean of 3, 4, 5, 6
    assert interquartile_mean([5, 1, 100, 2, 3]) == pytest.approx(10 / 3)  # int(1.25) = 1 cut: mean of 2, 3, 5
    assert interquartile_mean([0.7, None, float("nan")]) == 0.7 and math.isnan(interquartile_mean([]))
    values = np.random.default_rng(0).normal(size=37)  # scipy.stats.trim_mean(values, 0.25), as rliable: 9 cut each end
    assert interquartile_mean(values) == pytest.approx(np.sort(values)[9:28].mean(), rel=1e-12)


def test_optimality_gap_counts_the_shortfall_never_the_overshoot():
    assert optimality_gap([0.5, 1.2, 0.9]) == pytest.approx((0.5 + 0 + 0.1) / 3)
    assert optimality_gap([1.0, 2.0]) == 0.0


def test_probability_of_improvement_counts_ties_half_and_averages_over_workloads():
    # x=1 beats 0 (1); x=2 ties 2, 2 and beats 0 (0.5 + 0.5 + 1); x=3 beats all three (3): 6 of 9 pairs
    assert improvement_probability([1, 2, 3], [2, 2, 0]) == pytest.approx(2 / 3)
    assert improvement_probability([1, 2, 3], [2, 2, 0]) + improvement_probability([2, 2, 0], [1, 2, 3]) == 1
    x, y = [0.3, 0.5, 0.5, 0.9], [0.5, 0.1, 0.8]  # the Mann-Whitney U of x over the 12 pairs
    u = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in x for b in y)
    assert u == 7.0 and improvement_probability(x, y) == pytest.approx(u / 12)
    # the second workload: 5 never beats 6; the third has no run of y, so it is not averaged
    assert probability_of_improvement([[1, 2, 3], [5], [1]], [[2, 2, 0], [6], []]) == pytest.approx((2 / 3 + 0) / 2)


def test_the_report_point_estimates_are_the_hand_definitions_on_the_normalised_scores():
    frame = cells(
        ("w1", "a", "max", [0.90, 0.92, 0.91, 0.95]),
        ("w1", "b", "max", [0.80, 0.93, 0.85]),
        ("w2", "a", "max", [0.5, 0.6, 0.7]),
        ("w2", "b", "max", [0.55, 0.65, 0.75, 0.52]),
        ("w3", "b", "max", [0.1, 0.2, 0.3]),
        ("w3", "c", "max", [0.3, 0.4, 0.35]),
    )
    result = across_workloads(frame, resamples=200)
    scored, _ = normalise(frame)
    pooled = scored.groupby("contestant")["scores"].sum()
    scores = result.scores.set_index("contestant")
    for entry in ("a", "b", "c"):
        assert scores.loc[entry, "iqm"] == pytest.approx(interquartile_mean(pooled[entry]), rel=1e-12)
        assert scores.loc[entry, "gap"] == pytest.approx(optimality_gap(pooled[entry]), rel=1e-12)
        assert scores.loc[entry, "iqm_low"] <= scores.loc[entry, "iqm"] <= scores.loc[entry, "iqm_high"]
    assert scores["workloads"].to_dict() == {"a": 2, "b": 3, "c": 1}
    assert scores["runs"].to_dict() == {"a": 7, "b": 10, "c": 3}
    by_workload = scored.set_index(["workload", "contestant"])["scores"]
    pairs = result.improvement.set_index(["x", "y"])
    for (x, y), row in pairs.iterrows():
        shared = [w for w in ("w1", "w2", "w3") if (w, x) in by_workload and (w, y) in by_workload]
        expected = probability_of_improvement([by_workload[w, x] for w in shared], [by_workload[w, y] for w in shared])
        assert row["probability"] == pytest.approx(expected, rel=1e-12) and row["probability"] >= 0.5
        assert row["workloads"] == len(shared)
    assert ("a", "c") not in pairs.index and ("c", "a") not in pairs.index  # no workload in common


# ---------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------


def scores_of(scored) -> dict:
    return {(w, c): s for w, c, s in scored[["workload", "contestant", "scores"]].itertuples(index=False)}


def test_min_max_over_the_entries_means_and_a_metric_to_minimise_turned_round():
    frame = cells(
        ("acc", "a", "max", [0.8, 0.9]),  # mean 0.85: the best, 1
        ("acc", "b", "max", [0.6, 0.7]),  # mean 0.65: the worst, 0; the scale is 0.2
        ("rmse", "a", "min", [50.0, 52.0]),  # mean 51: the worst
        ("rmse", "b", "min", [40.0, 42.0]),  # mean 41: the best; lower is better, so it scores higher
    )
    scored, how = normalise(frame)
    got = scores_of(scored)
    assert got["acc", "a"] == pytest.approx([0.75, 1.25]) and got["acc", "b"] == pytest.approx([-0.25, 0.25])
    assert got["rmse", "b"] == pytest.approx([1.1, 0.9]) and got["rmse", "a"] == pytest.approx([0.1, -0.1])
    assert list(how["method"]) == [MIN_MAX, MIN_MAX]


def test_a_reference_or_else_the_target_sets_the_scale():
    frame = cells(
        ("acc", "a", "max", [0.81, 0.9]),
        ("acc", "b", "max", [0.45]),
        ("rmse", "a", "min", [50.0]),
        ("rmse", "b", "min", [40.0, 30.0]),
        target=[0.5, 0.5, 20.0, 20.0],
    )
    scored, how = normalise(frame, {"acc": 0.9})
    got = scores_of(scored)
    assert got["acc", "a"] == pytest.approx([0.9, 1.0]) and got["acc", "b"] == pytest.approx([0.5])  # x / 0.9
    assert got["rmse", "a"] == pytest.approx([-0.5]) and got["rmse", "b"] == pytest.approx([0.0, 0.5])  # 2 - x/20
    assert how.set_index("workload")["method"].to_dict() == {"acc": REFERENCE, "rmse": TARGET}
    _, zero = normalise(frame.assign(target=0.0))
    assert list(zero["method"]) == [MIN_MAX, MIN_MAX]  # a reference of 0 scales nothing


def test_workloads_that_cannot_be_compared_are_left_out_and_say_why():
    frame = cells(
        ("alone", "a", "max", [0.9, 0.8]),
        ("alone", "b", "max", [float("nan")]),  # no finite value: no entry
        ("equal", "a", "max", [0.5, 0.7]),
        ("equal", "b", "max", [0.6]),
        ("mixed", "a", "max", [0.5]),
        ("mixed", "b", "min", [0.6]),
    )
    scored, how = normalise(frame)
    assert scored.empty and set(how["method"]) == {LEFT_OUT}
    notes = how.set_index("workload")["note"]
    assert "only one entry" in notes["alone"] and "the same" in notes["equal"] and "direction" in notes["mixed"]
    result = across_workloads(frame)
    assert result.workloads == 0 and result.scores.empty and result.improvement.empty


# ---------------------------------------------------------------------------
# The stratified bootstrap
# ---------------------------------------------------------------------------


def test_resamples_draw_n_minus_one_runs_of_each_cell_from_that_cell_only():
    runs = np.array([[3, 1, 0], [5, 2, 4]])
    counts = stratified_counts(np.random.default_rng(0), runs, 4000, 6)
    assert counts.shape == (2, 3, 4000, 6)
    for e, w in np.ndindex(runs.shape):
        assert not counts[e, w, :, runs[e, w] :].any()  # nothing past the cell's own runs
        assert (counts[e, w].sum(axis=-1) == resample_sizes(runs)[e, w]).all()
        if runs[e, w] > 1:  # each run equally likely
            share = counts[e, w, :, : runs[e, w]].sum(axis=0) / counts[e, w].sum()
            assert share == pytest.approx(np.full(runs[e, w], 1 / runs[e, w]), abs=0.03)
    assert list(resample_sizes([0, 1, 2, 5])) == [0, 1, 1, 4]
    first, second = counts[1, 0, :, :5], counts[1, 2, :, :4]  # two workloads: drawn independently
    assert abs(np.corrcoef(first[:, 0], second[:, 0])[0, 1]) < 0.1


def test_a_resample_never_moves_runs_between_workloads():
    """An entry far better on w1 and far worse on w2: pooled resampling would mix them, stratified cannot.

    Its normalised scores are 1 on w1 (every run) and 0 on w2: every resample keeps 3 draws of each
    (n-1 of 4), so its optimality gap is exactly 0.5 in each; with runs moved between workloads it would vary.
    """
    frame = cells(
        ("w1", "a", "max", [0.9, 0.9, 0.9, 0.9]),
        ("w1", "b", "max", [0.1, 0.1, 0.1, 0.1]),
        ("w2", "a", "max", [0.1, 0.1, 0.1, 0.1]),
        ("w2", "b", "max", [0.9, 0.9, 0.9, 0.9]),
    )
    scores = across_workloads(frame, resamples=500).scores.set_index("contestant")
    assert scores.loc["a", "gap_low"] == scores.loc["a", "gap_high"] == 0.5


def test_the_bootstrap_is_seeded():
    rng = np.random.default_rng(3)
    frame = cells(*[(f"w{w}", e, "max", rng.normal(size=4).tolist()) for w in range(4) for e in "abc"])
    one, again = across_workloads(frame, resamples=300), across_workloads(frame, resamples=300)
    other = across_workloads(frame, resamples=300, seed=1)
    pd.testing.assert_frame_equal(one.scores, again.scores)
    pd.testing.assert_frame_equal(one.improvement, again.improvement)
    assert not one.scores["iqm_low"].equals(other.scores["iqm_low"])
    assert (one.scores["iqm"] == other.scores["iqm"]).all()  # the estimates do not depend on the seed


def test_100_workloads_of_10_entries_and_10_seeds_take_seconds_not_minutes():
    rng = np.random.default_rng(1)
    rows = [
        (f"w{w}", f"opt{e}", "max", (0.8 + 0.01 * e + 0.02 * rng.normal(size=10)).tolist())
        for w in range(100)
        for e in range(10)
    ]
    start = time.perf_counter()
    result = across_workloads(cells(*rows))
    seconds = time.perf_counter() - start
    assert len(result.scores) == 10 and len(result.improvement) == 45
    assert result.scores["contestant"].iloc[0] == "opt9" and result.improvement["called"].all()
    assert seconds < 10, seconds  # about 1 s on a free core


# ---------------------------------------------------------------------------
# Calibration: calls on null data at most at the nominal rate, and real differences found
# ---------------------------------------------------------------------------

REPETITIONS = 800
#: 5% plus 2.33 binomial standard deviations of a rate measured over REPETITIONS (one-sided 1%).
ALLOWED = 0.05 + 2.33 * math.sqrt(0.05 * 0.95 / REPETITIONS)


@pytest.mark.parametrize(("seeds", "workloads"), [(3, 5), (5, 10), (10, 3)])
def test_null_data_is_called_at_most_at_the_nominal_rate(seeds, workloads):
    assert call_rate(seeds, workloads, repetitions=REPETITIONS) <= ALLOWED


def test_the_plain_percentile_bootstrap_is_what_would_lie():
    """n of n runs redrawn, no minimum: measured 10.4% at 3 seeds x 5 workloads (README)."""
    assert call_rate(3, 5, repetitions=REPETITIONS, plain=True) > ALLOWED
    assert call_rate(2, 5, repetitions=REPETITIONS) == 0.0  # below MIN_CALL_RUNS the report calls nothing


def test_a_real_difference_is_called():
    assert call_rate(5, 5, repetitions=300, shift=1.0) >= 0.7  # measured 0.82
    rng = np.random.default_rng(5)
    rows = []
    for w in range(4):
        for entry, shift in (("better", 1.5), ("worse", 0.0)):
            rows.append((f"w{w}", entry, "max", (10 * w + shift + rng.normal(size=MIN_CALL_RUNS + 2)).tolist()))
    [pair] = across_workloads(cells(*rows)).improvement.to_dict("records")
    assert (pair["x"], pair["better"], pair["called"]) == ("better", "better", True) and pair["low"] > 0.5


def test_too_few_runs_a_side_or_one_workload_in_common_is_no_call_however_clear():
    rows = [(f"w{w}", e, "max", [v + w] * 2) for w in range(5) for e, v in (("a", 1.0), ("b", 0.0))]
    [pair] = across_workloads(cells(*rows)).improvement.to_dict("records")
    assert pair["probability"] == 1.0 and pair["fewest_runs"] == 2 and not pair["called"]
    one = cells(  # a and c share only w1: even the exact Mann-Whitney test cannot reach p < 0.1 at 3 vs 3
        ("w1", "a", "max", [0.9, 0.91, 0.92]),
        ("w1", "c", "max", [0.1, 0.11, 0.12]),
        ("w2", "a", "max", [0.5, 0.6, 0.7]),
        ("w2", "b", "max", [0.4, 0.5, 0.6]),
    )
    pairs = across_workloads(one).improvement.set_index(["x", "y"])
    assert pairs.loc[("a", "c"), "probability"] == 1.0 and pairs.loc[("a", "c"), "workloads"] == 1
    assert not pairs.loc[("a", "c"), "called"]


# ---------------------------------------------------------------------------
# The tables of harness report --stats
# ---------------------------------------------------------------------------


def optimizer_records(models=("mlp", "cnn", "rnn"), seeds=4, **kwargs):
    """adam a little better than sgd on every model, rmsprop between them."""
    return [
        make_record(
            model=model, optimizer=optimizer, seed=seed, metric_value=base + bump + 0.004 * (seed % 3), **kwargs
        )
        for model, base in zip(models, (0.9, 0.8, 0.7, 0.6), strict=False)
        for optimizer, bump in (("adam", 0.03), ("sgd", 0.0), ("rmsprop", 0.015))
        for seed in range(seeds)
    ]


def report_stats(tmp_path, records, capsys, *options) -> str:
    store = Store(tmp_path)
    for record in records:
        store.write(record)
    assert main(["report", str(tmp_path), "--stats", *options]) == 0
    return capsys.readouterr().out


def test_report_stats_shows_the_tables_across_workloads(tmp_path, capsys):
    text = report_stats(tmp_path, optimizer_records(), capsys)
    assert "Across workloads (after rliable" in text and "the optimizers over 3 workloads" in text
    scores = text.split("Across workloads (after rliable")[1].split("Probability of improvement")[0]
    assert [
        line.split()[0] for line in scores.splitlines() if line.split()[:1] in (["adam"], ["rmsprop"], ["sgd"])
    ] == [
        "adam",
        "rmsprop",
        "sgd",
    ]  # best IQM first
    assert "IQM [95% CI]" in text and "optimality gap [95% CI]" in text
    pairs = text.split("Probability of improvement across workloads")[1].split("Normalisation")[0]
    assert "P(X > Y) [95% CI]" in pairs and "adam better" in pairs and "Calls: 3 of 3 pairs" in pairs
    normalisation = text.split("Normalisation of each workload")[1]
    assert "mlp on digits" in normalisation and "min-max of the means" in normalisation
    assert "accuracy (higher is better)" in normalisation


def test_csv_blocks_of_the_tables_across_workloads_parse(tmp_path, capsys):
    import io

    text = report_stats(tmp_path, optimizer_records(), capsys, "--format", "csv")
    blocks = {block.split("\n", 1)[0][:40]: block for block in text.split("\n\n")}
    [scores] = [b for title, b in blocks.items() if title.startswith("# Across workloads (after")]
    frame = pd.read_csv(io.StringIO(scores), comment="#")
    assert list(frame["optimizer"]) == ["adam", "rmsprop", "sgd"] and (frame["iqm_low"] <= frame["iqm"]).all()


def test_one_workload_says_so_in_one_line_and_nothing_more(tmp_path, capsys):
    text = report_stats(tmp_path, optimizer_records(models=("mlp",)), capsys)
    lines = [line for line in text.splitlines() if "cross workloads" in line]
    assert lines == [
        "Across workloads: only one workload has two or more optimizers to compare (model x dataset, other "
        "settings equal); the interquartile mean, optimality gap and probability of improvement need several workloads"
    ]
    assert "IQM" not in text and "Probability of improvement" not in text and text.rstrip().endswith("workloads")


def test_models_compete_across_datasets_when_the_optimizer_is_the_same():
    records = [
        make_record(model=model, dataset=dataset, seed=seed, metric_value=value + 0.01 * seed)
        for dataset in ("digits", "iris")
        for model, value in (("mlp", 0.9), ("cnn", 0.8))
        for seed in range(3)
    ]
    result = across_frame(runs_frame(records))
    assert result.kind == "models" and result.workloads == 2
    assert list(result.scores["contestant"]) == ["mlp", "cnn"]
    assert set(result.normalisation["workload"]) == {"digits", "iris"}


def test_references_by_name_or_by_key_and_targets():
    runs = runs_frame(optimizer_records(models=("mlp", "cnn"), target=0.5))
    plain = across_frame(runs)
    assert set(plain.normalisation["method"]) == {TARGET}
    table = cell_table(runs)
    problems = dict(zip(table["model"], table["problem"], strict=True))  # the workload's key, its settings as JSON
    assert json.loads(problems["cnn"])["model"] == "cnn"
    result = across_frame(runs, {"mlp on digits": 0.95, problems["cnn"]: 0.85})
    how = result.normalisation.set_index("workload")
    assert how.loc["mlp on digits", "method"] == REFERENCE and how.loc["mlp on digits", "low"] == 0.95
    assert how.loc["cnn on digits", "method"] == REFERENCE and how.loc["cnn on digits", "low"] == 0.85
    text = stats_tables(runs, references={"mlp on digits": 0.95})
    assert "reference 0.95" in text and "target 0.5" in text


def test_across_can_be_left_out():
    runs = runs_frame(optimizer_records())
    assert "Across workloads" not in stats_tables(runs, across=False)
    assert stats_tables(runs_frame([make_record()])) == "statistics: no workload has two cells to compare"
