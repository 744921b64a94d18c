"""Figures of a sweep, drawn with matplotlib from the same frames the tables read. Never imports torch.

One function per kind of figure; each returns ``[(title, Figure)]``, one
figure per workload (a dataset, since that fixes the metric), so the HTML
report can inline them as SVG and ``harness report --plots DIR`` can save
them as PNG or SVG files. matplotlib runs on its Agg backend (no screen
needed) and is imported only when a figure is drawn.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from harness.reporting.values import missing

PLOT_FORMATS = ("png", "svg")
#: Okabe-Ito: distinguishable for colour-blind readers, and in greyscale print.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


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
    """Which points no other point beats on both axes: x (throughput) higher, y higher or lower per ``maximize_y``."""
    sign = 1 if maximize_y else -1
    points = [(float(x), sign * float(y)) for x, y in zip(xs, ys, strict=True)]
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox >= x and oy >= y and (ox > x or oy > y) for j, (ox, oy) in enumerate(points) if j != i)
        front.append(not dominated and math.isfinite(x) and math.isfinite(y))
    return front


def _by_workload(summary):
    """(dataset label, its cells that finished) in table order."""
    done = summary[summary["n"] > 0]
    return [(name, group) for name, group in done.groupby("dataset", sort=False)]


def _style(index: int) -> dict:
    return {"color": COLOURS[index % len(COLOURS)], "marker": MARKERS[index % len(MARKERS)]}


def _per_epoch(curves: list[list[dict]]) -> list[tuple[int, list[float]]]:
    """(1-based epoch, the seeds' validation metrics at it) for every epoch some seed reached."""
    by_epoch: dict[int, list[float]] = {}
    for curve in curves:
        for point in curve:
            if "epoch" in point and not missing(point.get("val_metric")):
                by_epoch.setdefault(int(point["epoch"]) + 1, []).append(float(point["val_metric"]))
    return sorted(by_epoch.items())


def learning_curves(records: list[dict], summary, runs) -> list[tuple[str, object]]:
    """Validation metric per epoch, mean over seeds with the min-max band, one line per cell."""
    plt = _pyplot()
    curves_by_cell: dict[str, list[list[dict]]] = {}
    cell_of = dict(zip(runs["key"], runs["cell"], strict=True))
    for record in records:
        curve = (record.get("results") or {}).get("val_curve")
        if record.get("status") == "ok" and isinstance(curve, list) and curve:
            curves_by_cell.setdefault(cell_of.get(record.get("key")), []).append(curve)
    figures = []
    for dataset, cells in _by_workload(summary):
        drawn = [(row, curves_by_cell[row["cell"]]) for _, row in cells.iterrows() if row["cell"] in curves_by_cell]
        if not drawn:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for index, (row, curves) in enumerate(drawn):
            kept = _per_epoch(curves)
            if not kept:
                continue
            xs = [epoch for epoch, _ in kept]
            style = _style(index)
            ax.plot(xs, [sum(v) / len(v) for _, v in kept], label=cell_label(row), markersize=3, **style)
            if len(curves) > 1:
                low, high = [min(v) for _, v in kept], [max(v) for _, v in kept]
                ax.fill_between(xs, low, high, color=style["color"], alpha=0.15)
        metric = cells["metric"].iloc[0]
        ax.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
        ax.set(xlabel="epoch", ylabel=f"validation {metric}", title=f"{dataset}: learning curves")
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        figures.append((f"{dataset}: learning curves", fig))
    return figures


def _scatter(summary, x_column: str, x_label: str, front_maximizes_x: bool | None, kind: str):
    plt = _pyplot()
    figures = []
    for dataset, cells in _by_workload(summary):
        cells = cells[cells[x_column].notna() & cells["mean"].notna()]
        if cells.empty:
            continue
        fig, ax = plt.subplots(figsize=(7, 4.2))
        maximize = cells["metric_mode"].iloc[0] != "min"
        for index, (_, row) in enumerate(cells.iterrows()):
            style = _style(index)
            ax.errorbar(
                row[x_column],
                row["mean"],
                yerr=None if missing(row["std"]) else row["std"],
                linestyle="none",
                capsize=3,
                label=cell_label(row),
                **style,
            )
        if front_maximizes_x is not None and len(cells) > 1:
            xs = list(cells[x_column] if front_maximizes_x else -cells[x_column])
            on_front = pareto_front(xs, list(cells["mean"]), maximize_y=maximize)
            front = cells[on_front].sort_values(x_column)
            ax.plot(front[x_column], front["mean"], color="#888888", linestyle="--", zorder=0, label="Pareto front")
        metric = cells["metric"].iloc[0]
        better = "higher" if maximize else "lower"
        ax.set(xlabel=x_label, ylabel=f"test {metric} ({better} is better)", title=f"{dataset}: {kind}")
        if x_column == "samples_per_s" and cells[x_column].max() / max(cells[x_column].min(), 1e-12) > 20:
            ax.set_xscale("log")
        ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
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


def performance_profile(profile) -> list[tuple[str, object]]:
    """The optimizers' performance profile (AlgoPerf): share of workloads within tau x the fastest, per tau."""
    if profile is None or profile.empty:
        return []
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    taus = [float(tau) for tau in profile.columns]
    for index, (optimizer, shares) in enumerate(profile.iterrows()):
        ax.step(taus, list(shares), where="post", label=str(optimizer), **_style(index))
    ax.set(
        xlabel="tau (time to target / the fastest optimizer's)",
        ylabel="share of workloads",
        ylim=(-0.03, 1.03),
        title="performance profile",
    )
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return [("performance profile", fig)]


def all_figures(records: list[dict], runs=None, summary=None) -> list[tuple[str, object]]:
    """Every figure of a set of records, in the order a report shows them (pass the frames if already made)."""
    from harness.reporting.cells import summary_frame
    from harness.reporting.frames import runs_frame
    from harness.reporting.stats_tables import profile_frame

    runs = runs_frame(records) if runs is None else runs
    summary = summary_frame(runs) if summary is None else summary
    return [
        *learning_curves(records, summary, runs),
        *accuracy_vs_throughput(summary),
        *memory_vs_accuracy(summary),
        *performance_profile(profile_frame(runs)),
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
