"""Two results directories -> per-cell changes -> regressions: what ``harness compare`` gates CI on.

A cell of BASE matches a cell of NEW when their configs are equal except for
the seed. Config fields that only one side's records have (a field added or
dropped between harness versions) are left out of the match and named, so an
upgrade does not silently turn every cell one-sided. The device is part of a
cell but checked apart: the same config on different hardware is a device
mismatch, refused unless allowed, because speed and memory measured on two
machines say nothing about a change of code.

For each matched cell, the test metric (better as its ``metric_mode`` says),
training samples/s (higher is better) and peak memory (lower is better) are
compared. A change is a regression only when it is worse by more than the
relative threshold and, where both sides have two or more runs, beyond the
noise of the seeds: the test of :func:`harness.reporting.stats.difference_test`
(Welch's by default) gives p < alpha. With one run on a side only the
threshold applies, and the row says so. A cell with ok runs in BASE and none
in NEW is a regression too: a crash is worse than any slowdown.

A speed quantity (samples/s) of a cell where either side has a run whose
timing was disturbed (the run's own reasons: load above the cores available,
step-time CV above 0.5, threads waiting for a core; see
:mod:`harness.reporting.frames`) is never called a regression or an
improvement: its verdict is :data:`DISTURBED`, its note says which side and
why, it does not fail ``harness compare``, and the verdict line counts it.
Each folder is read as a runs frame (:func:`harness.reporting.run_index.load_runs`), its runs grouped by
cell once and each cell's settings parsed once. Nothing here imports torch.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path

from harness.errors import ConfigError, HarnessError
from harness.records import canonical, label
from harness.reporting.frames import CELL_SETTINGS
from harness.reporting.stats import ALPHA, BOOTSTRAP, WELCH, Estimate, Significance, difference_test, estimate
from harness.specs import KINDS

DEFAULT_THRESHOLD = 0.05
#: The quantity of the one change a cell gets when a side has no ok run to measure.
OK_RUNS = "ok runs"

#: Verdicts of a :class:`Change`.
REGRESSION, IMPROVED, NOISE, UNCHANGED, NOT_COMPARED = "regression", "improved", "within noise", "unchanged", "n/a"
#: The verdict of a speed change that would be a regression or an improvement but whose timing was disturbed.
DISTURBED = "timing disturbed"

#: Quantities measured by the clock, hence untrustworthy when a run's timing was disturbed.
SPEED_QUANTITIES = ("samples/s",)


#: The columns of :meth:`Comparison.frame`.
_FRAME_COLUMNS = ("cell", "quantity", "better", "base_mean", "base_ci95", "base_n", "new_mean", "new_ci95", "new_n")
_FRAME_COLUMNS += ("relative_change", "p_value", "test", "verdict", "note")


class DeviceMismatchError(HarnessError):
    """Matched cells ran on different devices and the caller did not allow comparing across hardware."""


def compare_formats() -> list[str]:
    """What ``harness compare --format`` takes: every table format, and ``json`` for machines."""
    from harness.reporting.formats import formats

    return sorted({*formats(), "json"})


def check_compare_format(fmt: str) -> str:
    from harness.reporting.formats import refuse_unsafe

    refuse_unsafe(fmt)
    if fmt not in compare_formats():
        raise ConfigError(f"unknown format {fmt!r}; allowed: {', '.join(compare_formats())}")
    return fmt


@dataclass(frozen=True)
class Change:
    """One quantity of one matched cell, BASE against NEW, with the verdict and why."""

    cell: str
    quantity: str
    better: str
    base: Estimate
    new: Estimate
    relative: float
    test: Significance
    verdict: str
    note: str = ""


@dataclass(frozen=True)
class DeviceMismatch:
    cell: str
    base_device: str | None
    new_device: str | None


@dataclass
class Comparison:
    """The result of :func:`compare_dirs`: every change, the cells only one side has, and what could not be matched."""

    base: Path
    new: Path
    threshold: float
    alpha: float
    test: str
    changes: list[Change] = field(default_factory=list)
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    device_mismatches: list[DeviceMismatch] = field(default_factory=list)
    unmatched_fields: list[str] = field(default_factory=list)
    problems: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.verdict == REGRESSION]

    @property
    def set_aside(self) -> list[Change]:
        """Speed changes beyond the threshold not judged, because a side's timing was disturbed."""
        return [c for c in self.changes if c.verdict == DISTURBED]

    @property
    def cells(self) -> int:
        return len({c.cell for c in self.changes})

    def frame(self):
        """One row per change, then one per one-sided cell (verdict 'only in base'/'only in new')."""
        import pandas as pd

        def values(c: Change) -> tuple:
            sides = (c.base.mean, c.base.ci, c.base.n, c.new.mean, c.new.ci, c.new.n)
            return c.cell, c.quantity, c.better, *sides, c.relative, c.test.p_value, c.test.method, c.verdict, c.note

        rows = [dict(zip(_FRAME_COLUMNS, values(c), strict=True)) for c in self.changes]
        rows += [{"cell": name, "verdict": "only in base"} for name in self.only_base]
        rows += [{"cell": name, "verdict": "only in new"} for name in self.only_new]
        return pd.DataFrame(rows, columns=list(_FRAME_COLUMNS))

    def as_dict(self) -> dict:
        """Plain JSON-ready data (NaN and infinities as None)."""

        def clean(value):
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return str(value) if isinstance(value, Path) else value

        data = asdict(self)
        data["problems"] = [{"path": str(p), "problem": text} for p, text in self.problems]
        data["regressions"] = len(self.regressions)
        data["set_aside"] = len(self.set_aside)
        return clean(data)

    def render(self, fmt: str = "simple") -> str:
        """The changes as a table (any tabulate format), CSV, or JSON, with the one-sided cells and a verdict line."""
        check_compare_format(fmt)
        if fmt == "json":
            return json.dumps(self.as_dict(), indent=2)
        if fmt == "csv":
            return self.frame().to_csv(index=False).rstrip("\n")
        from tabulate import tabulate

        lines = []
        if self.device_mismatches:
            lines += [_mismatch_text(self.device_mismatches, allowed=True), ""]
        rows = [[c.cell, c.quantity, _value(c, c.base), _value(c, c.new), *_judged(c)] for c in self.changes]
        if rows:
            headers = ["cell", "quantity", "base", "new", "change", "test", "verdict", "note"]
            lines.append(tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True))
        else:
            lines.append("no cell is in both directories")
        for title, names in (("only in BASE", self.only_base), ("only in NEW", self.only_new)):
            if names:
                lines += ["", f"{title} ({len(names)}):", *(f"  {name}" for name in names)]
        if self.unmatched_fields:
            lines += ["", f"config fields only one side has, left out of the match: {', '.join(self.unmatched_fields)}"]
        lines += ["", self.verdict_line()]
        return "\n".join(lines)

    def verdict_line(self) -> str:
        count = len(self.regressions)
        what = f"{count} regression{'s' if count != 1 else ''}" if count else "no regression"
        line = (
            f"{what} in {self.cells} matched cell{'s' if self.cells != 1 else ''} "
            f"(worse by more than {self.threshold:.0%} and, with 2+ runs a side, {self.test} p < {self.alpha:g})"
        )
        if aside := len(self.set_aside):
            line += f"; {aside} speed change{'s' if aside != 1 else ''} set aside: timing disturbed (see the note)"
        return line


def _value(change: Change, value: Estimate) -> str:
    """'0.953 ± 0.004 (n=3)': the mean, its 95% CI half-width where there is one, and the runs behind it."""
    from harness.reporting.text import format_metric, format_rate

    if change.quantity == OK_RUNS:
        return f"{value.mean:.0f}/{value.n}"
    if value.n == 0:
        return "-"
    if change.quantity == "samples/s":
        text = format_rate(value.mean) + ("" if math.isnan(value.ci) else f" ± {format_rate(value.ci)}")
    elif change.quantity.startswith("peak MiB"):
        text = f"{value.mean:.1f}" + ("" if math.isnan(value.ci) else f" ± {value.ci:.1f}")
    else:
        text = format_metric(value.mean, value.ci, change.better)
    return f"{text} (n={value.n})"


def _judged(change: Change) -> list[str]:
    """The change, the test, the verdict (a regression in capitals) and the note of a row of the table."""
    verdict = change.verdict.upper() if change.verdict == REGRESSION else change.verdict
    return [_relative(change.relative), change.test.describe(), verdict, change.note]


def _relative(relative: float) -> str:
    if math.isnan(relative):
        return ""
    return f"{relative:+.1%}" if math.isfinite(relative) else ("+inf" if relative > 0 else "-inf")


def _mismatch_text(mismatches: list[DeviceMismatch], allowed: bool) -> str:
    pairs = Counter((m.base_device, m.new_device) for m in mismatches)
    detail = "; ".join(f"BASE {b!r} vs NEW {n!r} ({count} cells)" for (b, n), count in pairs.items())
    head = f"WARNING: DEVICES DIFFER: {detail}."
    tail = (
        " Throughput and memory from different hardware are not a code change; compared anyway as asked."
        if allowed
        else " Throughput and memory from different hardware say nothing about a code change;"
        " pass --allow-device-mismatch (allow_device_mismatch=True) to compare anyway."
    )
    return head + tail


# ---------------------------------------------------------------------------
# Records -> cells -> matched pairs
# ---------------------------------------------------------------------------


#: The runs frame's columns read of a cell's ok runs; in the text ones a gap (None or NaN) reads None.
_TEXTS = ("metric", "metric_mode", "memory_kind", "timing_notes")
_COLUMNS = (*_TEXTS, "test_metric", "samples_per_s", "peak_memory_mb", "timing_disturbed")


@dataclass
class _Cell:
    """A cell of one side: its config on the shared fields, its device, every run's status, its ok runs' columns."""

    config: dict
    device: str | None
    statuses: object = ()  # an array, in the order the runs were read
    ok: dict = field(default_factory=dict)  # column -> an array of its values over the ok runs, in that order
    ok_runs: int = 0


def _load(directory) -> tuple[object, list[tuple[Path, str]]]:
    """The runs frame of a results directory, and ``(path, problem)`` for each file that is not a record."""
    from harness.reporting.export import load_results

    if not Path(directory).is_dir():
        raise HarnessError(f"{directory} is not a directory")
    return load_results(directory)


def _identities(runs) -> tuple[object, list[dict], set[str]]:
    """Each run's cell as a code, each cell's identity (config without seed, plus device), read once, its fields."""
    import pandas as pd

    codes, settings = pd.factorize(runs[CELL_SETTINGS])  # cells in the order their first run was read
    identities = [json.loads(text) for text in settings]
    return codes, identities, {name for identity in identities for name in identity} - {"device"}


def _column(runs, name: str):
    """A column of the runs frame as an array; in a text column a gap (None or NaN) reads None."""
    import numpy as np

    column = runs[name]
    if name == "timing_disturbed":
        return column.eq(True).to_numpy()
    if name in _TEXTS:
        return np.where(column.notna().to_numpy(), column.to_numpy(dtype=object), None)
    return column.to_numpy()


def _groups(groups, count: int) -> tuple[object, list[int]]:
    """The stable order that sorts rows by group (``0 <= groups < count``), and where each starts in it, then ends."""
    import numpy as np

    order = np.argsort(groups, kind="stable")
    return order, np.searchsorted(groups[order], np.arange(count + 1)).tolist()


def _cells(runs, identities: tuple, fields: set[str]) -> dict[str, dict[str | None, _Cell]]:
    """Match key -> device -> cell, the match key being the config on ``fields``; runs grouped once, by column."""
    import numpy as np

    codes, settings, _ = identities
    cells: dict[tuple[str, str | None], _Cell] = {}
    index: dict[tuple[str, str | None], int] = {}
    positions = np.empty(len(settings), dtype=np.intp)  # settings -> cell: fields one side lacks merge cells
    for i, identity in enumerate(settings):
        config = {k: v for k, v in identity.items() if k in fields}
        key = (canonical(config), identity.get("device"))
        positions[i] = index.setdefault(key, len(index))
        cells.setdefault(key, _Cell(config, identity.get("device")))
    rows = positions[codes]
    statuses = runs["status"].to_numpy()
    ok = statuses == "ok"
    (order, bounds), (ok_order, ok_bounds) = _groups(rows, len(cells)), _groups(rows[ok], len(cells))
    statuses, columns = statuses[order], {name: _column(runs, name)[ok][ok_order] for name in _COLUMNS}
    for i, cell in enumerate(cells.values()):
        start, stop = ok_bounds[i], ok_bounds[i + 1]
        cell.statuses, cell.ok = statuses[bounds[i] : bounds[i + 1]], {k: v[start:stop] for k, v in columns.items()}
        cell.ok_runs = stop - start
    grouped: dict[str, dict[str | None, _Cell]] = {}
    for (key, device), cell in cells.items():
        grouped.setdefault(key, {})[device] = cell
    return grouped


def _cell_names(cells: list[_Cell]) -> dict[int, str]:
    """id(cell) -> 'mlp | digits | sgd | batch 64', plus the settings that tell apart cells sharing those labels."""
    from harness.reporting.text import readable_names

    entries = {}
    for cell in cells:
        c = cell.config
        name = " | ".join(str(label(c, part) or "?") for part in KINDS)
        if c.get("batch_size") is not None:
            name += f" | batch {c['batch_size']}"
        entries[id(cell)] = (name, {**c, "device": cell.device})
    return readable_names(entries)


def _pair(base: dict, new: dict) -> tuple[list[tuple[_Cell, _Cell]], list[_Cell], list[_Cell]]:
    """Cells matched by config and device; a config on one device a side each is a (device-mismatched) pair too."""
    pairs, only_base, only_new = [], [], []
    for key in dict.fromkeys([*base, *new]):
        b, n = base.get(key, {}), new.get(key, {})
        pairs += [(b[d], n[d]) for d in b if d in n]
        left_b, left_n = [b[d] for d in b if d not in n], [n[d] for d in n if d not in b]
        if len(left_b) == 1 and len(left_n) == 1:
            pairs.append((left_b[0], left_n[0]))
        else:
            only_base += left_b
            only_new += left_n
    return pairs, only_base, only_new


# ---------------------------------------------------------------------------
# Pairs -> changes
# ---------------------------------------------------------------------------


def _relative_change(base: float, new: float) -> float:
    if base == 0:
        return 0.0 if new == 0 else math.copysign(math.inf, new)
    return (new - base) / abs(base)


def _judge(name, quantity, better, base_values, new_values, *, threshold, alpha, method) -> Change:
    """The verdict for one quantity: worse beyond the threshold and beyond noise is a regression."""
    note = ""
    base, new = estimate(base_values), estimate(new_values)
    if base.n == 0 or new.n == 0:
        missing = "BASE" if base.n == 0 else "NEW"
        nothing = Significance("none", math.nan, "not measured")
        return Change(name, quantity, better, base, new, math.nan, nothing, NOT_COMPARED, f"not measured in {missing}")
    relative = _relative_change(base.mean, new.mean)
    worse = relative if better == "min" else -relative
    test = difference_test(base_values, new_values, method)
    if abs(worse) <= threshold:
        verdict = UNCHANGED
    elif test.tested and not test.significant(alpha):
        verdict = NOISE
    else:
        verdict = REGRESSION if worse > 0 else IMPROVED
        if not test.tested:
            note = "fewer than 2 runs a side: threshold only, noise unknown"
    return Change(name, quantity, better, base, new, relative, test, verdict, note)


def _changes(name: str, base: _Cell, new: _Cell, threshold: float, alpha: float, method: str) -> list[Change]:
    from harness.reporting.text import MEMORY_KINDS

    if not base.ok_runs or not new.ok_runs:
        none = Significance("none", math.nan, "")
        statuses = Counter((new if base.ok_runs else base).statuses)
        detail = ", ".join(f"{count} {status}" for status, count in statuses.items())
        if base.ok_runs:
            verdict, note = REGRESSION, f"no ok run in NEW ({detail}); BASE had {base.ok_runs}"
        elif new.ok_runs:
            verdict, note = IMPROVED, f"no ok run in BASE ({detail}); NEW has {new.ok_runs}"
        else:
            verdict, note = NOT_COMPARED, "no ok run on either side"
        # here the "mean" is the count of ok runs and n the count of runs: shown as 'ok/runs'
        counts = (Estimate(base.ok_runs, math.nan, len(base.statuses), math.nan),)
        counts += (Estimate(new.ok_runs, math.nan, len(new.statuses), math.nan),)
        return [Change(name, OK_RUNS, "max", *counts, math.nan, none, verdict, note)]

    judge = partial(_judge, name, threshold=threshold, alpha=alpha, method=method)
    metrics = {*base.ok["metric"], *new.ok["metric"]}
    metric = f"test {metrics.pop()}" if len(metrics) == 1 else "test metric"
    modes = {*base.ok["metric_mode"], *new.ok["metric_mode"]}
    if len(modes) == 1 and modes <= {"max", "min"}:
        metric_change = judge(metric, modes.pop(), base.ok["test_metric"], new.ok["test_metric"])
    else:
        metric_change = _not_compared(name, metric, "metric_mode unknown or differs between the sides")
    speed_change = judge("samples/s", "max", base.ok["samples_per_s"], new.ok["samples_per_s"])
    speed_change = _distrust_timing(speed_change, base, new)
    kinds = {*base.ok["memory_kind"], *new.ok["memory_kind"]} - {None}
    if len(kinds) > 1:  # CPU RSS growth against CUDA allocation: two different numbers
        memory_change = _not_compared(name, "peak MiB", f"memory measured differently: {', '.join(sorted(kinds))}")
    else:
        quantity = f"peak MiB ({MEMORY_KINDS.get(k, k)})" if (k := next(iter(kinds), None)) else "peak MiB"
        memory_change = judge(quantity, "min", base.ok["peak_memory_mb"], new.ok["peak_memory_mb"])
    return [metric_change, speed_change, memory_change]


def _disturbance(base: _Cell, new: _Cell) -> str:
    """'NEW: 2 of 5 runs (load 3.2 > 2 cores)': which side's ok runs had disturbed timing, and why; '' if none."""
    sides = []
    for side, cell in (("BASE", base), ("NEW", new)):
        if count := int(cell.ok["timing_disturbed"].sum()):
            # the runs frame joins a run's reasons with '; ' (harness.reporting.frames)
            reasons = (reason for notes in cell.ok["timing_notes"] if notes for reason in notes.split("; "))
            sides.append(f"{side}: {count} of {cell.ok_runs} runs ({'; '.join(dict.fromkeys(reasons))})")
    return ", ".join(sides)


def _distrust_timing(change: Change, base: _Cell, new: _Cell) -> Change:
    """A speed change of disturbed runs: a regression or improvement becomes :data:`DISTURBED`; the note says why."""
    disturbance = _disturbance(base, new) if change.quantity in SPEED_QUANTITIES else ""
    if not disturbance:
        return change
    if change.verdict in (REGRESSION, IMPROVED):
        note = f"would be {change.verdict}, but timing disturbed in {disturbance}"
        return replace(change, verdict=DISTURBED, note="; ".join(filter(None, [note, change.note])))
    return replace(change, note="; ".join(filter(None, [change.note, f"timing disturbed in {disturbance}"])))


def _not_compared(name: str, quantity: str, note: str) -> Change:
    nothing, untested = estimate([]), Significance("none", math.nan, "")
    return Change(name, quantity, "?", nothing, nothing, math.nan, untested, NOT_COMPARED, note)


def compare_dirs(
    base,
    new,
    threshold: float = DEFAULT_THRESHOLD,
    allow_device_mismatch: bool = False,
    alpha: float = ALPHA,
    test: str = WELCH,
) -> Comparison:
    """Match the cells of two results directories and judge every change (see the module docstring).

    Raises HarnessError for a directory without records or a bad threshold, and
    :class:`DeviceMismatchError` when matched cells ran on different devices
    unless ``allow_device_mismatch``; then the mismatches are in the result.
    """
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold >= 0):
        raise ConfigError(f"threshold must be a relative change >= 0 (0.05 is 5%), got {threshold!r}")
    if test not in (WELCH, BOOTSTRAP):
        raise ConfigError(f"unknown test {test!r}; use {WELCH} or {BOOTSTRAP}")
    (base_runs, base_problems), (new_runs, new_problems) = _load(base), _load(new)
    base_cells, new_cells = _identities(base_runs), _identities(new_runs)
    shared = base_cells[2] & new_cells[2]  # config fields
    result = Comparison(Path(base), Path(new), threshold, alpha, test, problems=base_problems + new_problems)
    result.unmatched_fields = sorted(base_cells[2] ^ new_cells[2])

    pairs, only_base, only_new = _pair(_cells(base_runs, base_cells, shared), _cells(new_runs, new_cells, shared))
    names = _cell_names([b for b, _ in pairs] + only_base + only_new)
    names.update({id(n): names[id(b)] for b, n in pairs})
    result.device_mismatches = [
        DeviceMismatch(names[id(b)], b.device, n.device) for b, n in pairs if b.device != n.device
    ]
    if result.device_mismatches and not allow_device_mismatch:
        raise DeviceMismatchError(_mismatch_text(result.device_mismatches, allowed=False))
    for b, n in sorted(pairs, key=lambda pair: names[id(pair[0])]):
        result.changes += _changes(names[id(b)], b, n, threshold, alpha, test)
    result.only_base = sorted(names[id(c)] for c in only_base)
    result.only_new = sorted(names[id(c)] for c in only_new)
    return result
