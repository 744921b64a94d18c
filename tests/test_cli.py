"""The command line as a user meets it: fast help, listings, runs, reports, one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.cli import main

FAST = ["--models", "logreg", "--datasets", "digits", "--optimizers", "adam", "--seeds", "2", "--max-epochs", "2"]


def harness_cli(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_help_does_not_import_torch_or_lightning():
    probe = (
        "import sys\n"
        "from harness.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'lightning', 'pandas') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("[]")


def test_list_and_plugins_json(capsys):
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    names = {(e["kind"], e["name"]) for e in listing["entries"]}
    assert {("model", "mlp"), ("model", "logreg"), ("dataset", "digits"), ("optimizer", "sgd")} <= names
    assert listing["unavailable_plugins"] == []

    assert main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert plugins["harness_dense"]["distribution"] == "harness-dl" and plugins["harness_dense"]["version"]
    assert plugins["harness_dense"]["hooks"] == ["harness_register_models"]


def test_list_text_shows_columns_and_broken_plugins(tmp_path, capsys):
    broken = tmp_path / "broken_plugin.py"
    broken.write_text("import not_a_module_anyone_has\n")
    assert main(["list", "models", "--plugins", str(broken)]) == 0
    out = capsys.readouterr().out
    assert "mlp" in out and "harness_dense" in out and "classification" in out and "Multi-layer perceptron" in out
    assert "digits" not in out  # only models were asked for
    assert "broken_plugin" in out and "not_a_module_anyone_has" in out


def test_run_prints_table_then_report_prints_it_again(tmp_path, capsys):
    out_dir = tmp_path / "res"
    assert main(["run", *FAST, "--output", str(out_dir), "--format", "github"]) == 0
    captured = capsys.readouterr()
    assert "[1/2] logreg | digits | adam | seed 0 ... ok" in captured.err
    records = [json.loads(p.read_text()) for p in (out_dir / "runs").glob("*.json")]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records)
    run_table = captured.out
    for record in records:
        assert record["config"]["seed"] in (0, 1)
    assert "logreg" in run_table and "| 2 " in run_table.replace("|    2 ", "| 2 ")

    assert main(["report", str(out_dir), "--format", "github"]) == 0
    assert capsys.readouterr().out == run_table

    # the same command again trains nothing
    assert main(["run", *FAST, "--output", str(out_dir)]) == 0
    assert "2 runs (0 to train, 2 already done)" in capsys.readouterr().err


def test_run_plan_says_what_would_train_and_trains_nothing(tmp_path, capsys):
    out_dir = tmp_path / "res"
    fewer = [*FAST[:7], "1", *FAST[8:]]  # the same grid with one seed
    assert FAST[6:8] == ["--seeds", "2"]
    assert main(["run", *fewer, "--output", str(out_dir)]) == 0
    capsys.readouterr()
    before = sorted(p.name for p in (out_dir / "runs").glob("*.json"))
    assert main(["run", *FAST, "--output", str(out_dir), "--plan"]) == 0
    out = capsys.readouterr().out
    assert "2 runs: 1 finished (reused), 1 to train" in out and "to train: logreg / digits / adam seed 1" in out
    assert sorted(p.name for p in (out_dir / "runs").glob("*.json")) == before  # nothing trained


@pytest.mark.parametrize(
    "args, expected",
    [
        (["run", "--models", "mlpp"], "did you mean: mlp"),
        (["run", "--models", "mlp[hiden=3]"], "did you mean: hidden"),
        (["run", "--optimizers", "nope*"], "no optimizer matches"),
        (["run", "--max-epochs", "abc"], "invalid int value"),
        (["run", "--precision", "fp7"], "precision"),
        (["run", "--format", "nope"], "format"),
        (["run", "no/such/suite.toml"], "does not exist"),
        (["report", "no/such/dir"], "no run records"),
        (["list", "-p", "dense"], "no:NAME"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_no_traceback(args, expected):
    result = harness_cli(*args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_suite_file_and_cli_override(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text('models = ["logreg"]\ndatasets = ["digits"]\noptimizers = ["sgd"]\nseeds = 1\nmax_epochs = 1\n')
    assert main(["run", str(suite), "--optimizers", "adam"]) == 0
    err = capsys.readouterr().err
    assert "logreg | digits | adam" in err
    assert "results/tiny" in err  # default output folder named after the suite
    assert len(list((tmp_path / "results" / "tiny" / "runs").glob("*.json"))) == 1


def test_failed_run_exits_1(tmp_path, capsys):
    plugin = tmp_path / "fails.py"
    plugin.write_text(
        "from harness import hookimpl\nfrom harness.specs import ModelSpec\n"
        "def build(info):\n    raise ValueError('no good')\n"
        "@hookimpl\ndef harness_register_models():\n    return [ModelSpec(name='bad', build=build)]\n"
    )
    code = main(
        [
            "run",
            "--plugins",
            str(plugin),
            "--models",
            "bad,logreg",
            "--datasets",
            "digits",
            "--optimizers",
            "sgd",
            "--seeds",
            "1",
            "--max-epochs",
            "1",
            "--output",
            str(tmp_path / "r"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "failed: ValueError: no good" in captured.err
    assert "failed" in captured.out and "logreg" in captured.out


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["ctrl-c", "kill"])
def test_ctrl_c_or_sigterm_stops_cleanly_and_keeps_finished_records(tmp_path, stop):
    import signal
    import time

    command = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        "--models",
        "mlp",
        "--optimizers",
        "sgd",
        "--seeds",
        "3",
        "--max-epochs",
        "300",
        "--output",
        str(tmp_path),
    ]
    # a child started from a background shell may inherit an ignored SIGINT; give it the default back
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("runs/*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the second run's training
    workers = psutil.Process(process.pid).children()
    assert workers  # the default launcher trains in a worker process
    if stop == "ctrl-c":  # Ctrl-C reaches the whole group: the workers ignore it, the sweep stops them
        os.killpg(process.pid, signal.SIGINT)
    else:  # `kill` (a scheduler's stop) reaches the sweep alone: it stops its workers as on Ctrl-C
        process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == (130 if stop == "ctrl-c" else 143), err
    assert "interrupted: finished runs are stored" in err and "Traceback" not in err
    records = [json.loads(p.read_text()) for p in tmp_path.glob("runs/*.json")]
    assert len(records) == 1 and records[0]["status"] == "ok"
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []


BAD_SUITES = {
    "unknown key": ('modles = ["mlp"]\n', "unknown setting 'modles' (did you mean: models"),
    "wrong type": ('max_epochs = "ten"\n', "max_epochs: expected a positive integer, got 'ten'"),
    "negative epochs": ("max_epochs = -3\n", "max_epochs: expected a positive integer, got -3"),
    "bad precision": ('precision = "fp7"\n', "precision: 'fp7' is not one of 32-true, 32, 64-true, 16-mixed"),
    "bad accelerator": ('accelerator = "tpu"\n', "accelerator: 'tpu' is not one of auto, cpu, cuda, gpu, mps"),
    "toml syntax": ('models = ["mlp"]\nmax_epochs = = 3\n', "is not valid TOML: Invalid value (at line 2, column 14)"),
    "seed type": ('seeds = [1, "a"]\n', "seeds: expected int values, got [1, 'a']"),
    "devices": ('devices = "abc"\n', "devices: expected a positive integer or 'auto', got 'abc'"),
    "timeout": ("timeout = -1\n", "timeout: expected a positive number of seconds, got -1"),
    "oom_retry": ('oom_retry = "yes"\n', "oom_retry: expected true or false, got 'yes'"),
    "name": ("name = [1]\n", "name: expected a suite name (text without '/'), got [1]"),
    "binary file": (b"\xff\xfe\x00garbage", "is not UTF-8 text (byte 0): not a TOML file"),
}


@pytest.mark.parametrize("content, expected", BAD_SUITES.values(), ids=BAD_SUITES.keys())
def test_a_bad_suite_file_exits_2_with_one_line_naming_the_field(tmp_path, capsys, content, expected):
    suite = tmp_path / "bad.toml"
    suite.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["run", str(suite), "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness run: error: ") and expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # nothing ran


BAD_OPTIONS = {
    "max-steps": (["--max-steps", "0"], "max_steps: expected a positive integer or -1 (no limit), got 0"),
    "timeout zero": (["--timeout", "0"], "timeout: expected a positive number of seconds, got 0.0"),
    "timeout text": (["--timeout", "soon"], "argument --timeout: invalid float value: 'soon'"),
    "timeout inline": (["--timeout", "5", "--launcher", "inline"], "a time limit needs the local launcher"),
    "batch size": (["--batch-size", "0"], "batch_size: values must be positive, got [0]"),
    "seeds": (["--seeds", "0"], "seeds: expected a positive count or a list of seeds, got 0"),
    "loader workers": (["--loader-workers", "-1"], "loader_workers: expected a non-negative integer, got -1"),
    "accelerator": (["--accelerator", "tpu"], "accelerator: 'tpu' is not one of auto, cpu, cuda, gpu, mps"),
    "lr": (["--lr", "fast"], "lr: expected float values, got ['fast']"),
    "launcher": (["--launcher", "ray2"], "argument --launcher: invalid choice: 'ray2'"),
}


def _exit_code(argv) -> int:
    """What ``harness ARGV`` exits with, whether main returns it or argparse raises it."""
    try:
        return main(argv)
    except SystemExit as exit_info:
        return exit_info.code


@pytest.mark.parametrize("options, expected", BAD_OPTIONS.values(), ids=BAD_OPTIONS.keys())
def test_a_bad_option_exits_2_with_one_line_naming_it(tmp_path, capsys, options, expected):
    assert _exit_code(["run", "-m", "logreg", *options, "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness run: error: ") and expected in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()


def test_debug_shows_the_traceback(tmp_path):
    from harness.errors import ConfigError

    suite = tmp_path / "bad.toml"
    suite.write_text("max_epochs = -3\n")
    with pytest.raises(ConfigError, match="max_epochs"):
        main(["run", str(suite), "--debug"])


# ---------------------------------------------------------------------------
# Output paths: checked before anything trains, one line naming the path
# ---------------------------------------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """A sweep that gets as far as training fails the test at once: these errors must come before it."""
    import harness.api
    import harness.tuning.search

    def trained(*args, **kwargs):
        raise AssertionError("training started before the output path was checked")

    monkeypatch.setattr(harness.api, "run_configs", trained)
    monkeypatch.setattr(harness.tuning.search, "run_configs", trained)


def _a_file(tmp_path):
    path = tmp_path / "taken.txt"
    path.write_text("not a directory\n")
    return path


def _long_named_suite(tmp_path):
    suite = tmp_path / "long.toml"
    suite.write_text(f'name = "{"n" * 300}"\nmodels = ["logreg"]\ndatasets = ["digits"]\noptimizers = ["sgd"]\n')
    return suite


BAD_OUTPUTS = {
    "output is a file": (lambda tmp: ["run", *FAST, "--output", str(_a_file(tmp))], "is a file, not a directory"),
    "output under a file": (
        lambda tmp: ["run", *FAST, "--output", str(_a_file(tmp) / "sub")],
        "cannot be created: ",  # ... <tmp>/taken.txt is a file, not a directory
    ),
    "output in /proc": (lambda tmp: ["run", *FAST, "--output", "/proc/harness-results"], "under /proc"),
    "output too long": (
        lambda tmp: ["run", *FAST, "--output", str(tmp / "/".join(["d" * 200] * 30))],
        "the path is",
    ),
    "suite name of 300 characters": (
        lambda tmp: ["run", str(_long_named_suite(tmp))],
        "is 300 bytes long, over the file system's limit of",
    ),
    "tune output under a file": (
        lambda tmp: ["tune", *FAST, "--output", str(_a_file(tmp) / "tuned")],
        "is a file, not a directory",
    ),
}


@pytest.mark.parametrize("make_args, expected", BAD_OUTPUTS.values(), ids=BAD_OUTPUTS.keys())
def test_an_unusable_output_directory_exits_2_before_training(tmp_path, capsys, no_training, make_args, expected):
    args = make_args(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness {args[0]}: error: ") and expected in err, err
    assert "output directory" in err or "results directory" in err
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a read-only directory")
def test_a_read_only_output_directory_exits_2_before_training(tmp_path, capsys, no_training):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    for output, expected in ((locked, "is not writable"), (locked / "new", f"{locked} is not writable")):
        assert main(["run", *FAST, "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert expected in err and len(err.strip().splitlines()) == 1, err


def test_an_output_directory_without_write_permission_exits_2(tmp_path, capsys, monkeypatch, no_training):
    """The same as the read-only directory above, for a test that runs as root (which may write anywhere)."""
    monkeypatch.setattr(os, "access", lambda path, mode, **kwargs: False)
    assert main(["run", *FAST, "--output", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert f"cannot be created: {tmp_path} is not writable (permission denied)" in err, err


def test_a_checked_output_directory_is_not_left_behind_when_the_sweep_fails_later(tmp_path, capsys):
    output = tmp_path / "new" / "deep"
    assert main(["run", "--models", "mlpp", "--output", str(output)]) == 2
    assert "did you mean: mlp" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


@pytest.fixture
def records_dir(tmp_path):
    from harness.store import Store
    from tests.records import make_record

    store = Store(tmp_path / "res")
    store.write(make_record())
    return store.root


def test_report_to_an_unusable_path_exits_2_with_one_line(tmp_path, capsys, records_dir):
    taken = _a_file(tmp_path)
    cases = [
        (["-o", str(records_dir)], f"report file {records_dir} is a directory; give a file name"),
        (["-o", str(taken / "report.txt")], f"its folder {taken} is a file, not a directory"),
        (["-o", str(taken / "sub" / "report.txt")], f"cannot be created: {taken} is a file, not a directory"),
        (["--plots", str(taken)], f"plots directory {taken} is a file, not a directory"),
        (["--plots", str(taken / "figures")], f"cannot be created: {taken} is a file, not a directory"),
    ]
    for options, expected in cases:
        assert main(["report", str(records_dir), *options]) == 2, options
        captured = capsys.readouterr()
        assert captured.err.startswith("harness report: error: ") and expected in captured.err, captured.err
        assert len(captured.err.strip().splitlines()) == 1 and captured.out == ""
    assert taken.read_text() == "not a directory\n"


def test_report_into_a_new_folder_still_works(tmp_path, capsys, records_dir):
    target = tmp_path / "out" / "report.md"
    assert main(["report", str(records_dir), "-o", str(target), "--format", "github"]) == 0
    assert "mlp" in target.read_text()


# ---------------------------------------------------------------------------
# Blocking plugins: a block that matches nothing, a name a block hides
# ---------------------------------------------------------------------------


def test_a_block_that_matches_no_plugin_is_warned_about(capsys):
    assert main(["list", "optimizers", "-p", "no:harness_optm"]) == 0
    captured = capsys.readouterr()
    assert "sgd" in captured.out  # nothing was blocked
    warning = "warning: -p no:harness_optm matched no plugin (did you mean: harness_optim"
    assert captured.err.startswith(warning) and "(plugins: harness_dense, " in captured.err
    assert len(captured.err.strip().splitlines()) == 1

    assert main(["list", "optimizers", "-p", "no:harness_optim"]) == 0
    assert "matched no plugin" not in capsys.readouterr().err


def test_asking_for_a_name_of_a_blocked_plugin_says_it_is_blocked(capsys, no_training):
    assert main(["run", "-m", "logreg", "-o", "adam", "-p", "no:harness_optim"]) == 2
    err = capsys.readouterr().err
    expected = "optimizer 'adam' is provided by plugin 'harness_optim', which is blocked (-p no:harness_optim)"
    assert err.strip() == f"harness run: error: {expected}"


@pytest.mark.parametrize("trouble", ["blocked", "unsaved"])
def test_a_record_not_stored_or_a_cell_left_unread_makes_the_run_exit_1(monkeypatch, capsys, trouble):
    """Every run ended ok, but one record could not be written (kept elsewhere) or one cell's file could not be read."""
    import harness.api
    from harness.sweep import SweepResult
    from tests.records import make_record

    def finished(*args, **kwargs):
        return SweepResult(Path("res"), [make_record()], **{trouble: ["res/runs/x.json"]})

    monkeypatch.setattr(harness.api, "run", finished)
    assert main(["run", *FAST]) == 1


def test_summary_modules_are_imported_once_the_first_run_is_handed_out(tmp_path, monkeypatch):
    """While the first worker imports torch, the parent imports what the summary needs, once, in a thread."""
    import threading

    import harness.cli as cli

    (tmp_path / "summary_probe.py").write_text("IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(cli, "SUMMARY_MODULES", ("no_such_module_here", "summary_probe"))
    seen = []
    on_event = cli.importing_summary_when_trained(lambda kind, **data: seen.append(kind))

    on_event("plan", total=2)
    assert "summary_probe" not in sys.modules  # nothing before a run is handed out
    on_event("start", index=1)
    on_event("start", index=2)
    importers = [t for t in threading.enumerate() if t.name == "harness-summary-imports"]
    assert len(importers) <= 1  # one thread for the sweep, not one per run
    for thread in importers:
        thread.join(10)
    assert seen == ["plan", "start", "start"]  # every event still reaches the progress display
    assert "summary_probe" not in sys.modules  # a module that fails to import stops the warm-up: the summary reports it
    monkeypatch.setattr(cli, "SUMMARY_MODULES", ("summary_probe",))
    cli.importing_summary_when_trained(lambda kind, **data: None)("start", index=1)
    for thread in [t for t in threading.enumerate() if t.name == "harness-summary-imports"]:
        thread.join(10)
    assert sys.modules.pop("summary_probe").IMPORTED


# ---------------------------------------------------------------------------
# References: the table's reference column, harness report --references, --seeds as a list
# ---------------------------------------------------------------------------

REFERENCE_PLUGIN = """
from harness import hookimpl
from harness.specs import ModelSpec, Reference


def _build(*args, **kwargs):
    return None


def _broken():
    raise RuntimeError("the baseline library is not installed")


@hookimpl
def harness_register_models():
    return [
        ModelSpec(
            name="refnet",
            build=_build,
            references=(
                Reference(0.95, "Close et al. 2021, Table 3", spread=0.01, protocol="10 epochs", settings={"lr": 0.1}),
                Reference(0.5, "Far et al. 2019, Table 1", tolerance=0.02),
                Reference(0.9, "Elsewhere 2020", dataset="mnist"),
                Reference(None, "Broken baseline", compute=_broken),
            ),
        )
    ]
"""


@pytest.fixture
def referenced(tmp_path):
    """A results folder of one refnet cell (0.94 and 0.96), and a local plugin whose refnet ships references."""
    from harness.store import Store
    from tests.records import make_record

    store = Store(tmp_path / "res")
    for seed, value in enumerate([0.94, 0.96]):
        store.write(make_record(seed=seed, model="refnet", metric_value=value))
    plugin = tmp_path / "refplugin.py"
    plugin.write_text(REFERENCE_PLUGIN)
    return store.root, plugin


def test_report_lists_every_reference_with_its_status(referenced, capsys):
    root, plugin = referenced
    assert main(["report", str(root), "--references", "--plugins", str(plugin)]) == 0
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines() if line[:1].isdigit()}
    by_source = {source: next(row for row in rows.values() if source in row) for source in
                 ("Close et al. 2021", "Far et al. 2019", "Elsewhere 2020", "Broken baseline")}  # fmt: skip
    assert "0.950 ± 0.010" in by_source["Close et al. 2021"] and " agrees " in by_source["Close et al. 2021"]
    assert "0.950 ± 0.127 (2 seeds)" in by_source["Close et al. 2021"]
    assert " disagrees " in by_source["Far et al. 2019"]
    assert "no matching runs" in by_source["Elsewhere 2020"]
    assert "failed: RuntimeError: the baseline library is not installed" in by_source["Broken baseline"]
    assert "model refnet: source: Close et al. 2021, Table 3; settings: lr=0.1; protocol: 10 epochs" in captured.out
    warning = "warning: model refnet: reference 'Broken baseline' could not be computed: RuntimeError: the baseline"
    assert captured.err.startswith(warning) and len(captured.err.strip().splitlines()) == 1

    assert main(["report", str(root), "--references", "--plugins", str(plugin), "--format", "csv"]) == 0
    csv = capsys.readouterr().out.splitlines()
    assert csv[0] == "#,spec,model,dataset,optimizer,metric,reference,runs,status,source,settings,protocol"


def test_the_table_shows_the_references_a_cell_matches_and_a_failing_one_by_name(referenced, capsys):
    root, plugin = referenced
    assert main(["report", str(root), "--plugins", str(plugin)]) == 0
    captured = capsys.readouterr()
    header, _, row = captured.out.splitlines()[:3]
    assert header.split()[header.split().index("seeds") + 1 : header.split().index("seeds") + 3] == [
        "reference",
        "agrees",
    ]
    assert "0.950 ± 0.010 (Close et al. 2021); 0.500 (tol 0.02) (Far et al. 2019)" in row and "yes; no" in row
    assert "Broken baseline" in captured.err and "could not be computed" in captured.err  # the report still printed

    assert main(["report", str(root)]) == 0  # without the plugin: the table as it always was
    assert "reference" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--format", "html"], "--references prints a table: any tabulate format or csv, not html"),
        (["--stats"], "--references prints the list of references; it takes no --stats"),
        (["-o", "list.txt"], "--references prints the list of references; it takes no -o"),
        (["--format", "nope"], "unknown report format 'nope'"),
        (["--plugins", "no/such/plugin.py"], "plugin path no/such/plugin.py does not exist"),
    ],
)
def test_report_references_bad_options_exit_2_with_one_line(referenced, capsys, options, expected):
    root, _ = referenced
    assert _exit_code(["report", str(root), "--references", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith("harness report: error: ") and expected in err and len(err.strip().splitlines()) == 1


def test_seeds_as_a_list_trains_those_seeds(tmp_path, capsys):
    out_dir = tmp_path / "res"
    options = ["-m", "logreg", "-d", "digits", "-o", "sgd", "--max-epochs", "1", "--launcher", "inline"]
    assert main(["run", *options, "--seeds", "42,43,44", "--output", str(out_dir)]) == 0
    seeds = sorted(json.loads(path.read_text())["config"]["seed"] for path in out_dir.glob("runs/*.json"))
    assert seeds == [42, 43, 44]
    capsys.readouterr()


@pytest.mark.parametrize("command", ["run", "tune"])
@pytest.mark.parametrize(
    "value, expected",
    [
        ("1,x", "argument --seeds: expected a count N (seeds 0..N-1) or a comma list of whole numbers"),
        ("3,", "got '3,'"),
        ("1,1", "once"),  # run: 'seeds: seed 1 is listed more than once'; tune: '--seeds: each seed once'
    ],
)
def test_bad_seeds_exit_2_naming_the_option(tmp_path, capsys, no_training, command, value, expected):
    assert _exit_code([command, "-m", "logreg", "--seeds", value, "--output", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness {command}: error: ") and expected in err and len(err.strip().splitlines()) == 1


def test_seeds_option_gives_a_count_or_a_tuple():
    from harness.cli_parser import seeds_option

    assert seeds_option("5") == 5 and seeds_option("42,43,44") == (42, 43, 44) and seeds_option("7, 8") == (7, 8)
