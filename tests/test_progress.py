"""A sweep's progress: plain lines where stderr is a log, a live bar with counts and an ETA on a terminal."""

import io
import re

import pytest

import harness.progress
from harness.cli import main
from harness.config import RunConfig
from harness.progress import PROGRESS_ENV, BarProgress, LineProgress, make_progress


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    """Stands in for the time module: seconds move only when the test says so."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        return self.now


def _config(seed):
    return RunConfig(model="mlp", dataset="digits", optimizer="sgd", seed=seed, model_label="mlp",
                     dataset_label="digits", optimizer_label="sgd")  # fmt: skip


def _record(status):
    return {"status": status, "reason": None if status == "ok" else "boom", "metric": "accuracy",
            "results": {"test_metric": 0.9, "samples_per_s": 1000.0, "wall_time_s": 1.0}}  # fmt: skip


@pytest.mark.parametrize(
    "stream, forced, expected",
    [
        (io.StringIO(), None, LineProgress),  # a log file, a pipe, CI
        (_Terminal(), None, BarProgress),
        (_Terminal(), "lines", LineProgress),
        (io.StringIO(), "bar", BarProgress),
    ],
)
def test_a_bar_on_a_terminal_lines_elsewhere_unless_forced(monkeypatch, stream, forced, expected):
    if forced is None:
        monkeypatch.delenv(PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_ENV, forced)
    assert type(make_progress(stream)) is expected


def test_the_bar_counts_runs_and_estimates_the_time_left(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(harness.progress, "time", clock)
    stream = _Terminal()
    bar = BarProgress(stream)
    bar("plan", total=4, todo=3, reused=1, output="results/x", workers=1, in_process=True)
    assert "ETA ?" in stream.getvalue()  # nothing finished yet: no pace to go by
    clock.now = 10.0
    bar("start", index=2, total=4, config=_config(0))
    clock.now = 20.0
    bar("done", index=2, total=4, config=_config(0), record=_record("ok"), path=None)
    assert "1 ok · 0 failed · 1 skipped" in stream.getvalue()
    assert "ETA 0:00:40" in stream.getvalue()  # 20 s for the first run (start-up included), 2 runs left
    bar("start", index=3, total=4, config=_config(1))
    clock.now = 30.0
    bar("done", index=3, total=4, config=_config(1), record=_record("failed"), path=None)
    text = stream.getvalue()
    assert "3/4" in text and "1 ok · 1 failed · 1 skipped" in text
    assert "ETA 0:00:10" in text  # from then on, the time between finishes: 10 s, 1 run left
    clock.now = 34.0
    bar.bar.refresh()
    assert "ETA 0:00:06" in stream.getvalue()  # counting down between runs
    bar.close()
    lines = stream.getvalue()
    assert "[2/4] mlp | digits | sgd | seed 0 ... ok accuracy 0.9000" in lines  # each run's line above the bar
    assert "[3/4] mlp | digits | sgd | seed 1 ... failed: boom" in lines


def test_the_bar_grows_with_retries_and_takes_runs_another_sweep_finished(monkeypatch):
    monkeypatch.setattr(harness.progress, "time", _Clock())
    stream = _Terminal()
    bar = BarProgress(stream)
    bar("plan", total=2, todo=2, reused=0, output="results/x", workers=1, in_process=True)
    bar("start", index=1, total=2, config=_config(0))
    bar("done", index=1, total=2, config=_config(0), record=_record("oom"), path=None)
    bar("retry", config=_config(0), batch_size=32, of=_config(0))
    bar("reused", config=_config(1), record=_record("ok"))
    bar.close()
    assert "2/3" in stream.getvalue() and "0 ok · 1 failed · 1 skipped" in stream.getvalue()
    assert "finished by another sweep, ok" in stream.getvalue()


def test_a_note_during_a_run_does_not_break_its_line():
    stream = io.StringIO()
    lines = LineProgress(stream)
    lines("plan", total=2, todo=2, reused=0, output="results/x", workers=1)
    lines("start", index=1, total=2, config=_config(0))
    lines("held", config=_config(1), holder="host 42")
    lines("done", index=1, total=2, config=_config(0), record=_record("ok"), path=None)
    assert stream.getvalue().splitlines()[1:] == [
        "[1/2] mlp | digits | sgd | seed 0 ...",
        "mlp | digits | sgd | seed 1: another sweep (host 42) is training it; collected at the end",
        "[1/2] mlp | digits | sgd | seed 0 ... ok accuracy 0.9000, 1,000 samples/s, 1.00s",
    ]


def test_harness_run_on_a_terminal_shows_the_bar_and_keeps_the_table_clean(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    args = ["run", "-m", "logreg", "-d", "digits", "-o", "sgd", "--seeds", "2", "--max-epochs", "1"]
    assert main([*args, "--launcher", "inline", "--output", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "2/2" in captured.err and "2 ok · 0 failed · 0 skipped" in captured.err
    assert re.search(r"ETA \d:\d\d:\d\d", captured.err)
    assert "[1/2] logreg | digits | sgd | seed 0 ... ok" in captured.err
    assert "\x1b" not in captured.out and "logreg" in captured.out  # the table itself has no terminal codes
    assert main([*args, "--launcher", "inline", "--output", str(tmp_path)]) == 0  # again: all skipped
    assert "0 ok · 0 failed · 2 skipped" in capsys.readouterr().err


def test_the_bar_is_told_when_runs_train_in_this_process(monkeypatch):
    """Inline, a redraw thread would take the interpreter from the training it measures: redraw per run only."""
    made = []
    real = harness.progress.BarProgress._plan

    def spy(self, data):
        real(self, data)
        made.append(self.bar.live.auto_refresh)

    monkeypatch.setattr(harness.progress.BarProgress, "_plan", spy)
    for in_process in (True, False):
        bar = BarProgress(_Terminal())
        bar("plan", total=1, todo=1, reused=0, output="x", workers=1, in_process=in_process)
        bar.close()
    assert made == [False, True]


def test_the_grid_and_each_storage_trouble_is_one_line():
    stream = io.StringIO()
    lines = LineProgress(stream)
    lines("grid", size=12)  # expands at once: its plan line says the size
    lines("grid", size=50_000)
    lines("plan", total=3, todo=1, reused=1, output="results/x", workers=1, blocked=1)
    lines("broken", config=_config(0), path="results/x/runs/a.json", problem="not a harness run record: its key ...")
    lines("blocked", config=_config(1), path="results/x/runs/b.json", reason="results/x/runs/b.json exists but ...")
    lines("unclaimed", config=_config(2), path="results/x/runs", error="PermissionError: no")
    lines("start", index=2, total=3, config=_config(2))
    lines("unsaved", config=_config(2), path="results/x/runs/c.json", kept="/tmp/u.jsonl", error="PermissionError: no")
    lines("unsaved", config=_config(2), path="results/x/runs/c.json", kept="stderr", error="OSError: full")
    assert stream.getvalue().splitlines() == [
        "grid: 50,000 runs; expanding ...",
        "3 runs (1 to train, 1 already done, 1 blocked) -> results/x",
        "warning: results/x/runs/a.json: not a harness run record: its key ...; training it again",
        "error: mlp | digits | sgd | seed 1: not trained: results/x/runs/b.json exists but ...",
        "warning: cannot make claims in results/x/runs (PermissionError: no); training without them"
        " (another sweep into this folder could train the same runs)",
        "[2/3] mlp | digits | sgd | seed 2 ...",
        "error: could not write results/x/runs/c.json (PermissionError: no); its record is kept in /tmp/u.jsonl",
        "error: could not write results/x/runs/c.json (OSError: full); its record is printed to stderr",
    ]


def test_the_bar_counts_a_blocked_cell_as_failed(monkeypatch):
    monkeypatch.setattr(harness.progress, "time", _Clock())
    stream = _Terminal()
    bar = BarProgress(stream)
    bar("plan", total=2, todo=1, reused=1, output="results/x", workers=1, in_process=True, blocked=1)
    bar("blocked", config=_config(1), path="runs/b.json", reason="runs/b.json is unreadable")
    bar.close()
    assert "2/2" in stream.getvalue() and "0 ok · 1 failed · 1 skipped" in stream.getvalue()
    assert "error: mlp | digits | sgd | seed 1: not trained: runs/b.json is unreadable" in stream.getvalue()
