"""The building blocks of issue 13's vectorised tables, each held to the one-at-a-time code it replaces.

grouped: numpy's sums and means, math.fsum, statistics.median per segment; workloads: canonical JSON of edited
settings cut from their text; text: the differences that name cells apart; simple_table: tabulate's "simple".
"""

import math
import random
import statistics
from collections import OrderedDict

import numpy as np
import pandas as pd
import pytest
from tabulate import tabulate

from harness.records import canonical
from harness.reporting import grouped
from harness.reporting.cells import MODEL_FIELDS, OPTIMIZER_FIELDS
from harness.reporting.simple_table import simple_table
from harness.reporting.text import differences, grouped_differences
from harness.reporting.values import finite_numbers, first_present
from harness.reporting.workloads import cell_keys, parse_settings
from tests.reporting.legacy.text import differences as old_differences


def segments(rng: np.random.Generator, kind: int):
    sizes = rng.integers(0, int(rng.choice([4, 12, 300])), size=int(rng.integers(1, 40)))
    n = int(sizes.sum())
    if kind == 0:
        values = rng.normal(size=n)
    elif kind == 1:
        values = rng.normal(size=n) * 10.0 ** rng.integers(-20, 20, size=n)
    elif kind == 2:
        values = np.round(rng.normal(size=n) * 100, 2)
    else:  # exact ties, cancellation, signed zeros
        values = rng.choice([0.1, 0.2, 0.3, -0.1, 1e16, -1e16, 1.0, 2.675, 0.0, -0.0], size=n)
    return values, sizes


@pytest.mark.parametrize("kind", range(4))
def test_segment_sums_means_and_medians_are_those_of_each_segment_to_the_last_bit(kind):
    rng = np.random.default_rng(kind)
    for _ in range(40):
        values, sizes = segments(rng, kind)
        sums, exact, middle = (
            grouped.numpy_sums(values, sizes),
            grouped.exact_sums(values, sizes),
            grouped.medians(values, sizes),
        )
        means = grouped.numpy_means(values, sizes)
        variances = grouped.numpy_variances(values, sizes, means)
        for i, (start, size) in enumerate(zip(grouped.offsets(sizes), sizes, strict=True)):
            part = values[start : start + size]
            fsum = math.fsum(part.tolist())
            assert exact[i] == fsum and math.copysign(1, exact[i]) == math.copysign(1, fsum)
            if size:
                assert sums[i] == np.add.reduce(part) and means[i] == part.mean()
                assert middle[i] == statistics.median(part.tolist())
            if size >= 2:
                assert variances[i] == part.var(ddof=1)


def test_exact_sums_of_infinities_and_overflow_are_those_of_fsum_or_nan():
    values = np.array([math.inf, 1.0, 1e308, 1e308, math.inf, -math.inf])
    sums = grouped.exact_sums(values, np.array([2, 2, 2]))
    assert sums[0] == math.inf and math.isnan(sums[1]) and math.isnan(sums[2])  # fsum raises for the last two


def test_column_numbers_and_firsts_follow_values_py():
    rng = random.Random(4)
    noise = [None, math.nan, pd.NA, "0.5", True, False, math.inf, -0.0, 3, 2.5, np.float32(1.5), np.int64(7)]
    for _ in range(200):
        column = pd.Series([rng.choice(noise) for _ in range(rng.randint(1, 9))], dtype=object)
        numbers = grouped.real_numbers(column)
        assert [v for v in numbers.tolist() if not math.isnan(v)] == finite_numbers(column)
        codes = np.array([rng.randint(0, 2) for _ in column])
        firsts = grouped.Groups(codes, 3).first_present(column)
        for code in range(3):
            expected = first_present(column[codes == code])
            assert firsts[code] is expected or firsts[code] == expected or (expected is None and firsts[code] is None)


def adversarial_settings(rng: random.Random, count: int) -> list[dict]:
    """Settings whose keys also appear nested, in strings, with quotes and accents: cutting text must not be fooled."""
    names = ["a", "model", "model_label", "model_params", "metric", "optimizer", "optimizer_params", "schedule"]
    names += ["zz", 'm"odel', "métrique", "optimizer_label", "schedule_params", "b", "precision", "target"]

    def value(depth=0):
        draw = rng.random()
        if depth < 2 and draw < 0.2:
            return {rng.choice(names): value(depth + 1) for _ in range(rng.randint(0, 3))}
        if depth < 2 and draw < 0.3:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return rng.choice([None, True, 0, 1, -0.0, 0.1, 1e300, math.nan, "x", "model", '"model": ', 'a, "b": c', "é"])

    return [{rng.choice(names): value() for _ in range(rng.randint(0, 12))} for _ in range(count)]


def test_workload_problem_and_optimizer_keys_are_canonical_json_of_the_edited_settings():
    rng = random.Random(3)
    settings = adversarial_settings(rng, 4000)
    texts = [canonical(s) for s in settings]
    parsed = parse_settings(texts)
    metrics = [rng.choice(["accuracy", None, 1, "rmse", {"x": 1}]) for _ in settings]
    edits = [(MODEL_FIELDS + OPTIMIZER_FIELDS, "metric", metrics), (OPTIMIZER_FIELDS, "metric", metrics)]
    (workloads, problems), optimizers = cell_keys(texts, parsed, edits, OPTIMIZER_FIELDS)
    for s, m, workload, problem, optimizer in zip(parsed, metrics, workloads, problems, optimizers, strict=True):
        assert workload == canonical({**{k: v for k, v in s.items() if k not in edits[0][0]}, "metric": m})
        assert problem == canonical({**{k: v for k, v in s.items() if k not in OPTIMIZER_FIELDS}, "metric": m})
        assert optimizer == canonical({k: s.get(k) for k in OPTIMIZER_FIELDS})


@pytest.mark.parametrize("dotted", [False, True])
def test_differences_name_the_same_settings_as_before(dotted):
    rng = random.Random(6 + dotted)
    names = ["a", "b", "lr", "p", *(["b.c"] if dotted else [])]

    def value(depth=0):
        draw = rng.random()
        if depth < 2 and draw < 0.25:
            return {rng.choice(names): value(depth + 1) for _ in range(rng.randint(0, 3))}
        if depth < 2 and draw < 0.3:
            return OrderedDict((rng.choice(names), value(depth + 1)) for _ in range(rng.randint(0, 3)))
        if depth < 2 and draw < 0.4:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        choices = [None, True, False, 0, 1, 1.0, -0.0, 0.0, math.nan, math.inf, "x", "1", 0.1, [1, 2], [1.0, 2]]
        return rng.choice([*choices, {"k": 1}, {"k": 1.0}, "{", [{"a": 1, "b": 2}], [{"b": 2, "a": 1}]])

    for _ in range(1500):
        group = [{rng.choice(names): value() for _ in range(rng.randint(0, 5))} for _ in range(rng.randint(1, 6))]
        assert differences(group) == old_differences(group)
    for _ in range(200):
        settings = [{rng.choice(names): value() for _ in range(rng.randint(0, 5))} for _ in range(rng.randint(1, 12))]
        groups = [rng.randint(0, 3) for _ in settings]
        texts = grouped_differences(settings, groups)
        for group in set(groups):
            members = [i for i, g in enumerate(groups) if g == group]
            assert [texts[i] for i in members] == old_differences([settings[i] for i in members])


def test_the_simple_table_is_tabulates():
    rng = random.Random(0)
    alphabet = "abc XYZ 0.9±!-_|,;:'\"()[]{}"
    for _ in range(1500):
        ncol, nrow = rng.randint(1, 6), rng.randint(1, 8)
        headers = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 8))) for _ in range(ncol)]
        columns = [
            ["".join(rng.choice(alphabet + "  ") for _ in range(rng.randint(0, 10))) for _ in range(nrow)]
            + [rng.choice(["True", "False", "", "1", "1.50", "  x ", "-"])]
            for _ in range(ncol)
        ]
        expected = tabulate(list(zip(*columns, strict=True)), headers=headers, tablefmt="simple", disable_numparse=True)
        assert simple_table(headers, columns) == expected
    for odd in ("x\ny", "é", "\x1b[1mx", "a\tb", 1):  # left to tabulate
        assert simple_table(["h"], [[odd]]) is None
