r"""The summary as a LaTeX table ready for a paper: booktabs rules, the best value of each column in bold.

"Best" is judged within a workload (a dataset), since a number means nothing
next to another dataset's: the highest test metric (lowest where the metric's
mode is ``min``), the highest throughput, the lowest step time, memory and
training time. Ties are all bold. Every text is escaped, so a plugin name
such as ``mlp_regressor`` compiles. Needs ``\usepackage{booktabs}``.
"""

from __future__ import annotations

from harness.reporting.text import is_number_text, text_table

#: Table header -> (summary column, better direction) for the columns whose best is bolded.
RANKED = {
    "samples/s": ("samples_per_s", "max"),
    "tokens/s": ("tokens_per_s", "max"),
    "step ms": ("step_ms", "min"),
    "train s": ("train_s", "min"),
}
SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


_TRANSLATION = str.maketrans(SPECIAL)


def escape(text: str) -> str:
    """Plain text made safe inside a LaTeX table cell; '±' becomes math."""
    return str(text).translate(_TRANSLATION).replace("±", r"$\pm$")


def _ranked(header: str) -> tuple[str, str | None] | None:
    """(summary column, direction) for a header whose best is bolded; direction None = the metric's own mode."""
    if header.startswith("test "):
        return "mean", None
    if header.startswith("peak MiB"):
        return "peak_mem_mib", "min"
    return RANKED.get(header)


def _best_rows(summary, column: str, direction: str | None) -> set[int]:
    """Positions of the rows holding the best value of ``column`` within their dataset."""
    import numpy as np
    import pandas as pd

    from harness.reporting.grouped import present

    datasets, _ = pd.factorize(summary["dataset"], use_na_sentinel=False)
    raw = summary[column]
    values = np.where(present(raw), pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan), np.nan)
    own = summary["metric_mode"].to_numpy(dtype=object) == "min"
    minimise = np.full(len(summary), direction == "min") if direction else own
    scores = np.where(minimise, -values, values)
    usable = np.isfinite(values) & np.array([bool(n) for n in summary["n"]], dtype=bool)
    best: set[int] = set()
    if not usable.any():
        return best
    counts = np.bincount(datasets[usable], minlength=datasets.max() + 1)
    top = np.full(len(counts), -np.inf)
    np.maximum.at(top, datasets[usable], scores[usable])
    chosen = usable & (counts[datasets] > 1) & (scores == top[datasets])
    best.update(np.flatnonzero(chosen).tolist())
    return best


def render_latex(summary, caption: str | None = None) -> str:
    """A ``tabular`` with booktabs rules, a rule between datasets, and the best of each column in bold."""
    headers, columns = text_table(summary)
    bold = {header: _best_rows(summary, *ranked) for header in headers if (ranked := _ranked(header)) is not None}
    aligns = "".join(
        "r" if any(column) and all(is_number_text(text) for text in column if text) else "l" for column in columns
    )
    lines = [rf"\begin{{tabular}}{{{aligns}}}", r"\toprule"]
    lines.append(" & ".join(escape(header) for header in headers) + r" \\")
    lines.append(r"\midrule")
    escaped = [[escape(text) for text in column] for column in columns]
    marks = [bold.get(header, set()) for header in headers]
    previous = None
    for position, dataset in enumerate(summary["dataset"].tolist()):
        if previous is not None and dataset != previous:
            lines.append(r"\midrule")
        previous = dataset
        cells = [
            rf"\textbf{{{column[position]}}}" if column[position] and position in chosen else column[position]
            for column, chosen in zip(escaped, marks, strict=True)
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines = [r"\begin{table}[t]", r"\centering", *lines, rf"\caption{{{escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines)
