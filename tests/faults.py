"""A fault sweep: the ``harness`` command against bad values, bad files, broken plugins, damaged result folders,
file-system trouble and kills, judged as a user would judge it.

Each case runs the command in a fresh folder (after its ``setup``) and is judged on:

* its exit status (the one the case expects: 0 done, 1 a run or a record failed, 2 bad input, 130 interrupted);
* whether a Python traceback reached the user (never, without ``--debug``);
* records lost: a finished record present before the command that is gone or changed after it
  (a record the command could not write must be kept elsewhere, and said where);
* silently wrong results: after every case that leaves a results folder, ``harness report --format csv``
  must count each run once, and a case's own ``check`` looks at what it is about.

``python -m tests.faults`` prints the table as markdown and exits 1 when any case fails;
``pytest -m faults tests/test_faults.py`` runs it as a test (deselected by default: it trains about
twenty tiny runs, a few minutes on 2 cores). Permission cases run the command as root without
``CAP_DAC_OVERRIDE``/``CAP_DAC_READ_SEARCH`` (``setpriv``), so file modes apply even to root.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: The smallest real sweep: two seeds of softmax regression on the bundled digits, five steps each.
TINY = ["-m", "logreg", "-d", "digits", "-o", "sgd", "--max-steps", "5"]
RUN = ["run", *TINY, "--seeds", "2", "--output", "res"]
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
WITHOUT_DAC = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


@dataclass
class Case:
    name: str
    args: list[str]
    expect: tuple[int, ...] = (2,)
    setup: Callable[[Path], None] | None = None
    check: Callable[[Path, str], str | None] | None = None  # (folder, output) -> what is wrong, or None
    restricted: bool = False  # run without the capabilities that let root ignore file modes
    interrupt: tuple[int, float] | None = None  # (signal, seconds after start), then the same command again
    timeout: float = 180


@dataclass
class Outcome:
    case: Case
    status: int | str
    traceback: bool
    lost: int
    wrong: str | None
    seconds: float
    output: str = field(repr=False, default="")
    interrupted_status: int | str | None = None  # the exit of the interrupted sweep, before its resume

    @property
    def passed(self) -> bool:
        return self.status in self.case.expect and not self.traceback and self.lost == 0 and self.wrong is None


# ---------------------------------------------------------------------------
# Setups
# ---------------------------------------------------------------------------


def baseline(folder: Path) -> None:
    """A finished two-seed sweep in ``res/`` (copied from one trained once per fault sweep)."""
    shutil.copytree(folder.parent / "_baseline", folder / "res")


def _runs(folder: Path) -> list[Path]:
    return sorted((folder / "res" / "runs").glob("*.json"))


def write(relative: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return setup


def both(*setups) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        for one in setups:
            one(folder)

    return setup


def damage(change: Callable[[dict], dict | str | bytes]) -> Callable[[Path], None]:
    """The baseline, with the second record replaced by ``change(first record)`` (a record, text or bytes)."""

    def setup(folder: Path) -> None:
        baseline(folder)
        first, second = _runs(folder)
        value = change(json.loads(first.read_text()))
        if isinstance(value, dict):
            value = json.dumps(value)
        second.write_bytes(value if isinstance(value, bytes) else value.encode())

    return setup


def with_result(name, value):
    def change(record):
        record["results"][name] = value
        return record

    return change


def with_config(name, value):
    def change(record):
        record["config"][name] = value
        return record

    return change


def special_file(kind: str) -> Callable[[Path], None]:
    def setup(folder: Path) -> None:
        baseline(folder)
        path = folder / "res" / "runs" / ("0" * 16 + ".json")
        if kind == "fifo":
            os.mkfifo(path)
        elif kind == "zero":
            path.symlink_to("/dev/zero")
        else:  # a regular file past the size limit
            path.write_bytes(b" " * (17 << 20) + b"{}")

    return setup


def chmod(relative: str, mode: int, setup=baseline) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        setup(folder)
        target = folder / relative
        if relative == "first record":
            target = _runs(folder)[0]
        target.chmod(mode)

    return change


def unwritable_runs(folder: Path) -> None:
    """The baseline with one record removed (so one run trains) and runs/ read-only."""
    baseline(folder)
    _runs(folder)[1].unlink()
    (folder / "res" / "runs").chmod(0o555)


PLUGIN = "from harness import hookimpl\n\n"


def plugin(name: str, body: str) -> Callable[[Path], None]:
    return write(f"{name}.py", PLUGIN + textwrap.dedent(body))


def suite(text: str) -> Callable[[Path], None]:
    return write("suite.toml", textwrap.dedent(text))


SUITE = 'models = ["logreg"]\ndatasets = ["digits"]\noptimizers = ["sgd"]\nmax_steps = 5\n'

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def says(*words: str) -> Callable[[Path, str], str | None]:
    """The output must name each of ``words`` (the file, the field, the plugin ...)."""

    def check(folder: Path, output: str) -> str | None:
        missing = [word for word in words if word.lower() not in output.lower()]
        return f"output does not say {missing}" if missing else None

    return check


def both_checks(*checks):
    def check(folder, output):
        return next((problem for one in checks if (problem := one(folder, output))), None)

    return check


def retrained(folder: Path, output: str) -> str | None:
    """Both cells' records are whole, each under its own key, each a different seed."""
    seeds = []
    for path in _runs(folder):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") == path.stem and record.get("status") == "ok":
            seeds.append(record.get("config", {}).get("seed"))
    return None if sorted(seeds, key=str) == [0, 1] else f"runs/ holds ok records of seeds {seeds}, not [0, 1]"


def record_mode(folder: Path, output: str) -> str | None:
    modes = {oct(stat.S_IMODE(path.stat().st_mode)) for path in _runs(folder)}
    return None if modes == {"0o644"} else f"records have modes {modes}, not 0o644 under umask 022"


def kept_elsewhere(folder: Path, output: str) -> str | None:
    """The run that could not be written is kept in a fallback file (or printed), and the output says where."""
    keys = {path.stem for path in _runs(folder)}
    found = [p for p in folder.rglob("*") if p.is_file() and "unsaved" in p.name]
    if not found and '"key"' not in output:
        return f"the record that could not be written is nowhere (runs/ holds {len(keys)})"
    return None


def unchanged_first(folder: Path, output: str) -> str | None:
    path = _runs(folder)[0]
    path.chmod(0o644)
    return None if json.loads(path.read_text()).get("status") == "ok" else "the unreadable record was replaced"


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------


def cases() -> list[Case]:
    bad_values = [
        ("lr-nan", ["--lr", "nan"]),
        ("lr-inf", ["--lr", "inf"]),
        ("lr-negative", ["--lr=-1"]),
        ("lr-text", ["--lr", "abc"]),
        ("target-nan", ["--target", "nan"]),
        ("target-inf", ["--target", "inf"]),
        ("seeds-zero", ["--seeds", "0"]),
        ("seeds-negative", ["--seeds=-3"]),
        ("seeds-text", ["--seeds", "abc"]),
        ("seeds-billion", ["--seeds", "1000000000"]),
        ("seeds-ten-million", ["--seeds", "10000000"]),
        ("grid-over-max-runs", ["--seeds", "5", "--max-runs", "3"]),
        ("batch-size-zero", ["--batch-size", "0"]),
        ("max-epochs-zero", ["--max-epochs", "0"]),
        ("max-steps-negative", ["--max-steps=-5"]),
        ("timeout-zero", ["--timeout", "0"]),
        ("timeout-nan", ["--timeout", "nan"]),
        ("precision-unknown", ["--precision", "fp7"]),
        ("accelerator-unknown", ["--accelerator", "tpu"]),
        ("devices-zero", ["--devices", "0"]),
        ("strategy-one-device", ["--strategy", "ddp"]),
        ("threads-zero", ["--threads", "0"]),
        ("threads-text", ["--threads", "many"]),
        ("format-unsafehtml", ["--format", "unsafehtml"]),
        ("format-unknown", ["--format", "docx"]),
        ("schedule-param-text", ["--schedule", "warmup_cosine[warmup=abc]"]),
        ("schedule-unknown", ["--schedule", "cosin"]),
    ]
    out = [Case(name, ["run", *TINY, "--output", "res", *extra]) for name, extra in bad_values]
    items = [
        ("model-unknown", "-m", "logregg", says("logreg")),
        ("dataset-unknown", "-d", "digit", says("digits")),
        ("override-lr-nan", "-o", "sgd[lr=nan]", says("sgd", "lr")),
        ("override-lr-negative", "-o", "sgd[lr=-1]", says("sgd", "lr")),
        ("override-hidden-text", "-m", "mlp[hidden=abc]", says("mlp", "hidden", "abc")),
        ("override-dropout-text", "-m", "mlp[dropout=abc]", says("mlp", "dropout", "abc")),
        ("override-dropout-range", "-m", "mlp[dropout=1.5]", says("mlp", "dropout")),
        ("override-unknown-param", "-m", "mlp[hiden=64]", says("hidden")),
        ("override-unbalanced", "-m", "mlp[hidden=64", says("bracket")),
        ("val-fraction-zero-early-stopping", "-d", "digits[val_fraction=0]", says("val_fraction")),
    ]
    for name, flag, value, check in items:
        extra = ["--early-stopping", "2"] if "early" in name else []
        args = ["run", *TINY, "--output", "res", *extra]
        args[args.index(flag) + 1] = value
        out.append(Case(name, args, check=check))
    out.append(
        Case("val-fraction-zero-target", ["run", *TINY, "-d", "digits[val_fraction=0]", "--target", "0.5"],
             check=says("val_fraction"))
    )  # fmt: skip
    out += suite_cases() + plugin_cases() + filesystem_cases() + results_cases() + kill_cases()
    return out


def suite_cases() -> list[Case]:
    named = [
        ("suite-seeds-empty", "seeds = []", says("seeds")),
        ("suite-seeds-fraction", "seeds = [1.5]", says("seeds")),
        ("suite-seeds-bool", "seeds = [true]", says("seeds")),
        ("suite-lr-nan", "lr = [nan]", says("lr")),
        ("suite-unknown-key", "learning_rate = 0.1", says("learning_rate")),
        ("suite-models-number", None, says("models")),
        ("suite-name-300", f'name = "{"n" * 300}"', None),
        ("suite-name-slash", 'name = "a/b"', says("name")),
    ]
    out = []
    for name, line, check in named:
        text = SUITE.replace('models = ["logreg"]', "models = 3") if line is None else SUITE + line + "\n"
        out.append(Case(name, ["run", "suite.toml"], setup=suite(text), check=check))
    out += [
        Case("suite-missing", ["run", "nope.toml"], check=says("nope.toml")),
        Case("suite-directory", ["run", "."], check=says("directory")),
        Case("suite-not-toml", ["run", "suite.toml"], setup=suite("models = [logreg"), check=says("TOML")),
        Case("suite-binary", ["run", "suite.toml"], setup=write("suite.toml", b"\xff\xfe\x00models"),
             check=says("UTF-8")),
    ]  # fmt: skip
    return out


def plugin_cases() -> list[Case]:
    callbacks_int = plugin("cb_int", "@hookimpl\ndef harness_run_callbacks(config):\n    return 3\n")
    observer = plugin("observer_raises", "@hookimpl\ndef harness_record_written(record, path):\n    1 / 0\n")
    bad_spec = plugin(
        "bad_spec",
        """
        from harness.specs import ModelSpec

        @hookimpl
        def harness_register_models():
            return [ModelSpec(name="x", build=print, tasks=("painting",))]
        """,
    )
    return [
        Case("block-matches-nothing", ["list", "-p", "no:nonexistent"], (0,), check=says("nonexistent")),
        Case("name-of-blocked-plugin", ["run", *TINY, "-o", "adamw", "-p", "no:harness_optim"],
             check=says("harness_optim")),
        Case("block-bad-syntax", ["list", "-p", "harness_optim"], check=says("no:")),
        Case("plugin-file-missing", ["run", *TINY, "--plugins", "nope.py"], check=says("nope.py")),
        Case("plugin-syntax-error", ["run", *TINY, "--seeds", "1", "--plugins", "broken.py", "--output", "res"], (0,),
             setup=write("broken.py", "def (:\n"), check=says("broken")),
        Case("plugin-bad-spec", ["run", *TINY, "--seeds", "1", "--plugins", "bad_spec.py", "--output", "res"], (0,),
             setup=bad_spec, check=says("bad_spec")),
        Case("plugin-callbacks-not-a-list", ["run", *TINY, "--seeds", "1", "--plugins", "cb_int.py", "--output", "res"],
             (0,), setup=callbacks_int, check=says("cb_int", "harness_run_callbacks")),
        Case("plugin-observer-raises", ["run", *TINY, "--seeds", "1", "--plugins", "observer_raises.py", "--output",
             "res"], (0,), setup=observer, check=says("observer_raises", "harness_record_written")),
    ]  # fmt: skip


def filesystem_cases() -> list[Case]:
    long_path = "res/" + "/".join(["d" * 200] * 25)
    return [
        Case("output-is-a-file", ["run", *TINY, "--output", "f"], setup=write("f", "x"), check=says("f")),
        Case("output-under-a-file", ["run", *TINY, "--output", "f/res"], setup=write("f", "x"), check=says("f")),
        Case("output-under-proc", ["run", *TINY, "--output", "/proc/res"], check=says("/proc")),
        Case("output-too-long", ["run", *TINY, "--output", long_path], check=says("long")),
        Case("output-name-too-long", ["run", *TINY, "--output", "r" * 300], check=says("long")),
        Case("output-unwritable", ["run", *TINY, "--output", "ro/res"], setup=lambda f: (f / "ro").mkdir(mode=0o555),
             restricted=True, check=says("ro")),
        Case("report-o-under-a-file", ["report", "res", "-o", "f/report.md"], setup=both(baseline, write("f", "x")),
             check=says("f")),
        Case("report-o-a-directory", ["report", "res", "-o", "res"], setup=baseline, check=says("directory")),
        Case("report-plots-a-file", ["report", "res", "--plots", "f"], setup=both(baseline, write("f", "x")),
             check=says("f")),
        Case("report-missing-folder", ["report", "nowhere"], check=says("nowhere")),
        Case("compare-missing-folder", ["compare", "nowhere", "res"], setup=baseline, check=says("nowhere")),
    ]  # fmt: skip


def results_cases() -> list[Case]:
    def hollow_keyed(folder):
        baseline(folder)
        second = _runs(folder)[1]
        second.write_text(json.dumps({"key": second.stem, "status": "ok", "config": {}}))

    def copied(folder):
        baseline(folder)
        first, second = _runs(folder)
        shutil.copyfile(first, second)

    def renamed(folder):
        baseline(folder)
        first = _runs(folder)[0]
        shutil.copyfile(first, first.with_name("f" * 16 + ".json"))

    report = ["report", "res"]
    out = [
        Case("report-clean", report, (0,), setup=baseline),
        Case("compare-itself", ["compare", "res", "res"], (0,), setup=baseline),
        Case("record-mode", RUN, (0,), check=record_mode),
    ]
    damaged = [
        ("copied-over-another", copied),
        ("hollow-record", hollow_keyed),
        ("metric-text", damage(with_result("accuracy", "abc"))),
        ("seed-dict", damage(with_config("seed", {"a": 1}))),
        ("status-unknown", damage(lambda r: {**r, "status": "great"})),
        ("schema-unknown", damage(lambda r: {**r, "schema": 99})),
        ("truncated", damage(lambda r: json.dumps(r)[:100])),
        ("binary", damage(lambda r: bytes(range(256)))),
        ("json-list", damage(lambda r: "[1, 2]")),
        ("copy-under-another-name", renamed),
    ]
    for name, setup in damaged:
        out.append(Case(f"report-{name}", report, (0,), setup=setup, check=says("warning")))
        out.append(Case(f"run-{name}", RUN, (0,), setup=setup, check=retrained))
    for kind in ("fifo", "zero", "huge"):
        out.append(Case(f"report-{kind}-in-runs", report, (0,), setup=special_file(kind), check=says("warning"),
                        timeout=60))  # fmt: skip
        out.append(Case(f"run-{kind}-in-runs", RUN, (0,), setup=special_file(kind), timeout=120))
    out += [
        Case("run-unreadable-record", RUN, (1, 2), setup=chmod("first record", 0o000), restricted=True,
             check=both_checks(says(".json"), unchanged_first)),
        Case("report-unreadable-record", report, (0, 1, 2), setup=chmod("first record", 0o000), restricted=True,
             check=says(".json")),
        Case("run-runs-unwritable", RUN, (1, 2), setup=unwritable_runs, restricted=True, check=kept_elsewhere),
        Case("run-results-unwritable", RUN, (2,), setup=chmod("res", 0o555, setup=unwritable_runs), restricted=True,
             check=says("res")),  # found before anything trains
    ]  # fmt: skip
    return out


def kill_cases() -> list[Case]:
    longer = ["run", "-m", "mlp", "-d", "digits", "-o", "sgd", "--seeds", "4", "--max-epochs", "150",
              "--output", "res"]  # fmt: skip
    return [
        Case("ctrl-c-then-resume", longer, (0,), interrupt=(signal.SIGINT, 15), check=retrained_all(4)),
        Case("sigterm-then-resume", longer, (0,), interrupt=(signal.SIGTERM, 15), check=retrained_all(4)),
        Case("sigkill-then-resume", longer, (0,), interrupt=(signal.SIGKILL, 15), check=retrained_all(4)),
    ]


def retrained_all(count: int):
    def check(folder, output):
        seeds = sorted(json.loads(p.read_text())["config"]["seed"] for p in _runs(folder))
        return None if seeds == list(range(count)) else f"after resume the runs are seeds {seeds}"

    return check


# ---------------------------------------------------------------------------
# Running and judging
# ---------------------------------------------------------------------------


def _finished(folder: Path) -> dict[str, str]:
    """key -> text of every finished record under ``folder`` (readable as root, whatever its mode)."""
    found = {}
    for path in folder.rglob("runs/*.json"):
        try:
            if not path.is_file() or path.stat().st_size > 1 << 20:
                continue
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and record.get("key") == path.stem and record.get("status") in ("ok", "diverged"):
            if isinstance(record.get("config"), dict) and record["config"].get("model"):
                found[path.stem] = record["status"]
    return found


def _command(case: Case) -> list[str]:
    return [*(WITHOUT_DAC if case.restricted else []), sys.executable, "-m", "harness.cli", *case.args]


def _run(case: Case, folder: Path, env: dict) -> tuple[int | str, str]:
    process = subprocess.Popen(
        _command(case), cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True, umask=0o022,
    )  # fmt: skip
    try:
        if case.interrupt:
            sig, after = case.interrupt
            try:
                process.wait(after)
            except subprocess.TimeoutExpired:
                if sig == signal.SIGINT:  # Ctrl-C reaches the terminal's whole process group
                    os.killpg(process.pid, sig)
                else:  # `kill` reaches the sweep alone: its workers must follow it
                    process.send_signal(sig)
        output, _ = process.communicate(timeout=case.timeout)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return f"hung ({case.timeout:.0f} s)", output


def _counted_once(folder: Path, env: dict) -> str | None:
    """``harness report --format csv`` over the results: no run may appear twice."""
    if not (folder / "res" / "runs").is_dir():
        return None
    try:
        done = subprocess.run(
            [sys.executable, "-m", "harness.cli", "report", "res", "--format", "csv"], cwd=folder, env=env,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "harness report hangs on this folder"
    if done.returncode != 0:
        return None  # a case about an unreadable folder: judged by its own check
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    keys = [row.get("key") for row in rows if row.get("key")]
    if len(keys) != len(set(keys)):
        return f"the report counts a run twice ({len(keys)} rows, {len(set(keys))} runs)"
    return None


def judge(case: Case, folder: Path, env: dict) -> Outcome:
    if case.setup:
        case.setup(folder)
    before = _finished(folder)
    started = time.perf_counter()
    status, output = _run(case, folder, env)
    interrupted = None
    if case.interrupt:  # what the interrupted sweep finished must survive its resume
        interrupted = None if status != 0 else "the sweep finished before the signal: nothing was interrupted"
        first = status
        before = _finished(folder)
        status_again, output_again = _run(Case(case.name, case.args, timeout=case.timeout), folder, env)
        output += f"\n--- exit {status}; resumed ---\n" + output_again
        status = status_again if status in (0, 1, 130, -signal.SIGKILL, -signal.SIGTERM, 143) else status
    seconds = time.perf_counter() - started
    for path in [folder, *folder.rglob("*")]:  # let the checks (and the clean-up) read everything again
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IRWXU)
        elif path.is_file() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IRUSR | stat.S_IWUSR)
    after = _finished(folder)
    lost = sum(1 for key, status_before in before.items() if after.get(key) != status_before)
    wrong = interrupted or (case.check(folder, output) if case.check else None) or _counted_once(folder, env)
    outcome = Outcome(case, status, bool(TRACEBACK.search(output)), lost, wrong, seconds, output)
    if case.interrupt:
        outcome.interrupted_status = first
    return outcome


def _environment(root: Path) -> dict:
    env = {**os.environ, "HOME": str(root / "home"), "HARNESS_CACHE_DIR": str(root / "cache"), "COLUMNS": "200"}
    env.pop("OMP_NUM_THREADS", None)
    return env


def sweep(selected: list[str] | None = None, log=print) -> list[Outcome]:
    """Run every case (or those named in ``selected``); each outcome as it finishes goes to ``log``."""
    root = Path(tempfile.mkdtemp(prefix="harness-faults-"))
    root.chmod(0o755)
    env = _environment(root)
    try:
        subprocess.run([sys.executable, "-m", "harness.cli", *RUN[:-1], str(root / "_baseline")], cwd=root, env=env,
                       check=True, capture_output=True, timeout=300)  # fmt: skip
        outcomes = []
        for case in cases():
            if selected and case.name not in selected:
                continue
            folder = root / case.name
            folder.mkdir()
            outcome = judge(case, folder, env)
            outcomes.append(outcome)
            log(row(outcome))
        return outcomes
    finally:
        shutil.rmtree(root, ignore_errors=True)


HEADER = "| case | command | exit | expected | traceback | records lost | silently wrong | s |\n|" + " --- |" * 8


def row(outcome: Outcome) -> str:
    case = outcome.case
    command = " ".join(case.args) if len(" ".join(case.args)) < 70 else " ".join(case.args)[:67] + "..."
    wrong = outcome.wrong or "no"
    expect = "/".join(str(code) for code in case.expect)
    mark = "" if outcome.passed else " **FAIL**"
    status = outcome.status if case.interrupt is None else f"{outcome.interrupted_status}, resumed {outcome.status}"
    return (
        f"| {case.name}{mark} | `{command}` | {status} | {expect} | {'yes' if outcome.traceback else 'no'} "
        f"| {outcome.lost} | {wrong} | {outcome.seconds:.0f} |"
    )


def main(argv: list[str]) -> int:
    print(HEADER)
    outcomes = sweep(argv or None)
    failed = [o for o in outcomes if not o.passed]
    tracebacks, lost = sum(o.traceback for o in outcomes), sum(o.lost for o in outcomes)
    print(f"\n{len(outcomes)} cases, {len(failed)} failed, {tracebacks} with a traceback, {lost} records lost")
    for outcome in failed:
        print(f"\n## {outcome.case.name}\n{outcome.output[-3000:]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
