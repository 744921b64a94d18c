"""The HTML report and its figures, on a real tiny sweep, opened in a real headless Chromium."""

import json
import re
import shutil
import subprocess
import sys

import pytest

import harness
import harness.api as api
from harness.api import load_registry
from harness.cli import main
from harness.reporting.cells import summary_frame
from harness.reporting.frames import runs_frame
from harness.reporting.plots import pareto_front
from harness.reporting.text import format_metric
from harness.store import Store
from tests import FIXTURES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EVIL = "<script>window.__pwned = 1; console.error('pwned')</script><img src=x onerror=\"window.__pwned=2\">"

EVIL_PLUGIN = f"""
import torch
from harness import hookimpl
from harness.specs import ModelSpec


def _build(info):
    inputs = int(torch.tensor(info.input_shape).prod())
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(inputs, info.num_classes))


@hookimpl
def harness_register_models():
    return [ModelSpec(name="evil", build=_build, tasks=("classification",), description={EVIL!r})]
"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """logreg and a model whose description is markup, 2 seeds each, plus a model that fails."""
    folder = tmp_path_factory.mktemp("html")
    plugin = folder / "evil_plugin.py"
    plugin.write_text(EVIL_PLUGIN)
    registry = load_registry(plugins=[plugin, FIXTURES / "test_models.py"])
    harness.run(
        output=folder / "results",
        registry=registry,
        models="logreg,evil,boom",
        datasets="digits",
        optimizers="sgd",
        seeds=2,
        max_epochs=3,
    )
    statuses = {(r["config"]["model"], r["status"]) for r in Store(folder / "results").load_all()[0]}
    assert statuses == {("logreg", "ok"), ("evil", "ok"), ("boom", "failed")}
    return folder / "results"


def test_pareto_front_keeps_only_points_nothing_beats():
    # throughput, accuracy: (3, 0.9) and (5, 0.8) trade off; (2, 0.85) loses to (3, 0.9); (5, 0.7) to (5, 0.8)
    assert pareto_front([3, 5, 2, 5], [0.9, 0.8, 0.85, 0.7]) == [True, True, False, False]
    # a loss (lower is better): (1, 0.2) is beaten by (2, 0.1) on both
    assert pareto_front([1, 2, 3], [0.2, 0.1, 0.3], maximize_y=False) == [False, True, True]


def test_html_report_is_one_self_contained_file_with_every_section(sweep, tmp_path):
    page = tmp_path / "report.html"
    assert main(["report", str(sweep), "--format", "html", "-o", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in text and "script-src" not in text  # default-src 'none' forbids scripts
    assert "<script" not in text and "&lt;script&gt;" in text  # the plugin's markup is shown, escaped
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:|//)""", text)  # nothing to fetch
    assert text.count("<svg") >= 3  # learning curves, metric vs throughput, metric vs memory
    for heading in ("Summary", "Figures", "Workloads", "Runs that did not finish", "Provenance"):
        assert f"<h2>{heading}</h2>" in text
    assert "kaboom" in text  # the failed run's reason
    assert "<h2>Statistics</h2>" in text and "Welch" in text  # logreg against evil on digits


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_report_in_a_real_browser(sweep, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    page_file = tmp_path / "report.html"
    api.report(sweep, "html", output=page_file)
    records, _ = Store(sweep).load_all()
    summary = summary_frame(runs_frame(records))
    expected = {
        row["model"]: format_metric(row["mean"], row["ci95"], row["metric_mode"])
        for _, row in summary.iterrows()
        if row["n"]
    }
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*flags, "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            messages = []
            page.on("console", lambda m: messages.append(f"{m.type}: {m.text}"))
            page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            assert messages == []
            assert page.evaluate("window.__pwned") is None  # the injected script and onerror never ran
            descriptions = page.inner_text("#descriptions")
            assert "<script>window.__pwned = 1;" in descriptions  # shown as text instead
            summary_text = page.inner_text("#summary")
            for model, metric in expected.items():
                assert model in summary_text and metric in summary_text
            assert page.locator("#provenance tbody tr").count() == len(records)
            plots = page.locator("figure.plot svg")
            assert plots.count() >= 3
            box = plots.first.bounding_box()
            assert box["width"] > 200 and box["height"] > 100  # drawn, not an empty element
            assert "kaboom" in page.inner_text("#failures")
        finally:
            browser.close()


def test_plots_export_as_png_and_svg(sweep, tmp_path):
    assert main(["report", str(sweep), "--plots", str(tmp_path / "png")]) == 0
    pngs = sorted((tmp_path / "png").glob("*.png"))
    names = ["digits-learning-curves", "digits-metric-vs-memory", "digits-metric-vs-throughput"]
    assert [p.stem for p in pngs] == names
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pngs)
    api.report(sweep, plots=tmp_path / "svg", plot_format="svg")
    svgs = sorted((tmp_path / "svg").glob("*.svg"))
    assert len(svgs) == 3 and all("<svg" in p.read_text() for p in svgs)


def test_bad_plot_format_is_one_line_exit_2(sweep, tmp_path, capsys):
    assert main(["report", str(sweep), "--plots", str(tmp_path), "--plot-format", "jpg"]) == 2
    assert "unknown plot format 'jpg'; allowed: png, svg" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # checked before anything is written


def test_html_report_needs_no_torch(sweep, tmp_path):
    page = tmp_path / "page.html"
    code = (
        "import sys, harness.api as api; "
        f"api.report({str(sweep)!r}, 'html', output={str(page)!r}); "
        "print(json.dumps(sorted(m for m in ('torch', 'lightning', 'pytorch_lightning') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", "import json; " + code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
    assert page.stat().st_size > 10_000


def test_html_report_has_the_statistics_across_workloads_and_their_interval_plot():
    """Three models, each trained with two optimizers: the page states IQM, optimality gap and probability of
    improvement, and draws them with their intervals; one workload says in one line why there are none."""
    from harness.reporting.html import build_html
    from tests.records import make_record

    records = [
        make_record(model=model, optimizer=optimizer, seed=seed, metric_value=value + bump + 0.01 * seed)
        for model, value in (("mlp", 0.9), ("cnn", 0.8), ("rnn", 0.7))
        for optimizer, bump in (("adam", 0.05), ("sgd", 0.0))
        for seed in range(3)
    ]
    page = build_html(runs_frame(records))
    statistics = page.split("<h2>Statistics</h2>")[1].split("<h2>")[0]
    assert "Across workloads (after rliable" in statistics and "IQM [95% CI]" in statistics
    assert "Probability of improvement across workloads" in statistics and "adam better" in statistics
    assert "min-max of the means" in statistics
    figures = [figure.split("</figure>")[0] for figure in page.split('<figure class="plot">')[1:]]
    [across] = [figure for figure in figures if "<figcaption>across 3 workloads: optimizers" in figure]
    assert across.startswith("<svg") and "P(adam &gt; sgd)" in across  # the pair's interval, labelled in the SVG
    single = build_html(runs_frame([r for r in records if r["config"]["model"] == "mlp"]))
    assert "only one workload has two or more optimizers to compare" in single
    assert "across 1 workloads" not in single and "IQM" not in single
