"""Reading results at scale: report, export, compare and resume over N synthetic records, each in a fresh process.

It builds a real grid with the harness's own config code (a suite file over
built-in models, datasets and optimizers, a list of learning rates and a
number of seeds, sized to N runs), writes one valid record per run with the
harness's own record code (``records.new_record`` shape, ``store.Store.write``)
into a temporary folder, and a perturbed copy of them (same keys; metrics,
speeds and memory moved by a few per cent, a few cells clearly worse) for
``harness compare``. Then it times each step of reading them in a fresh
process, through the ``harness`` command of this interpreter's environment,
with that process's peak memory (max RSS: each step runs under a tiny
wrapper process whose ``RUSAGE_CHILDREN`` holds only that step):

* ``report_cold_s``: ``harness report DIR`` after :func:`remove_index_files`
  deleted whatever the harness keeps beside ``runs/`` (an index, a cache);
* ``report_warm_s``: the same again (the index, if any, now present);
* ``csv_s``, ``parquet_s``, ``html_s``: ``harness report DIR --format F -o FILE``;
* ``compare_s``: ``harness compare DIR PERTURBED`` (exit 1, regressions found,
  is a result, not an error; the perturbed side starts without an index);
* ``resume_s``: ``harness run SUITE.toml --output DIR --plan``, the dry run of
  a resume (which cells are finished, which would train; nothing trains);
* ``example_report_s``: ``harness report`` of a copy of the 18 records of
  ``results/example`` (a copy, so nothing is written into the repository;
  without an index, as a first report would find it).

A step that fails (exit status, or past ``--timeout-s``) is recorded in
``errors`` with its exit status and last stderr line; its ``*_s`` is null.
Generation is not timed as a step, but its time per 1,000 records and an
estimate for 100,000 are printed (stderr) and kept in the JSON.

    python benchmarks/report_scale.py --records 1000 --json
    python benchmarks/report_scale.py --records 100000 --keep /data/scale    # generate once, keep it
    python benchmarks/report_scale.py --reuse /data/scale --json --check     # time again, no regeneration
    python benchmarks/report_scale.py --records 1000 --steps report_cold,report_warm

Targets (issue 13; ``--check`` exits 1 when one is missed), by scale: at 10,000
records report cold <= 4 s and warm <= 1.5 s; at 100,000 report cold <= 30 s,
warm <= 4 s, csv and parquet <= 30 s each, compare <= 40 s, resume <= 10 s and
every step's peak memory <= 2,560 MB; at any scale the 18-record example
report <= 1.5 s end to end. A tier applies from 95% of its size; a step not
selected is not judged, a failed one misses its target.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, machine  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "results" / "example"
SUITE_NAME = "scale"
MANIFEST = "manifest.json"

STEPS = ("report_cold", "report_warm", "csv", "parquet", "html", "compare", "resume", "example_report")

#: records -> {step or "peak_rss_mb": limit}; a tier applies from 95% of its size (see :func:`targets_for`)
TARGETS = {
    10_000: {"report_cold_s": 4.0, "report_warm_s": 1.5},
    100_000: {
        "report_cold_s": 30.0,
        "report_warm_s": 4.0,
        "csv_s": 30.0,
        "parquet_s": 30.0,
        "compare_s": 40.0,
        "resume_s": 10.0,
        "peak_rss_mb": 2560.0,
    },
}
EXAMPLE_TARGET_S = 1.5

# ---------------------------------------------------------------------------
# The grid: a suite file over built-in plugins, sized to N runs
# ---------------------------------------------------------------------------

#: Dataset choices, smallest first: (datasets, models); the pairs that cannot work together are skipped by expand.
DATASET_CHOICES = (
    (("digits",), ("mlp", "logreg")),
    (("digits",), ("mlp", "logreg", "cnn")),
    (("digits", "mnist1d"), ("mlp", "logreg")),
    (("digits", "mnist1d"), ("mlp", "logreg", "cnn", "cnn1d")),
)
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "momentum", "nesterov", "nadam", "radam", "adagrad")
BATCH_SIZES = (64, 128, 32, 256)
MAX_EPOCHS = 30
TARGET = 0.9


def _pairs(registry, datasets, models) -> int:
    """How many (model, dataset) pairs of these can train together: what expand keeps."""
    from harness.config import expand, make_suite

    suite = make_suite({"models": list(models), "datasets": list(datasets), "optimizers": ["sgd"], "seeds": 1})
    return len(expand(suite, registry)[0])


def choose_grid(registry, records: int) -> dict:
    """Suite values whose grid has ``records`` runs, or about as many (within 1% where the factors allow).

    A plausible sweep first: 3-10 seeds (5 preferred), at most 60 learning
    rates (few preferred), many optimizers, few batch sizes; then the closest count.
    """
    best = None
    for datasets, models in DATASET_CHOICES:
        pairs = _pairs(registry, datasets, models)
        for n_opt in range(1, len(OPTIMIZERS) + 1):
            for n_batch in range(1, len(BATCH_SIZES) + 1):
                for seeds in range(1, 11):
                    per_lr = pairs * n_opt * n_batch * seeds
                    guess = max(1, round(records / per_lr))
                    for n_lr in {max(1, guess - 1), guess, guess + 1}:
                        count = per_lr * n_lr
                        error = abs(count - records) / records
                        penalty = (
                            (seeds < 3) * 10 + abs(seeds - 5) * 0.3 + max(0, n_lr - 12) * 0.3 + (n_lr > 60) * 100
                            + (len(OPTIMIZERS) - n_opt) * 0.3 + (n_batch - 1) * 0.4 + (len(datasets) - 1) * 0.2
                            + (4 - len(models)) * 0.2 + max(0, 3 - n_lr) * 0.5 + error * 1000
                        )  # fmt: skip
                        score = (error > 0.01 and error, penalty)
                        if best is None or score < best[0]:
                            best = (score, datasets, models, n_opt, n_batch, seeds, n_lr, count)
    _, datasets, models, n_opt, n_batch, seeds, n_lr, count = best
    values = {
        "name": SUITE_NAME,
        "models": list(models),
        "datasets": list(datasets),
        "optimizers": list(OPTIMIZERS[:n_opt]),
        "seeds": seeds,
        "batch_size": sorted(BATCH_SIZES[:n_batch]),
        "max_epochs": MAX_EPOCHS,
        "target": TARGET,
    }
    if n_lr > 1:  # one learning rate: each optimizer's own default, as a plain sweep would run it
        values["lr"] = learning_rates(n_lr)
    values["max_runs"] = max(100_000, 2 * len(models) * len(datasets) * n_opt * n_batch * seeds * n_lr)
    return values


def learning_rates(count: int) -> list[float]:
    """``count`` learning rates spread evenly on a log scale from 1e-4 to 1, three significant digits each."""
    if count == 1:
        return [0.01]
    return [float(f"{10 ** (-4 + 4 * i / (count - 1)):.3g}") for i in range(count)]


def suite_toml(values: dict) -> str:
    """The suite file of ``values``: what `harness run SUITE.toml` reads."""
    lines = ["# Written by benchmarks/report_scale.py: the grid of its synthetic records."]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Synthetic records: realistic shape and values, seeded
# ---------------------------------------------------------------------------

#: (model, dataset) -> (test accuracy at a good lr, samples/s at batch 64, parameters, peak MiB at batch 64)
MODEL_FACTS = {
    ("mlp", "digits"): (0.972, 125_000.0, 17_226, 2.4),
    ("logreg", "digits"): (0.955, 220_000.0, 650, 0.6),
    ("cnn", "digits"): (0.985, 9_000.0, 53_002, 28.0),
    ("mlp", "mnist1d"): (0.72, 110_000.0, 14_154, 2.0),
    ("logreg", "mnist1d"): (0.33, 200_000.0, 410, 0.5),
    ("cnn1d", "mnist1d"): (0.93, 6_000.0, 42_954, 22.0),
}
DEFAULT_FACTS = (0.8, 50_000.0, 10_000, 5.0)
#: dataset -> (train, validation and test sizes, chance accuracy)
DATASET_FACTS = {"digits": (1078, 360, 359, 0.1), "mnist1d": (3600, 400, 1000, 0.1)}
#: optimizer -> (accuracy bonus at its best lr, relative speed)
OPTIMIZER_FACTS = {
    "sgd": (-0.004, 1.0),
    "momentum": (0.003, 0.98),
    "nesterov": (0.004, 0.97),
    "adam": (0.0, 0.90),
    "adamw": (0.001, 0.89),
    "rmsprop": (-0.003, 0.93),
    "nadam": (0.0, 0.85),
    "radam": (-0.001, 0.86),
    "adagrad": (-0.012, 0.95),
}
#: The mix of statuses: diverged runs are the highest learning rates (plus noise); the others are drawn at random.
STATUS_SHARES = {"diverged": 0.05, "failed": 0.05, "oom": 0.03, "timeout": 0.01, "crashed": 0.01}
#: (exception, message, file, line) of failed runs
FAILURES = (
    ("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (64x40 and 64x128)", "linear.py", 125),
    ("ValueError", "Expected input batch_size (64) to match target batch_size (32).", "functional.py", 3104),
    ("OSError", "[Errno 28] No space left on device: '/tmp/harness-cache/digits.npz'", "data.py", 212),
    ("KeyError", "'val_accuracy'", "measure.py", 259),
)
#: Share of cells made clearly worse in the perturbed copy, and how.
REGRESSED_SHARE = 0.02
REGRESSION_KINDS = ("slower", "less accurate", "more memory", "broken")


def cell_of(config: dict) -> tuple:
    """What the runs of one cell of this grid share (everything else is equal across the grid)."""
    return (config["model"], config["dataset"], config["optimizer_label"], config["batch_size"])


def regression_kind(cell: tuple) -> str | None:
    """Which clear regression the perturbed copy plants in ``cell``, or None: 2% of cells, stable across seeds."""
    mark = zlib.crc32(repr(cell).encode())
    if mark % 10_000 >= REGRESSED_SHARE * 10_000:
        return None
    return REGRESSION_KINDS[(mark // 10_000) % len(REGRESSION_KINDS)]


def assign_statuses(runs, default_lr: dict, seed: int = 13) -> list[str]:
    """Each run's status: the highest learning rates (relative to the optimizer's default) diverge, others at random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lrs = np.array([run.optimizer_params.get("lr", default_lr[run.optimizer]) for run in runs], dtype=float)
    ratios = np.log10(lrs / np.array([default_lr[run.optimizer] for run in runs], dtype=float))
    score = ratios + rng.normal(0.0, 0.7, len(runs))
    statuses = np.full(len(runs), "ok", dtype=object)
    diverged = np.argsort(-score)[: round(STATUS_SHARES["diverged"] * len(runs))]
    statuses[diverged] = "diverged"
    draw = rng.random(len(runs))
    edge = 0.0
    for status in ("failed", "oom", "timeout", "crashed"):
        share = STATUS_SHARES[status] / (1 - STATUS_SHARES["diverged"])
        statuses[(statuses == "ok") & (draw >= edge) & (draw < edge + share)] = status
        edge += share
    return statuses.tolist()


def quality(x: float) -> float:
    """How much of a model's best accuracy an lr ``x`` decades off its optimizer's default reaches in the epochs."""
    return 1.0 / (1.0 + 0.08 * x * x + 0.02 * x**4)


def _curves(rng, epochs: int, final: float, chance: float, tau: float, floor: float, diverge_at: int | None):
    """Per-epoch validation metric, validation loss and training loss, converging to ``final`` and ``floor``."""
    import numpy as np

    e = np.arange(1, epochs + 1)
    decay = np.exp(-e / tau)
    val = np.clip(final - (final - chance) * decay + rng.normal(0, 0.004, epochs), 0.0, 1.0)
    val_loss = floor * 1.3 + (2.3 - floor * 1.3) * decay * (1 + rng.normal(0, 0.02, epochs))
    train = (floor + (2.3 - floor) * decay) * (1 + rng.normal(0, 0.01, epochs))
    if diverge_at is not None:
        val, val_loss, train = val[: diverge_at + 1], val_loss[: diverge_at + 1], train[: diverge_at + 1]
        val[-1], val_loss[-1], train[-1] = chance, float("nan"), float("nan")
    return val.tolist(), val_loss.tolist(), train.tolist()


def _timing(rng, wall: float) -> dict:
    """``results["timing"]`` as :mod:`harness.train.noise` records it; about 3% of runs disturbed."""
    from harness.train.noise import disturbances

    busy = rng.random() < 0.03
    load = (lambda: rng.uniform(2.1, 3.6)) if busy else (lambda: rng.uniform(0.1, 1.7))
    cpu = wall * rng.uniform(0.92, 0.99)
    timing = {
        "load_start": load(),
        "load_end": load(),
        "cores": 2,
        "threads": 1,
        "cpu_time_s": cpu,
        "wall_time_s": wall,
        "cpu_share": cpu / wall,
        "run_queue_wait": rng.uniform(0.005, 0.06),
        "step_time_cv": rng.uniform(0.05, 0.35),
    }
    timing["disturbed"] = disturbances(timing, True)
    return timing


# kept whole: one run's measurements, in the order the runner takes them
def measurements(config: dict, rng, default_lr: dict, status: str) -> dict:
    """The ``results`` of an ok or diverged run of ``config``, like the runner's, values seeded by ``rng``."""
    top, speed, params, memory = MODEL_FACTS.get((config["model"], config["dataset"]), DEFAULT_FACTS)
    train_n, val_n, test_n, chance = DATASET_FACTS.get(config["dataset"], (1000, 200, 200, 0.1))
    bonus, relative_speed = OPTIMIZER_FACTS.get(config["optimizer"], (0.0, 0.9))
    batch, epochs = config["batch_size"], config["max_epochs"]
    x = math.log10(config["optimizer_params"]["lr"] / default_lr[config["optimizer"]])
    q = quality(x)
    expected = chance + (top + bonus - 0.004 * math.log2(batch / 64) ** 2 - chance) * q
    accuracy = round(min(1.0, max(chance / 2, expected + rng.normal(0, 0.006))) * test_n) / test_n
    samples_per_s = speed * (batch / 64) ** 0.35 * relative_speed * math.exp(rng.normal(0, 0.04))
    step_ms = batch / samples_per_s * 1000
    steps_per_epoch = math.ceil(train_n / batch)
    diverge_at = int(rng.integers(1, epochs)) if status == "diverged" else None
    ran = epochs if diverge_at is None else diverge_at + 1
    floor = min(2.0, 0.05 + 3 * -math.log(min(accuracy, 0.999)))
    val, val_loss, train_losses = _curves(
        rng, epochs, expected + rng.normal(0, 0.004), chance, 2 + 8 * (1 - q), floor, diverge_at
    )
    epoch_s = steps_per_epoch * step_ms / 1000 * (1 + abs(rng.normal(0, 0.05)))
    times = [epoch_s * (e + 1) * (1 + rng.normal(0, 0.01)) for e in range(ran)]
    curve = [{"epoch": e, "train_time_s": times[e], "val_loss": val_loss[e], "val_metric": val[e]} for e in range(ran)]
    best = max(range(ran), key=lambda e: val[e] if val[e] == val[e] else -1.0)
    reached = next((e for e in range(ran) if val[e] >= config["target"]), None)
    train_time = times[-1]
    eval_time = ran * val_n / samples_per_s * 0.4
    steps = steps_per_epoch * ran
    flops_per_sample = 6.0 * params
    results = {
        "achieved_flops_per_s": flops_per_sample * samples_per_s,
        "best_val_epoch": best,
        "best_val_metric": val[best],
        "compile_time_s": None,
        "cuda_max_reserved_mb": None,
        "engine": "fabric",
        "epoch_to_target": reached,
        "epochs": ran,
        "eval_time_s": eval_time,
        "flops_per_sample": flops_per_sample,
        "measured_steps": steps - config["warmup_steps"],
        "memory_kind": "cpu_rss_growth",
        "mfu": None,
        "params": params,
        "peak_memory_mb": memory * (batch / 64) ** 0.8 * math.exp(rng.normal(0, 0.15)),
        "samples_per_s": samples_per_s,
        "step_time_median_ms": step_ms,
        "step_time_p90_ms": step_ms * rng.uniform(1.1, 1.5),
        "steps": steps,
        "time_to_target_s": times[reached] if reached is not None else None,
        "tokens_per_s": None,
        "train_losses": train_losses,
        "train_time_s": train_time,
        "trainable_params": params,
        "val_curve": curve,
        "wall_time_s": train_time + eval_time + rng.uniform(0.2, 0.6),
        "warmup_steps": config["warmup_steps"],
    }
    results["timing"] = _timing(rng, train_time * rng.uniform(1.01, 1.05))
    if status == "ok":
        loss = floor * 1.25 * math.exp(rng.normal(0, 0.05))
        results["test_time_s"] = test_n / samples_per_s * 0.3
        results["test_metrics"] = {
            "accuracy": accuracy,
            "loss": loss,
            "top5_accuracy": min(1.0, accuracy + (1 - accuracy) * 0.85),
        }
        results["test_metric"], results["test_loss"] = accuracy, loss
    return results


def _traceback(kind: str, message: str, where: str, line: int) -> str:
    """A traceback's last frames, as the runner keeps them."""
    site = "/work/main/.venv/lib/python3.11/site-packages/torch/nn/modules"
    return (
        "Traceback (most recent call last):\n"
        '  File "/work/main/harness/train/runner.py", line 172, in execute\n'
        "    _train_and_test(config, registry, device, record, results)\n"
        '  File "/work/main/harness/train/runner.py", line 226, in _train_and_test\n'
        "    test = _fit(plan, own_module, results)\n"
        '  File "/work/main/harness/train/engine.py", line 141, in fit\n'
        "    loss = module.training_step(batch, index)\n"
        f'  File "{site}/module.py", line 1751, in _wrapped_call_impl\n'
        "    return self._call_impl(*args, **kwargs)\n"
        f'  File "{site}/{where}", line {line}, in forward\n'
        "    return F.linear(input, self.weight, self.bias)\n"
        f"{kind}: {message}\n"
    )


def fill(record: dict, status: str, rng, context: dict) -> dict:
    """Give a fresh ``new_record`` its status, reason and results, and the provenance every record has."""
    config = record["config"]
    record["status"] = status
    lost = status in ("timeout", "crashed")  # the launcher's lost_record: no descriptions, no metric
    if not lost:
        record.update(task="classification", metric="accuracy", metric_mode="max", synthetic=False)
        record["descriptions"] = {kind: context["descriptions"][kind][config[kind]] for kind in context["descriptions"]}
    if status in ("ok", "diverged"):
        record["results"] = measurements(config, rng, context["default_lr"], status)
        if status == "diverged":
            record["reason"] = f"training loss became non-finite in epoch {record['results']['epochs'] - 1}"
    elif status in ("failed", "oom"):
        _, _, params, _ = MODEL_FACTS.get((config["model"], config["dataset"]), DEFAULT_FACTS)
        if status == "failed":
            kind, message, where, line = FAILURES[int(rng.integers(len(FAILURES)))]
            record["reason"] = f"{kind}: {message} ({where}:{line})"
        else:
            kind, where, line = "RuntimeError", "CPUAllocator.cpp", 81
            message = (
                f"DefaultCPUAllocator: can't allocate memory: you tried to allocate {int(rng.integers(2**30, 2**34))} "
                "bytes. Error code 12 (Cannot allocate memory)"
            )
            record["reason"] = f"out of memory at batch size {config['batch_size']}: {kind}: {message} ({where}:{line})"
        record["traceback"] = _traceback(kind, message, where, line)
        record["results"] = {"params": params, "trainable_params": params, "wall_time_s": rng.uniform(0.3, 4.0)}
    elif status == "timeout":
        record["reason"] = "still running after the time limit of 600s; its worker was stopped (SIGTERM)"
        record["results"] = {"wall_time_s": 600.0 + rng.uniform(0.1, 2.0)}
    else:
        record["reason"] = "worker process died (killed by signal 9: SIGKILL) while running this cell"
    record["provenance"] = _provenance(context, config, rng, lost, record.get("results", {}))
    return record


def _provenance(context: dict, config: dict, rng, lost: bool, results: dict) -> dict:
    started = context["started"] + timedelta(seconds=float(rng.uniform(0, 86_400)))
    finished = started + timedelta(seconds=results.get("wall_time_s") or 1.0)
    provenance = dict(context["provenance"])
    provenance.update(
        pid=int(rng.integers(4000, 4002)),
        seed=config["seed"],
        precision=config["precision"],
        started_at=started.isoformat(timespec="seconds"),
        finished_at=finished.isoformat(timespec="seconds"),
    )
    if lost:
        provenance["threads_from"] = None
    return provenance


def perturbed(record: dict, rng) -> dict:
    """The same run in a later sweep: metric, speed and memory moved by a few per cent; 2% of cells clearly worse."""
    twin = copy.deepcopy(record)
    results = twin.get("results") or {}
    kind = regression_kind(cell_of(twin["config"]))
    if kind == "broken" and twin["status"] == "ok":
        twin.update(status="failed", reason=f"{FAILURES[0][0]}: {FAILURES[0][1]} (linear.py:125)")
        twin["traceback"] = _traceback(*FAILURES[0])
        twin["results"] = {"wall_time_s": results.get("wall_time_s", 1.0)}
        return twin
    if "samples_per_s" in results:
        speed = math.exp(rng.normal(0, 0.03)) * (0.7 if kind == "slower" else 1.0)
        results["samples_per_s"] *= speed
        results["achieved_flops_per_s"] *= speed
        results["step_time_median_ms"] /= speed
        results["step_time_p90_ms"] /= speed
        results["peak_memory_mb"] *= math.exp(rng.normal(0, 0.02)) * (1.5 if kind == "more memory" else 1.0)
    if results.get("test_metric") is not None:
        drop = 0.12 if kind == "less accurate" else 0.0
        accuracy = min(1.0, max(0.0, results["test_metric"] * (1 - drop) + rng.normal(0, 0.004)))
        results["test_metric"] = results["test_metrics"]["accuracy"] = accuracy
    return twin


# ---------------------------------------------------------------------------
# Writing them: two processes, fsynced like every record
# ---------------------------------------------------------------------------

_JOB: dict = {}  # what the forked writers read: runs, statuses, folders, context


def _write_chunk(indices: list[int]) -> tuple[int, int, float]:
    """Build and write the base and perturbed records of ``indices``; (records, bytes, seconds)."""
    import numpy as np

    from harness.records import config_key, new_record, problem
    from harness.store import Store

    start = time.perf_counter()
    base, other = Store(_JOB["base"]), Store(_JOB["perturbed"])
    written = 0
    for index in indices:
        run = _JOB["runs"][index]
        record = new_record(run, SUITE_NAME)
        rng = np.random.default_rng(int(record["key"], 16))
        fill(record, _JOB["statuses"][index], rng, _JOB["context"])
        if index < 50 or index % 997 == 0:  # the record code's own checks, on a sample
            assert problem(record) is None, (problem(record), record["key"])
            assert record["key"] == config_key(record["config"]), record["key"]
        twin = perturbed(record, rng)
        if index < 50:
            assert problem(twin) is None, (problem(twin), twin["key"])
        written += base.write(record).stat().st_size
        other.write(twin)
    return len(indices), written, time.perf_counter() - start


def _descriptions(registry, values: dict) -> dict:
    out = {}
    for kind, key in (("model", "models"), ("dataset", "datasets"), ("optimizer", "optimizers")):
        out[kind] = {}
        for name in values[key]:
            entry = registry.get(kind, name)
            out[kind][name] = {"name": name, "plugin": entry.plugin, "description": entry.spec.description}
    return out


# kept whole: the generation, from the grid to the manifest
def generate(root: Path, records: int, writers: int) -> dict:
    """Write the suite file, N base records and their perturbed copies under ``root``; return the manifest."""
    from harness.api import load_registry
    from harness.config import expand, resolve_suite
    from harness.provenance import run_provenance

    started = time.perf_counter()
    registry = load_registry()
    values = choose_grid(registry, records)
    suite_path = root / "suite.toml"
    suite_path.write_text(suite_toml(values), encoding="utf-8")
    suite = resolve_suite(suite_path)
    runs, skipped = expand(suite, registry)
    grid_s = time.perf_counter() - started
    _note(f"grid: {len(runs):,} runs ({len(skipped)} pairs skipped) in {grid_s:.1f} s; writing them twice")
    default_lr = {name: registry.get("optimizer", name).spec.defaults["lr"] for name in values["optimizers"]}
    statuses = assign_statuses(runs, default_lr)
    cpu = machine().get("cpu", "unknown CPU")
    provenance = run_provenance(
        registry.plugins, runs[0], datetime.now(timezone.utc), device=f"cpu: {cpu} (1 threads)",
        accelerator="cpu", threads=1, threads_from="cores/workers",
    )  # fmt: skip
    context = {
        "descriptions": _descriptions(registry, values),
        "default_lr": default_lr,
        "started": datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc),
        "provenance": provenance,
    }
    _JOB.update(runs=runs, statuses=statuses, context=context, base=root / "base", perturbed=root / "perturbed")
    written = _write_all(len(runs), writers)
    total_s = time.perf_counter() - started
    cells = {(run.model, run.dataset, run.optimizer_label, run.batch_size) for run in runs}  # as cell_of
    return _manifest(values, runs, statuses, skipped, cells, written, grid_s, total_s, writers)


def _write_all(count: int, writers: int) -> int:
    chunk = 250
    chunks = [list(range(i, min(i + chunk, count))) for i in range(0, count, chunk)]
    (_JOB["base"] / "runs").mkdir(parents=True, exist_ok=True)
    (_JOB["perturbed"] / "runs").mkdir(parents=True, exist_ok=True)
    done = written = 0
    last = time.perf_counter()
    if writers <= 1:
        results = map(_write_chunk, chunks)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(writers)
        results = pool.imap_unordered(_write_chunk, chunks)
    try:
        for n, size, _ in results:
            done, written = done + n, written + size
            if time.perf_counter() - last > 10:
                _note(f"  {done:,}/{count:,} records written (x2)")
                last = time.perf_counter()
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return written


def _manifest(values, runs, statuses, skipped, cells, written, grid_s, total_s, writers) -> dict:
    from collections import Counter

    n = len(runs)
    per_1000 = total_s / n * 1000
    planted = Counter(regression_kind(cell) for cell in cells)
    planted.pop(None, None)
    manifest = {
        "records": n,
        "requested": None,
        "grid": {
            "suite": values,
            "cells": len(cells),
            "skipped_pairs": [list(pair) for pair in skipped],
            "statuses": dict(Counter(statuses)),
            "final_records": sum(s in ("ok", "diverged") for s in statuses),
        },
        "perturbed": {"regressed_cells_planted": dict(planted), "what": "metric/speed/memory +-few %; 2% cells worse"},
        "generation": {
            "seconds": round(total_s, 2),
            "grid_s": round(grid_s, 2),
            "writers": writers,
            "seconds_per_1000_records": round(per_1000, 2),
            "note": "per 1,000 runs, each written twice (base and perturbed copy), fsynced",
            "estimate_100k_s": round(per_1000 * 100, 0),
            "bytes_per_record": round(written / n),
            "estimate_100k_disk_gb": round(written / n * 2 * 100_000 / 1e9, 2),
        },
    }
    _note(
        f"generated {n:,} records (x2) in {total_s:.1f} s: {per_1000:.2f} s per 1,000 runs; "
        f"{written / n / 1000:.1f} KB a record; 100,000 would take about {per_1000 * 100 / 60:.0f} min "
        f"and {written / n * 2 * 100_000 / 1e9:.2f} GB"
    )
    return manifest


# ---------------------------------------------------------------------------
# Timing the steps, each in a fresh process under a wrapper that reads its max RSS
# ---------------------------------------------------------------------------

#: Runs one command, times it and prints its wall time, exit status and max RSS (RUSAGE_CHILDREN: that command only).
WRAPPER = r"""
import json, resource, subprocess, sys, time
timeout, out, err, command = float(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
with open(out, "wb") as stdout, open(err, "wb") as stderr:
    start = time.perf_counter()
    try:
        rc, timed_out = subprocess.run(command, stdout=stdout, stderr=stderr, timeout=timeout).returncode, False
    except subprocess.TimeoutExpired:
        rc, timed_out = None, True
    wall = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": rc, "timed_out": timed_out, "wall_s": wall, "maxrss_kb": rss}))
"""

#: Exit statuses that are a result, not a failure: compare exits 1 when it finds regressions.
ACCEPTED_EXIT = {"compare": (0, 1)}

INDEX_NAME = re.compile(r"[0-9a-f]{16}\.json")


def remove_index_files(results_dir: Path) -> list[str]:
    """Delete what the harness keeps beside its records, so the next report starts cold; return what went.

    Everything in ``results_dir`` except the ``runs/`` folder (the run index
    ``DIR/runs.index.parquet`` of :mod:`harness.reporting.run_index`, and any
    other cache a later version keeps there), and anything in ``runs/`` that is
    not a record file ``<16 hex>.json`` (a hidden index beside the records).
    Adapt it here if the harness moves its index.
    """
    removed = []
    for entry in sorted(results_dir.iterdir()) if results_dir.is_dir() else ():
        if entry.name == "runs" and entry.is_dir() and not entry.is_symlink():
            continue
        removed.append(entry.name)
        shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    runs = results_dir / "runs"
    if runs.is_dir():
        with os.scandir(runs) as entries:
            for entry in entries:
                if not INDEX_NAME.fullmatch(entry.name):
                    removed.append(f"runs/{entry.name}")
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
    return removed


#: The results folders each step reads (where its index would be).
READS = {"compare": ("base", "perturbed"), "example_report": ("example",)}


def side_files(root: Path, folders=("base", "perturbed", "example")) -> dict[str, int]:
    """``folder/name`` -> mtime (ns) of what the harness keeps beside ``runs/`` in each of ``folders`` of ``root``.

    Before and after a step, it says whether the step found an index and whether it wrote one (a warm
    report that rewrites its index found it stale: records changed, or the code that wrote it did).
    """
    found = {}
    for folder in folders:
        if (root / folder).is_dir():
            for entry in os.scandir(root / folder):
                if entry.name != "runs":
                    found[f"{folder}/{entry.name}"] = entry.stat(follow_symlinks=False).st_mtime_ns
    return found


def harness_command() -> list[str]:
    """The ``harness`` console script of this interpreter's environment (what a user runs)."""
    script = Path(sys.executable).parent / "harness"
    return [str(script)] if script.exists() else [sys.executable, "-m", "harness.cli"]


def run_step(name: str, command: list[str], logs: Path, timeout: float) -> dict:
    """One step in a fresh process: wall time, max RSS, exit status, the tail of what it printed."""
    out, err = logs / f"{name}.stdout", logs / f"{name}.stderr"
    wrapper = [sys.executable, "-c", WRAPPER, str(timeout), str(out), str(err), *command]
    done = subprocess.run(wrapper, capture_output=True, text=True, timeout=timeout + 120)
    try:
        measured = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        measured = {"rc": None, "timed_out": False, "wall_s": None, "maxrss_kb": None}
        return {**measured, "ok": False, "error": f"the wrapper failed: {done.stderr.strip()[-300:]}"}
    stdout = out.read_text(errors="replace").splitlines()
    stderr = err.read_text(errors="replace").splitlines()
    step = {
        "command": " ".join(command),
        "rc": measured["rc"],
        "wall_s": round(measured["wall_s"], 3),
        "peak_rss_mb": round(measured["maxrss_kb"] / 1024, 1),
        "stdout_lines": len(stdout),
        "stdout_last": stdout[-1][:300] if stdout else None,
        "stderr_lines": len(stderr),
        "stderr_first": stderr[0][:300] if stderr else None,
    }
    step["ok"] = not measured["timed_out"] and measured["rc"] in ACCEPTED_EXIT.get(name, (0,))
    if measured["timed_out"]:
        step["error"] = f"timed out after {timeout:g} s"
    elif not step["ok"]:
        last = next((line for line in reversed(stderr) if line.strip()), "")
        step["error"] = f"exit {measured['rc']}: {last.strip()[:300]}"
    return step


def plan_steps(root: Path, selected) -> list[tuple[str, list[str], callable]]:
    """(name, command, what to do just before) for each selected step, in order."""
    harness = harness_command()
    base, other, out = root / "base", root / "perturbed", root / "out"
    example = root / "example"
    steps = {
        "report_cold": ([*harness, "report", str(base)], lambda: remove_index_files(base)),
        "report_warm": ([*harness, "report", str(base)], None),
        "csv": ([*harness, "report", str(base), "--format", "csv", "-o", str(out / "runs.csv")], None),
        "parquet": ([*harness, "report", str(base), "--format", "parquet", "-o", str(out / "runs.parquet")], None),
        "html": ([*harness, "report", str(base), "--format", "html", "-o", str(out / "report.html")], None),
        "compare": ([*harness, "compare", str(base), str(other)], lambda: remove_index_files(other)),
        "resume": ([*harness, "run", str(root / "suite.toml"), "--output", str(base), "--plan"], None),
        "example_report": ([*harness, "report", str(example)], lambda: _example_copy(example)),
    }
    return [(name, *steps[name]) for name in STEPS if name in selected]


def _example_copy(folder: Path) -> list[str]:
    """A fresh copy of results/example's records (no index), so the repository is never written to."""
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(EXAMPLE / "runs", folder / "runs")
    return []


def inspect_output(name: str, root: Path, step: dict, log: Path) -> dict:
    """What a step's output holds, to hold against what was written: rows of files and tables, the verdict line."""
    out = root / "out"
    found = {}
    if name == "csv" and (out / "runs.csv").exists():
        with open(out / "runs.csv", newline="") as handle:  # the csv module: a traceback cell spans lines
            found["csv_rows"] = sum(1 for row in csv.reader(handle) if row and not row[0].startswith("#")) - 1
    elif name == "parquet" and (out / "runs.parquet").exists():
        try:
            import pyarrow.parquet as pq

            found["parquet_rows"] = pq.ParquetFile(out / "runs.parquet").metadata.num_rows
        except ImportError:
            found["parquet_rows"] = "pyarrow not installed"
    elif name == "html" and (out / "report.html").exists():
        found["html_mb"] = round((out / "report.html").stat().st_size / 2**20, 2)
    elif name in ("report_cold", "report_warm", "example_report") and step.get("ok"):
        lines = log.read_text(errors="replace").splitlines()[2:]  # below the header and its rule
        found[f"{name}_rows"] = sum(1 for line in lines if line.strip() and not line.startswith(("!", " ")))
    elif name == "compare":
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        found["compare_verdict"] = lines[-1] if lines else None
    elif name == "resume":  # what the dry run says it would do: its last lines, printed or logged
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        lines = lines or [line for line in log.with_suffix(".stderr").read_text(errors="replace").splitlines()]
        found["resume_tail"] = [line[:300] for line in lines[-5:]]
    return found


def expected_counts(manifest: dict) -> dict:
    """What the outputs should hold: a row per run in csv and parquet, a row per cell in the table."""
    return {
        "records": manifest["records"],
        "cells": manifest["grid"]["cells"],
        "regressed_cells_planted": manifest["perturbed"]["regressed_cells_planted"],
        "resume_finished": manifest["grid"]["final_records"],
        "resume_to_train": manifest["records"] - manifest["grid"]["final_records"],
        "example_cells": 6,
    }


# ---------------------------------------------------------------------------
# Targets, the result, the table
# ---------------------------------------------------------------------------


def targets_for(records: int) -> dict:
    """The limits that apply at this scale: the largest tier reached (from 95% of its size) and the example's."""
    tiers = [size for size in TARGETS if records >= 0.95 * size]
    limits = dict(TARGETS[max(tiers)]) if tiers else {}
    limits["example_report_s"] = EXAMPLE_TARGET_S
    return limits


def judge(result: dict, steps: dict) -> dict:
    """Each applicable target: its limit, the value, and whether it was met (None: the step was not run)."""
    judged = {}
    for key, limit in targets_for(result["records"]).items():
        if key == "peak_rss_mb":
            values = [s["peak_rss_mb"] for s in steps.values() if s.get("peak_rss_mb") is not None]
            value = max(values) if values else None
            met = None if not values else value <= limit
        else:
            name = key[: -len("_s")]
            if name not in steps:
                judged[key] = {"limit": limit, "value": None, "met": None}
                continue
            value = result.get(key)
            met = value is not None and value <= limit
        judged[key] = {"limit": limit, "value": value, "met": met}
    return judged


def table(result: dict) -> str:
    grid = result["grid"]
    lines = [
        f"{result['records']:,} records ({grid['cells']:,} cells; statuses {grid['statuses']}); "
        f"generated in {result['generation']['seconds']} s "
        f"({result['generation']['seconds_per_1000_records']} s per 1,000)",
        "",
        f"{'step':<16} {'seconds':>9} {'peak MB':>9} {'target':>9}  status",
    ]
    for name, step in result["steps"].items():
        target = result["targets"].get(f"{name}_s", {}).get("limit")
        seconds = f"{step['wall_s']:.2f}" if step.get("wall_s") is not None else "-"
        rss = f"{step['peak_rss_mb']:.0f}" if step.get("peak_rss_mb") is not None else "-"
        status = "ok" if step.get("ok") else step.get("error", "failed")
        lines.append(f"{name:<16} {seconds:>9} {rss:>9} {target if target is not None else '':>9}  {status}")
    lines.append("")
    lines.append(f"checks: {json.dumps(result['checks'])}")
    return "\n".join(lines)


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def arguments(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=1000, help="runs to write (the grid is sized to about this many)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    p.add_argument("--keep", metavar="DIR", help="write into DIR (new or empty) and keep it, for --reuse")
    p.add_argument("--reuse", metavar="DIR", help="time the records a --keep run left in DIR; generate nothing")
    p.add_argument("--timeout-s", type=float, default=900.0, help="per step; past it the step is timed out")
    p.add_argument("--steps", default=",".join(STEPS), help=f"comma list of steps (default all: {','.join(STEPS)})")
    p.add_argument("--writers", type=int, default=2, help="processes writing records (default 2)")
    args = p.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(args.steps) - set(STEPS))
    if unknown:
        p.error(f"unknown steps {', '.join(unknown)}; steps: {', '.join(STEPS)}")
    if args.keep and args.reuse:
        p.error("--keep writes a new folder, --reuse reads one: give one of them (a reused folder is kept)")
    if args.records < 6:
        p.error("--records: at least 6 (the smallest grid: 3 models x 2 seeds)")
    return args


def _folder(args) -> tuple[Path, bool]:
    """Where the records go, and whether to keep it afterwards."""
    if args.reuse:
        root = Path(args.reuse).resolve()
        if not (root / MANIFEST).is_file():
            raise SystemExit(f"{root} has no {MANIFEST}: not a folder written by report_scale.py --keep")
        return root, True
    if args.keep:
        root = Path(args.keep).resolve()
        if root.exists() and any(root.iterdir()):
            raise SystemExit(f"{root} is not empty: --keep writes a new folder (use --reuse {root} to time it again)")
        root.mkdir(parents=True, exist_ok=True)
        return root, True
    return Path(tempfile.mkdtemp(prefix="harness-report-scale-")), False


def _check_disk(root: Path, records: int) -> None:
    need = records * 2 * 10_000  # two copies of at most ~10 KB a record
    free = shutil.disk_usage(root).free
    if need > free * 0.9:
        raise SystemExit(f"{records:,} records need about {need / 1e9:.1f} GB; {root} has {free / 1e9:.1f} GB free")


def main(argv=None) -> int:
    args = arguments(argv)
    root, keep = _folder(args)
    try:
        if args.reuse:
            manifest = json.loads((root / MANIFEST).read_text())
            _note(f"reusing {manifest['records']:,} records in {root}")
        else:
            _check_disk(root, args.records)
            manifest = generate(root, args.records, args.writers)
            manifest["requested"] = args.records
            (root / MANIFEST).write_text(json.dumps(manifest, indent=1))
        for folder in ("out", "logs"):  # outputs of an earlier invocation of a reused folder go
            shutil.rmtree(root / folder, ignore_errors=True)
            (root / folder).mkdir()
        steps, found = {}, {}
        for name, command, before in plan_steps(root, args.steps):
            removed = before() if before else None
            _note(f"step {name}: {' '.join(command[1:])}")
            before_step = side_files(root, READS.get(name, ("base",)))
            steps[name] = run_step(name, command, root / "logs", args.timeout_s)
            after_step = side_files(root, READS.get(name, ("base",)))
            steps[name]["index_found"] = sorted(before_step)
            steps[name]["index_written"] = sorted(k for k, v in after_step.items() if before_step.get(k) != v)
            found.update(inspect_output(name, root, steps[name], root / "logs" / f"{name}.stdout"))
            if removed:
                steps[name]["index_files_removed"] = removed[:20]
            _note(f"  {steps[name]['wall_s']} s, {steps[name]['peak_rss_mb']} MB, {steps[name].get('error', 'ok')}")
        result = assemble(manifest, steps, found, root, keep)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)
    return emit(result, table(result), args.json, args.check)


def assemble(manifest: dict, steps: dict, found: dict, root: Path, keep: bool) -> dict:
    result = {
        "records": manifest["records"],
        "records_requested": manifest.get("requested"),
        "grid": manifest["grid"],
        "perturbed": manifest["perturbed"],
        "generation": manifest["generation"],
        "machine": machine(),
        "folder": str(root) if keep else None,
        "peak_rss_mb": {name: step.get("peak_rss_mb") for name, step in steps.items()},
        "errors": {name: step["error"] for name, step in steps.items() if not step.get("ok")},
        "steps": steps,
    }
    for name in STEPS:
        step = steps.get(name)
        result[f"{name}_s"] = step["wall_s"] if step and step.get("ok") else None
    result["checks"] = {"expected": expected_counts(manifest), "found": found}
    result["targets"] = judge(result, steps)
    result["targets_met"] = all(t["met"] is not False for t in result["targets"].values())
    return result


if __name__ == "__main__":
    sys.exit(main())
