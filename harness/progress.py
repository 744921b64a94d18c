"""A sweep's progress on stderr: plain lines for logs, plus a live bar on a terminal.

The lines (``[3/10] mlp | digits | adam | seed 0 ... ok accuracy 0.9500, ...``)
are what logs and CI capture, and what the tests read. A terminal also gets a
bar under them with the counts so far (ok, failed, skipped because already
done) and an ETA. Both are driven by the sweep's events, one or two per run:
nothing here runs per training step. The bar redraws its clock once a second
from a thread, except when runs train in this very process (the inline
launcher), where it redraws only when a run starts or ends.
"""

from __future__ import annotations

import os
import sys
import time

#: ``bar`` or ``lines`` forces the choice that otherwise follows whether stderr is a terminal.
PROGRESS_ENV = "HARNESS_PROGRESS"

#: From this many runs on, expanding the grid takes seconds: its size is said first, so a long silence is explained.
LARGE_GRID = 10_000


def make_progress(stream=None):
    """The progress display for ``stream`` (default stderr): a bar on a terminal, lines elsewhere."""
    stream = stream if stream is not None else sys.stderr
    choice = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if choice == "bar" or (choice != "lines" and _is_terminal(stream)):
        return BarProgress(stream)
    return LineProgress(stream)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def run_name(config) -> str:
    return f"{config.model_label} | {config.dataset_label} | {config.optimizer_label} | seed {config.seed}"


def outcome(record: dict) -> str:
    """' ok accuracy 0.9500, 12,345 samples/s, 1.23s' or ' crashed: reason'."""
    results = record.get("results", {})
    if record["status"] != "ok":
        return f" {record['status']}: {record['reason']}"
    rate = results.get("samples_per_s")
    detail = (
        f" {record['metric']} {results.get('test_metric', float('nan')):.4f}, {rate:,.0f} samples/s,"
        if rate
        else f" {record['metric']} {results.get('test_metric')},"
    )
    return f" ok{detail} {results.get('wall_time_s', 0):.2f}s"


class LineProgress:
    """'[i/N] run ... ok' one run after another, as plain lines.

    With one run at a time, a run's line is begun when it starts and ended when
    it finishes; when several train at once, it is printed whole when it finishes,
    so lines never interleave.
    """

    def __init__(self, stream=None):
        self.stream = stream
        self.side_by_side = False
        self._open: str | None = None  # the begun line of the run in progress, awaiting its outcome

    def __call__(self, kind, **data) -> None:
        if kind == "skip":
            self.note(f"skip {data['model']} x {data['dataset']}: {data['reason']}")
        elif kind == "plan":
            self._plan(data)
        elif kind == "start" and not self.side_by_side:
            self._open = f"{self._numbered(data)} ..."
            self._write(self._open, end="")
        elif kind == "done":
            self._done(data)
        elif kind == "held":
            holder = f" ({data['holder']})" if data["holder"] else ""
            self.note(f"{run_name(data['config'])}: another sweep{holder} is training it; collected at the end")
        elif kind == "wait":
            self.note(f"waiting for another sweep to finish {data['count']} run(s) ...")
        elif kind == "reused":
            self.note(f"{run_name(data['config'])}: finished by another sweep,{outcome(data['record'])}")
        else:
            self._storage(kind, data)

    def _storage(self, kind, data) -> None:
        """The grid's size, and one line for each file trouble a sweep reports (see :class:`harness.sweep.Sweep`)."""
        if kind == "grid":
            if data["size"] >= LARGE_GRID:  # a small grid expands at once, and its plan line follows
                self.note(f"grid: {data['size']:,} runs; expanding ...")
        elif kind == "broken":
            self.note(f"warning: {data['path']}: {data['problem']}; training it again")
        elif kind == "blocked":
            self.note(f"error: {run_name(data['config'])}: not trained: {data['reason']}")
        elif kind == "unclaimed":
            self.note(
                f"warning: cannot make claims in {data['path']} ({data['error']}); training without them"
                " (another sweep into this folder could train the same runs)"
            )
        elif kind == "unsaved":
            kept = "printed to stderr" if data["kept"] == "stderr" else f"kept in {data['kept']}"
            self.note(f"error: could not write {data['path']} ({data['error']}); its record is {kept}")

    def note(self, text: str) -> None:
        """A line of its own, even while a run's line is open (which is begun again when the run ends)."""
        if self._open:  # end the begun line once; later notes follow on lines of their own
            self._write("")
            self._open = ""
        self._write(text)

    def close(self) -> None:
        """End the display (nothing to do for lines)."""

    def _plan(self, data) -> None:
        reused = f", {data['reused']} already done" if data["reused"] else ""
        reused += f", {data['blocked']} blocked" if data.get("blocked") else ""
        workers = data.get("workers", 1)
        self.side_by_side = workers > 1
        side = f", {workers} at a time" if self.side_by_side else ""
        self.note(f"{data['total']} runs ({data['todo']} to train{reused}{side}) -> {data['output']}")

    def _done(self, data) -> None:
        text = outcome(data["record"])
        if self._open is None or self._open == "":  # printed whole: side by side, or interrupted by a note
            text = f"{self._numbered(data)} ...{text}"
        self._open = None
        self._write(text)

    def _write(self, text: str, end: str = "\n") -> None:
        print(text, end=end, file=self.stream or sys.stderr, flush=True)

    @staticmethod
    def _numbered(data) -> str:
        width = len(str(data["total"]))
        return f"[{data['index']:>{width}}/{data['total']}] {run_name(data['config'])}"


class BarProgress(LineProgress):
    """Each finished run's line, printed above a live bar: runs done of all, ok/failed/skipped counts, ETA."""

    def __init__(self, stream=None):
        from rich.console import Console

        super().__init__(stream)
        self.side_by_side = True  # lines are printed whole; the bar shows what is running
        self.console = Console(file=stream or sys.stderr, force_terminal=True, highlight=False)
        self.bar = None
        self.task = None
        self.ok = self.failed = self.skipped = 0
        self.running: dict[str, str] = {}  # key -> name of each run in progress
        self.finished_here = 0
        self.began = self.first_finish = self.last_finish = 0.0

    def __call__(self, kind, **data) -> None:
        super().__call__(kind, **data)
        if self.bar is None:
            return
        if kind == "start":
            self.running[data["config"].key()] = run_name(data["config"])
        elif kind == "done":
            self.running.pop(data["config"].key(), None)
            if data["record"]["status"] == "ok":
                self.ok += 1
            else:
                self.failed += 1
            self.finished_here += 1
            self.last_finish = time.monotonic()
            if self.finished_here == 1:
                self.first_finish = self.last_finish
        elif kind == "reused":
            self.skipped += 1
        elif kind == "blocked":
            self.failed += 1
        elif kind == "retry":
            self.bar.update(self.task, total=self.bar.tasks[0].total + 1)
        self._redraw(waiting=kind == "wait")

    def _plan(self, data) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        class Eta(ProgressColumn):
            """Worked out at each redraw, so it counts down between runs."""

            def render(column, task):
                return Text(self.eta(task.total))

        super()._plan(data)
        self.close()  # a second sweep of the same command (harness tune's final phase) gets a bar of its own
        self.side_by_side = True
        self.ok = self.failed = self.finished_here = 0
        self.skipped = data["reused"]
        self.running = {}
        self.began = self.last_finish = time.monotonic()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            Eta(),
            console=self.console,
            auto_refresh=not data.get("in_process", False),
            refresh_per_second=1,
            get_time=time.monotonic,
        )
        self.task = self.bar.add_task("", total=data["total"], completed=data["reused"], counts="")
        self.bar.start()
        self._redraw()

    def note(self, text: str) -> None:
        if self.bar is None:
            self.console.print(text, markup=False)
        else:
            self.bar.console.print(text, markup=False)

    def _write(self, text: str, end: str = "\n") -> None:
        self.note(text)

    def _redraw(self, waiting: bool = False) -> None:
        if len(self.running) == 1:
            description = next(iter(self.running.values()))
        else:
            description = f"{len(self.running)} running" if self.running else "waiting" if waiting else ""
        done = self.ok + self.failed + self.skipped
        counts = f"{self.ok} ok · {self.failed} failed · {self.skipped} skipped"
        self.bar.update(self.task, description=description, completed=done, counts=counts)
        self.bar.refresh()

    def eta(self, total: float) -> str:
        """'ETA 0:01:05' from the pace at which runs finish (side by side included); 'ETA ?' before the first.

        The pace is the time between finishes once there are two, so that the
        workers' start-up, paid before the first, does not inflate it.
        """
        left = total - (self.ok + self.failed + self.skipped)
        if left <= 0:
            return "ETA 0:00:00"
        if not self.finished_here:
            return "ETA ?"
        if self.finished_here == 1:
            per_run = self.first_finish - self.began
        else:
            per_run = (self.last_finish - self.first_finish) / (self.finished_here - 1)
        seconds = max(0, round(per_run * left - (time.monotonic() - self.last_finish)))
        return f"ETA {seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def close(self) -> None:
        """Stop the bar, leaving its last state on screen."""
        if self.bar is not None:
            self._redraw()
            self.bar.stop()
            self.bar = None
