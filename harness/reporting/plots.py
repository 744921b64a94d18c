"""Figures of a sweep, drawn with matplotlib from the same frames the tables read. Never imports torch.

One function per kind of figure; each returns ``[(title, Figure)]``, one
figure per workload (a dataset, since that fixes the metric), so the HTML
report can inline them as SVG and ``harness report --plots DIR`` can save
them as PNG or SVG files. matplotlib runs on its Agg backend (no screen
needed) and is imported only when a figure is drawn.

Everything comes from the runs frame and the summary frame (curves from
``detail.curve``), and every figure stays readable at thousands of cells: a
figure names at most :data:`MAX_DRAWN` cells (the best by rank), scatter plots
draw the others in grey as one bitmap inside the SVG, and a note under the
figure (:func:`figure_note`) says how many were left out or unnamed and where
they all are. No cell is dropped silently.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from harness.reporting.values import missing

PLOT_FORMATS = ("png", "svg")
#: Okabe-Ito: distinguishable for colour-blind readers, and in greyscale print.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

#: Cells drawn and named per figure (curves, named points) at most: the best by rank; the figure says how many
#: more there are and where. Scatter plots draw the others too, unnamed, in grey.
MAX_DRAWN = 10

#: Unnamed points of a scatter past which they are one bitmap inside the SVG, so a page of thousands stays small.
RASTERIZE_FROM = 100

#: The ``gid`` of the text under a figure saying what it leaves out; :func:`figure_note` reads it back.
NOTE_GID = "harness-note"

GREY = "#9a9a9a"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def cell_label(row) -> str:
    """'mlp · adam', plus the settings that tell two such cells apart."""
    label = f"{row['model']} · {row['optimizer']}"
    settings = row.get("settings") if hasattr(row, "get") else None
    return f"{label} ({settings})" if settings else label


def pareto_front(xs, ys, maximize_y: bool = True) -> list[bool]:
    """Which points no other point beats on both axes: x (throughput) higher, y higher or lower per ``maximize_y``.

    Sorted once (n log n): a point is beaten when a point of larger x has a y as good, or one of the same x
    a better y. A point with a NaN beats nothing; one that is not finite is never on the front.
    """
    import numpy as np

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float) * (1 if maximize_y else -1)
    front = np.zeros(len(x), dtype=bool)
    valid = np.flatnonzero(~np.isnan(x) & ~np.isnan(y))
    if not len(valid):
        return front.tolist()
    order = valid[np.lexsort((-y[valid], -x[valid]))]  # x falling, then y falling
    sx, sy = x[order], y[order]
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])  # each run of one x value
    group = np.cumsum(np.r_[True, sx[1:] != sx[:-1]]) - 1
    best_of_group = sy[starts]  # the largest y at each x
    before = np.r_[-np.inf, np.maximum.accumulate(best_of_group)[:-1]]  # the best y at any larger x
    beaten = (sy < best_of_group[group]) | (sy <= before[group])
    front[order] = ~beaten & np.isfinite(sx) & np.isfinite(sy)
    return front.tolist()


def _by_workload(summary):
    """(dataset label, its cells that finished) in table order."""
    done = summary[summary["n"] > 0]
    return [(name, group) for name, group in done.groupby("dataset", sort=False)]


def _style(index: int) -> dict:
    """Colour and marker of the ``index``-th cell: 64 distinct pairs before one repeats."""
    return {"color": COLOURS[index % len(COLOURS)], "marker": MARKERS[(index + index // len(COLOURS)) % len(MARKERS)]}


def best_ranked(frame, limit: int = MAX_DRAWN):
    """``frame`` cut to ``limit`` rows, kept in its own order: the best ranks first (rank 1 of every workload,
    then rank 2...; ties in the frame's order), the unranked last. Without a ``rank`` column, the first rows."""
    import pandas as pd

    if len(frame) <= limit or "rank" not in frame.columns:
        return frame.iloc[:limit]
    ranks = pd.to_numeric(frame["rank"].astype(object), errors="coerce").to_numpy(dtype=float, na_value=float("nan"))
    order = pd.DataFrame({"rank": ranks, "position": range(len(frame))})
    kept = order.sort_values(["rank", "position"], na_position="last", kind="stable")["position"].iloc[:limit]
    return frame.iloc[sorted(kept)]


def _finish(fig, note: str = "") -> None:
    """Lay the figure out; a ``note`` says under it what it leaves out (the HTML caption repeats it, see
    :func:`figure_note`)."""
    if note:
        fig.text(0.01, 0.01, note, fontsize=7, color="#555555", ha="left", va="bottom", wrap=True, gid=NOTE_GID)
    fig.tight_layout(rect=(0, 0.06, 1, 1) if note else (0, 0, 1, 1))


def figure_note(fig) -> str:
    """What a figure says it leaves out, or ''."""
    return " ".join(t.get_text() for t in fig.texts if t.get_gid() == NOTE_GID)


def _curve_points(runs):
    """Mean, min and max of the validation metric per (cell, 1-based epoch) of ``runs``, and the curves per cell.

    Each run's ``detail.curve`` is parsed once, all of them in one JSON document.
    """
    import numpy as np
    import pandas as pd

    curves = json.loads("[" + ",".join(runs["detail.curve"]) + "]")
    lengths = np.fromiter((len(curve) for curve in curves), dtype=int, count=len(curves))
    points = np.array([point for curve in curves for point in curve], dtype=float).reshape(-1, 2)
    frame = pd.DataFrame(
        {
            "cell": np.repeat(runs["cell"].to_numpy(), lengths),
            "epoch": points[:, 0].astype(int) + 1,
            "value": points[:, 1],
        }
    )
    stats = frame.groupby(["cell", "epoch"], sort=True)["value"].agg(["mean", "min", "max"])
    return stats, runs["cell"].value_counts()


def _has_curve(runs):
    """Which runs finished ok with a validation curve."""
    return (runs["status"] == "ok") & runs["detail.curve"].notna()


def _drawn_curves(runs, summary) -> list[tuple]:
    """(dataset, metric, cells drawn, cells with a curve, finished cells) per workload that has a curve."""
    with_curve = set(runs.loc[_has_curve(runs), "cell"].unique())
    out = []
    for dataset, cells in _by_workload(summary):
        curved = cells[cells["cell"].isin(with_curve)]
        if not curved.empty:
            out.append((dataset, cells["metric"].iloc[0], best_ranked(curved), len(curved), len(cells)))
    return out


def learning_curves(runs, summary) -> list[tuple[str, object]]:
    """Validation metric per epoch of each workload's best cells: mean over seeds with the min-max band.

    At most :data:`MAX_DRAWN` cells per figure, the best by rank; the figure says how many it left out.
    """
    plt = _pyplot()
    drawn = _drawn_curves(runs, summary)
    if not drawn:
        return []
    cells = {cell for _, _, chosen, _, _ in drawn for cell in chosen["cell"]}
    stats, curves = _curve_points(runs.loc[_has_curve(runs) & runs["cell"].isin(cells), ["cell", "detail.curve"]])
    figures = []
    for dataset, metric, chosen, with_curve, finished in drawn:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for index, (_, row) in enumerate(chosen.iterrows()):
            points = stats.loc[row["cell"]]
            xs, style = list(points.index), _style(index)
            ax.plot(xs, points["mean"], label=cell_label(row), markersize=3, **style)
            if curves[row["cell"]] > 1:
                ax.fill_between(xs, points["min"], points["max"], color=style["color"], alpha=0.15)
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        title = f"{dataset}: learning curves"
        shown = title if len(chosen) == with_curve else f"{title} (best {len(chosen)} of {with_curve:,} cells)"
        ax.set(xlabel="epoch", ylabel=f"validation {metric}", title=shown)
        ax.legend(fontsize=8, loc="best")
        notes = []
        if len(chosen) < with_curve:
            notes.append(
                f"the best {len(chosen)} of {with_curve:,} cells by rank are drawn; all are in the summary table"
            )
        if with_curve < finished:
            notes.append(f"{finished - with_curve:,} finished cells recorded no validation curve")
        _finish(fig, "; ".join(notes))
        figures.append((title, fig))
    return figures


def _errorbars(ax, cells, x_column: str, **style):
    """One errorbar call for all ``cells``; a missing std draws no bar."""
    spread = cells["std"]
    yerr = None if spread.isna().all() else spread.fillna(0).clip(lower=0)
    return ax.errorbar(cells[x_column], cells["mean"], yerr=yerr, linestyle="none", **style)


def _scatter_others(ax, others, x_column: str) -> None:
    """The cells not named, in grey: their points in one line, their error bars in another (gaps between bars),
    so thousands cost two artists; past :data:`RASTERIZE_FROM` both are one bitmap inside the SVG."""
    import numpy as np

    x, mean = others[x_column].to_numpy(dtype=float), others["mean"].to_numpy(dtype=float)
    spread = others["std"].to_numpy(dtype=float, na_value=np.nan)
    bars = np.isfinite(spread)
    gap = np.full(bars.sum(), np.nan)
    xs = np.column_stack([x[bars], x[bars], gap]).ravel()
    ys = np.column_stack([(mean - spread)[bars], (mean + spread)[bars], gap]).ravel()
    many = len(others) > RASTERIZE_FROM
    ax.plot(xs, ys, color=GREY, linewidth=0.6, alpha=0.35, rasterized=many, zorder=1)
    label = f"{len(others):,} other cells"
    ax.plot(x, mean, linestyle="none", marker=".", markersize=4, color=GREY, alpha=0.8, label=label, rasterized=many)


# kept whole: one figure's steps in drawing order (points, front, axes, note) read best together
def _scatter(summary, x_column: str, x_label: str, front_maximizes_x: bool | None, kind: str):
    plt = _pyplot()
    figures = []
    for dataset, cells in _by_workload(summary):
        cells = cells[cells[x_column].notna() & cells["mean"].notna()]
        if cells.empty:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        maximize = cells["metric_mode"].iloc[0] != "min"
        named = best_ranked(cells)
        others = cells[~cells["cell"].isin(named["cell"])]
        if len(others):
            _scatter_others(ax, others, x_column)
        for index, (_, row) in enumerate(named.iterrows()):
            _errorbars(ax, named.iloc[[index]], x_column, capsize=3, label=cell_label(row), **_style(index))
        if front_maximizes_x is not None and len(cells) > 1:
            xs = cells[x_column] if front_maximizes_x else -cells[x_column]
            front = cells[pareto_front(xs, cells["mean"], maximize_y=maximize)].sort_values(x_column)
            ax.plot(front[x_column], front["mean"], color="#888888", linestyle="--", zorder=0, label="Pareto front")
        metric = cells["metric"].iloc[0]
        better = "higher" if maximize else "lower"
        ax.set(xlabel=x_label, ylabel=f"test {metric} ({better} is better)", title=f"{dataset}: {kind}")
        if x_column in ("samples_per_s", "energy_j") and cells[x_column].max() / max(cells[x_column].min(), 1e-12) > 20:
            ax.set_xscale("log")
        if others.empty:
            ax.legend(fontsize=8, loc="best")
        else:  # beside the axes: no point hidden under it, and no search for the emptiest corner among thousands
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        note = (
            f"every one of the {len(cells):,} cells is drawn; the best {len(named)} by rank are named, "
            f"the other {len(others):,} are grey (all are in the summary table)"
        )
        _finish(fig, note if len(others) else "")
        figures.append((f"{dataset}: {kind}", fig))
    return figures


def accuracy_vs_throughput(summary) -> list[tuple[str, object]]:
    """Test metric (mean ± std over seeds) against training samples/s, with the Pareto front."""
    return _scatter(summary, "samples_per_s", "training samples/s", True, "metric vs throughput")


def memory_vs_accuracy(summary) -> list[tuple[str, object]]:
    """Test metric against peak memory, with the front of cells that need less memory for more accuracy."""
    kinds = {k for k in summary["memory_kind"] if not missing(k)}
    label = "peak MiB" + (f" ({', '.join(sorted(kinds))})" if kinds else "")
    return _scatter(summary, "peak_mem_mib", label, False, "metric vs memory")


def metric_vs_energy(summary) -> list[tuple[str, object]]:
    """Test metric against the training epochs' joules, with the front of cells that spend less for more
    (drawn only where a run could read an energy counter: :mod:`harness.train.energy`)."""
    if "energy_j" not in summary or summary["energy_j"].isna().all():
        return []
    return _scatter(summary, "energy_j", "training energy (J, mean over seeds)", False, "metric vs energy")


def performance_profile(profile) -> list[tuple[str, object]]:
    """The optimizers' performance profile (AlgoPerf): share of workloads within tau x the fastest, per tau.

    At most :data:`MAX_DRAWN` optimizers, those with the largest area under their profile; the figure says
    how many it left out.
    """
    if profile is None or profile.empty:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    taus = [float(tau) for tau in profile.columns]
    drawn = profile
    if len(profile) > MAX_DRAWN:
        area = profile.fillna(0).mean(axis=1).to_numpy()
        order = sorted(range(len(profile)), key=lambda i: -area[i])[:MAX_DRAWN]  # stable: ties in table order
        drawn = profile.iloc[sorted(order)]
    for index, (optimizer, shares) in enumerate(drawn.iterrows()):
        ax.step(taus, list(shares), where="post", label=str(optimizer), **_style(index))
    ax.set(
        xlabel="tau (time to target / the fastest optimizer's)",
        ylabel="share of workloads",
        ylim=(-0.03, 1.03),
        title="performance profile",
    )
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=8, loc="lower right")
    note = (
        f"the {len(drawn)} of {len(profile):,} optimizers with the largest area under the profile are drawn; "
        "all are in the statistics' performance profile table"
    )
    _finish(fig, note if len(drawn) < len(profile) else "")
    return [("performance profile", fig)]


def _intervals(ax, values, lows, highs, rows, colours) -> None:
    """Points with their intervals, one row each (the first at the top)."""
    import numpy as np

    values, lows, highs = (np.asarray(v, dtype=float) for v in (values, lows, highs))
    ys = np.arange(len(values))[::-1]
    errors = np.clip(np.vstack([values - lows, highs - values]), 0, None)
    for y, value, error, colour in zip(ys, values, errors.T, colours, strict=True):
        ax.errorbar([value], [y], xerr=error[:, None], fmt="o", color=colour, capsize=3, elinewidth=2)
    ax.set_yticks(ys, rows)
    ax.set_ylim(-0.6, len(values) - 0.4)


def across_workloads_figure(across) -> list[tuple[str, object]]:
    """Interval estimates across workloads (as rliable draws them): each entry's IQM and optimality gap, and
    each pair's probability of improvement, each with its bootstrap interval.

    At most :data:`MAX_DRAWN` entries (the best IQM) and the pairs among them, :data:`MAX_DRAWN` x 2 at
    most; the figure says how many it left out. Nothing when fewer than two workloads count.
    """
    if across is None or across.workloads < 2 or len(across.scores) == 0:
        return []
    plt = _pyplot()
    scores = across.scores.iloc[:MAX_DRAWN]
    drawn = set(scores["contestant"])
    among = across.improvement[across.improvement["x"].isin(drawn) & across.improvement["y"].isin(drawn)]
    pairs = among.iloc[: 2 * MAX_DRAWN]
    height = 1.2 + 0.32 * (len(scores) + len(pairs))
    fig = plt.figure(figsize=(8, max(3.5, height)))
    grid = fig.add_gridspec(
        2 if len(pairs) else 1, 2, height_ratios=[len(scores) + 1, len(pairs) + 1][: 2 if len(pairs) else 1]
    )
    colours = [_style(i)["color"] for i in range(len(scores))]
    names = scores["contestant"].astype(str).tolist()
    confidence = f"{across.confidence:.0%} CI"
    for column, (field, label) in enumerate((("iqm", "IQM"), ("gap", "optimality gap"))):
        ax = fig.add_subplot(grid[0, column])
        _intervals(
            ax, scores[field], scores[f"{field}_low"], scores[f"{field}_high"], names if column == 0 else [], colours
        )
        ax.set(xlabel=f"{label} of normalised scores ({confidence})")
    if len(pairs):
        ax = fig.add_subplot(grid[1, :])
        rows = [f"P({x} > {y})" for x, y in zip(pairs["x"], pairs["y"], strict=True)]
        tints = [COLOURS[0] if called else GREY for called in pairs["called"]]
        _intervals(ax, pairs["probability"], pairs["low"], pairs["high"], rows, tints)
        ax.axvline(0.5, color="#555555", linestyle="--", linewidth=1)
        ax.set(xlabel=f"probability of improvement ({confidence}; coloured: called)", xlim=(-0.02, 1.02))
    title = f"across {across.workloads:,} workloads: {across.kind}"
    fig.suptitle(title)
    notes = []
    if len(scores) < len(across.scores):
        notes.append(f"the {len(scores)} of {len(across.scores):,} {across.kind} with the best IQM are drawn")
    if len(pairs) < len(across.improvement):
        notes.append(f"{len(pairs)} of {len(across.improvement):,} pairs are drawn")
    _finish(fig, "; ".join(notes) + ("; all are in the statistics' tables" if notes else ""))
    return [(title, fig)]


def all_figures(runs, summary=None, across=None, references=None) -> list[tuple[str, object]]:
    """Every figure of a runs frame (its ``detail.curve`` included), in the order a report shows them.

    ``summary`` is :func:`harness.reporting.cells.summary_frame` of ``runs`` and ``across``
    :func:`harness.reporting.stats_tables.across_frame` (with ``references``), made here when not given.
    """
    from harness.reporting.cells import summary_frame
    from harness.reporting.stats_tables import across_frame, profile_frame

    summary = summary_frame(runs) if summary is None else summary
    across = across_frame(runs, references) if across is None else across
    return [
        *learning_curves(runs, summary),
        *accuracy_vs_throughput(summary),
        *memory_vs_accuracy(summary),
        *metric_vs_energy(summary),
        *performance_profile(profile_frame(runs)),
        *across_workloads_figure(across),
    ]


def figure_svg(fig) -> str:
    """The figure as an ``<svg>`` element to inline in HTML (no XML prolog, no DOCTYPE)."""
    import io

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def slug(title: str) -> str:
    """A file name for a figure title: 'digits: learning curves' -> 'digits-learning-curves'."""
    return re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower() or "figure"


def check_plot_format(fmt: str) -> str:
    """``fmt`` itself, or a ConfigError naming the image formats figures can be saved as."""
    if fmt not in PLOT_FORMATS:
        from harness.errors import ConfigError

        raise ConfigError(f"unknown plot format {fmt!r}; allowed: {', '.join(PLOT_FORMATS)}")
    return fmt


def save_figures(figures, folder: str | Path, fmt: str = "png") -> list[Path]:
    """Write each figure to ``folder/<slug>.<fmt>``; returns the paths."""
    check_plot_format(fmt)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths, seen = [], set()
    for title, fig in figures:
        name = slug(title)
        while name in seen:
            name += "-2"
        seen.add(name)
        path = folder / f"{name}.{fmt}"
        fig.savefig(path, format=fmt, bbox_inches="tight", dpi=150)
        paths.append(path)
    return paths


def close(figures) -> None:
    """Free the figures' memory (pyplot keeps every open figure alive)."""
    plt = _pyplot()
    for _, fig in figures:
        plt.close(fig)
