r"""The summary as a LaTeX table ready for a paper: booktabs rules, the best value of each column in bold.

"Best" is judged within a workload (a dataset), since a number means nothing
next to another dataset's: the highest test metric (lowest where the metric's
mode is ``min``), the highest throughput, the lowest step time, memory and
training time. Ties are all bold. Every text is escaped, so a plugin name
such as ``mlp_regressor`` compiles. Needs ``\usepackage{booktabs}``.
"""

from __future__ import annotations

import math

from harness.reporting.values import missing
from tests.reporting.legacy.text import is_number_text, text_columns

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


def escape(text: str) -> str:
    """Plain text made safe inside a LaTeX table cell; '±' becomes math."""
    escaped = "".join(SPECIAL.get(char, char) for char in str(text))
    return escaped.replace("±", r"$\pm$")


def _ranked(header: str) -> tuple[str, str | None] | None:
    """(summary column, direction) for a header whose best is bolded; direction None = the metric's own mode."""
    if header.startswith("test "):
        return "mean", None
    if header.startswith("peak MiB"):
        return "peak_mem_mib", "min"
    return RANKED.get(header)


def _best_rows(summary, column: str, direction: str | None) -> set[int]:
    """Positions of the rows holding the best value of ``column`` within their dataset."""
    best: set[int] = set()
    positions = {}
    for position, (_, row) in enumerate(summary.iterrows()):
        positions.setdefault(row["dataset"], []).append((position, row))
    for rows in positions.values():
        values = []
        for position, row in rows:
            value = row[column]
            if row["n"] and not missing(value) and math.isfinite(float(value)):
                mode = direction or ("min" if row["metric_mode"] == "min" else "max")
                values.append((position, float(value) if mode == "max" else -float(value)))
        if len(values) > 1:
            top = max(v for _, v in values)
            best.update(p for p, v in values if v == top)
    return best


def render_latex(summary, caption: str | None = None) -> str:
    """A ``tabular`` with booktabs rules, a rule between datasets, and the best of each column in bold."""
    columns = text_columns(summary)
    bold = {header: _best_rows(summary, *ranked) for header, _ in columns if (ranked := _ranked(header)) is not None}
    texts = [[text(row) for _, text in columns] for _, row in summary.iterrows()]
    aligns = "".join(
        "r" if any(row[i] for row in texts) and all(is_number_text(row[i]) for row in texts if row[i]) else "l"
        for i in range(len(columns))
    )
    lines = [rf"\begin{{tabular}}{{{aligns}}}", r"\toprule"]
    lines.append(" & ".join(escape(header) for header, _ in columns) + r" \\")
    lines.append(r"\midrule")
    previous = None
    for position, (_, row) in enumerate(summary.iterrows()):
        if previous is not None and row["dataset"] != previous:
            lines.append(r"\midrule")
        previous = row["dataset"]
        cells = []
        for (header, _), text in zip(columns, texts[position], strict=True):
            cell = escape(text)
            cells.append(rf"\textbf{{{cell}}}" if cell and position in bold.get(header, ()) else cell)
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines = [r"\begin{table}[t]", r"\centering", *lines, rf"\caption{{{escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines)
