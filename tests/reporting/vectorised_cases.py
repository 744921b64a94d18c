"""Runs frames for the golden tests of issue 13 (tests/reporting/test_vectorised.py): hand-made ones, the
example results, and seeded random ones with every kind of gap and bad value a record can bring.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pandas as pd

from harness.reporting.frames import runs_frame
from harness.store import Store
from tests.records import make_record

EXAMPLE = Path(__file__).resolve().parents[2] / "results" / "example"

LOADED = "load 3.2 > 2 cores"
JITTERY = "step-time CV 0.8 > 0.5"


def timing(*reasons) -> dict:
    """``results["timing"]`` as the runner writes it, disturbed for ``reasons``."""
    return {"load_start": 0.4, "cores": 2, "step_time_cv": 0.1, "disturbed": list(reasons)}


def tuned(record: dict, trials: int) -> dict:
    record["tuning"] = {"trials": trials}
    return record


def contest() -> list[dict]:
    """Models and optimizers in shared workloads: ties (equal, and equal to 12 digits), a min metric, failures,
    targets reached by some seeds, a lone cell, too few seeds to test."""
    records = []
    cells = {
        ("mlp", "sgd", 0.1): [0.91, 0.92, 0.93],
        ("mlp", "adam", 0.1): [0.92, 0.92, 0.92],
        ("mlp", "adam", 0.01): [0.95, 0.951, 0.949],
        ("cnn", "sgd", 0.1): [0.92 * (1 + 1e-13), 0.92, 0.92],
        ("cnn", "adam", 0.1): [0.7],
        ("cnn", "rmsprop", 0.1): [0.95, 0.949, 0.951, 0.95],
    }
    for (model, optimizer, lr), values in cells.items():
        for seed, value in enumerate(values):
            seconds = None if seed == 2 else 1.0 + seed + lr
            records.append(
                make_record(
                    model=model,
                    optimizer=optimizer,
                    lr=lr,
                    seed=seed,
                    metric_value=value,
                    target=0.9,
                    time_to_target_s=seconds,
                )  # fmt: skip
            )
    records.append(make_record(model="mlp", optimizer="sgd", seed=3, status="failed", target=0.9))
    records.append(make_record(model="mlp", optimizer="sgd", lr=0.1, seed=4, status="diverged", target=0.9))
    regression = {("mlp", "sgd"): [50.0, 51.0, 49.0], ("mlp", "adam"): [40.0, 40.5, 39.5], ("cnn", "adam"): [45.0]}
    for (model, optimizer), values in regression.items():
        for seed, value in enumerate(values):
            records.append(make_record(model=model, optimizer=optimizer, seed=seed, metric_value=value, mode="min"))
    return records


def labels_alike() -> list[dict]:
    """Cells that render the same labels (a settings column), devices, tuned cells, memory kinds, failures only."""
    records = [make_record(seed=s, max_epochs=e, metric_value=0.8 if e == 5 else 0.95) for e in (20, 5) for s in (0, 1)]
    records += [make_record(seed=1, device="cuda: Test GPU"), make_record(seed=0, lr=0.01)]
    records += [tuned(make_record(model="tuned", seed=s), 12) for s in range(2)]
    records += [make_record(model="gpu", memory_kind="cuda_max_allocated", tokens_per_s=1234.5)]
    records += [
        make_record(model="broken", seed=s, status="failed", reason="RuntimeError: " + "x" * 90) for s in (1, 0)
    ]
    records += [make_record(model="slow", samples_per_s=12.3456, seed=s, time_to_target_s=2.0) for s in range(3)]
    return records


def disturbed(cells: int) -> list[dict]:
    """Cells whose timing was disturbed in some runs (more than MAX_TIMING_LINES cells: one summary line)."""
    records = []
    for cell in range(cells):
        for seed in range(3):
            reasons = [LOADED] if seed == 1 else [JITTERY, LOADED] if seed == 2 and cell % 2 else []
            records.append(make_record(model=f"m{cell}", seed=seed, timing=timing(*reasons), target=0.5))
    return records


def example_frame():
    records, _ = Store(EXAMPLE).load_all()
    return runs_frame(records)


def hand_made_frames() -> dict:
    return {
        "contest": runs_frame(contest()),
        "labels_alike": runs_frame(labels_alike()),
        "disturbed_few": runs_frame(disturbed(2)),
        "disturbed_many": runs_frame(disturbed(7)),
        "example": example_frame(),
        "one_run": runs_frame([make_record()]),
    }


# ---------------------------------------------------------------------------
# Random frames
# ---------------------------------------------------------------------------

STATUSES = ["ok"] * 6 + ["failed", "diverged", "oom", "timeout"]


def random_records(rng: random.Random, cells: int, seeds: tuple[int, int] = (1, 5)) -> list[dict]:
    """Records of ``cells`` random cells: models, optimizers, learning rates and epochs drawn from few values so
    that cells share workloads, labels and metric values (ties)."""
    records = []
    for _ in range(cells):
        mode = rng.choice(["max", "max", "min"])
        config = {
            "model": rng.choice(["mlp", "cnn", "logreg"]),
            "optimizer": rng.choice(["sgd", "adam", "rmsprop"]),
            "dataset": rng.choice(["digits", "wine"]),
            "lr": rng.choice([0.1, 0.01, 0.001]),
            "max_epochs": rng.choice([5, 10]),
            "target": rng.choice([None, 0.9, 0.95]),
            "device": rng.choice(["cpu: Test CPU", "cuda: Test GPU"]),
        }
        for seed in rng.sample(range(max(20, seeds[1])), rng.randint(*seeds)):
            value = rng.choice([0.9, 0.91, 0.95, round(rng.random(), 3), rng.random()])
            results = {
                "samples_per_s": rng.choice([1000.0, 12.5, rng.random() * 1e5]),
                "time_to_target_s": rng.choice([None, 1.0, rng.random() * 10]),
                "train_time_s": rng.random() * 5,
                "timing": timing(*rng.choice([[], [], [LOADED], [JITTERY, LOADED]])),
            }
            record = make_record(
                seed=seed, mode=mode, metric_value=value * (60 if mode == "min" else 1),
                status=rng.choice(STATUSES), **config, **results,
            )  # fmt: skip
            if rng.random() < 0.2:
                tuned(record, rng.randint(1, 30))
            records.append(record)
    rng.shuffle(records)
    return records


def grid_records(learning_rates: int, seeds: int) -> list[dict]:
    """Two models x three optimizers x ``learning_rates`` rates, ``seeds`` runs each, on one dataset with a target:
    one workload, two problems; more rates are more cells in them, more seeds more runs in each cell."""
    records = []
    for model in ("mlp", "cnn"):
        for optimizer in ("sgd", "adam", "rmsprop"):
            for rate in range(learning_rates):
                for seed in range(seeds):
                    spread = (seed * 37 + rate * 11) % 100
                    record = make_record(
                        model=model, optimizer=optimizer, lr=10.0 ** -(1 + rate / 4), seed=seed,
                        metric_value=0.8 + spread / 1000, target=0.85, time_to_target_s=1.0 + spread / 10,
                        status="failed" if spread % 7 == 0 else "ok", timing=timing(*([LOADED] if spread < 3 else [])),
                    )  # fmt: skip
                    records.append(record)
    return records


#: Bad values a column may hold, by kind of column (none makes the row-by-row code raise).
NUMBER_NOISE = [None, math.nan, pd.NA, "0.5", True, False, math.inf, -0.0, 0, 7, 1e-300, 2.5]
COUNT_NOISE = [None, math.nan, 64.0, 32, True, "64", 128.7]
LABEL_NOISE = [None, math.nan, "", "x y", "naïve"]
FLAG_NOISE = [None, math.nan, True, False, 1, 0, "yes", ""]
NOTE_NOISE = [None, math.nan, "", LOADED, f"{LOADED}; {JITTERY}", 5]

MESS = {
    "test_metric": NUMBER_NOISE,
    "samples_per_s": NUMBER_NOISE,
    "tokens_per_s": NUMBER_NOISE,
    "peak_memory_mb": NUMBER_NOISE,
    "train_time_s": NUMBER_NOISE,
    "step_time_median_ms": NUMBER_NOISE,
    "time_to_target_s": NUMBER_NOISE,
    "params": COUNT_NOISE,
    "batch_size": COUNT_NOISE,
    "trials": [None, math.nan, 3, 4.0],
    "target": [None, math.nan, 0.9, 0.95],
    "seed": [None, math.nan, 3, 3.0, 0],
    "status": ["ok", "ok", "failed", "diverged", None],
    "reason": [None, math.nan, "", "boom", "x" * 80],
    "metric": [None, "accuracy", "rmse"],
    "metric_mode": [None, "max", "min", "sideways"],
    "memory_kind": [None, "cpu_rss_growth", "cuda_max_allocated", "other"],
    "device": [None, "cpu", "gpu"],
    "timing_disturbed": FLAG_NOISE,
    "timing_notes": NOTE_NOISE,
}
LABELS = {"model_label": LABEL_NOISE, "dataset_label": LABEL_NOISE, "optimizer_label": LABEL_NOISE}


def messy_frame(seed: int, cells: int = 12, share: float = 0.25, labels: bool = False):
    """:func:`random_records` as a runs frame, then about ``share`` of the values of the :data:`MESS` columns
    (and, with ``labels``, of the labels) replaced by bad ones."""
    rng = random.Random(seed)
    frame = runs_frame(random_records(rng, cells))
    noise = {**MESS, **(LABELS if labels else {})}
    for column, choices in noise.items():
        values = frame[column].astype(object).to_numpy(copy=True)
        for row in range(len(values)):
            if rng.random() < share:
                values[row] = rng.choice(choices)
        frame[column] = pd.Series(values, index=frame.index, dtype=object)
    if frame["status"].eq("ok").sum() == 0:
        frame.loc[frame.index[0], "status"] = "ok"
    return frame


def shuffled(frame, seed: int):
    """The same runs in another order."""
    return frame.iloc[np.random.default_rng(seed).permutation(len(frame))].reset_index(drop=True)
