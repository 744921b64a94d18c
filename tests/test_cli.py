"""The command line as a user meets it: fast help, listings, runs, reports, one-line errors."""

import json
import os
import subprocess
import sys

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
    assert plugins["harness_dense"]["distribution"] == "harness" and plugins["harness_dense"]["version"]
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
def test_ctrl_c_stops_cleanly_and_keeps_finished_records(tmp_path):
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
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole group: the workers ignore it, the sweep stops them
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
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
