"""A pool worker starts with torch and the runner only: what only some runs need is imported by the runs that need it.

Each test runs the pool's real worker entry point (:func:`harness.launch.local.worker_main`) in a fresh
interpreter, with a stand-in for its pipe that records which modules the process holds when the worker says
it is ready, and after it has trained a tiny run. Importing Lightning (with ``torch._dynamo`` and torchmetrics,
which bring scipy.signal and transformers) once took a worker about 4 s of its 6 s start-up on a 2-core machine.
The digits dataset's splits, made by scikit-learn (which imports scipy and pandas), are cached, so a worker's
digits run imports neither once the cache holds them; the cached arrays are scikit-learn's, bit for bit.
"""

import json
import subprocess
import sys

import pytest
import torch

#: Never imported by a worker's start-up.
NOT_AT_START = (
    "pytorch_lightning",
    "lightning_fabric",
    "torchmetrics",
    "torch._dynamo",
    "transformers",
    "scipy",
    "sympy",
)
#: Never imported by a tiny run of a plain model at 32-bit precision on one device (torch.optim's own use of
#: torch._dynamo aside: every optimizer step imports it).
NOT_FOR_A_PLAIN_RUN = ("pytorch_lightning", "lightning_fabric", "torchmetrics", "transformers", "scipy")

PROBE = """
import json, os, sys
from harness.config import expand, make_suite
from harness.launch.local import worker_main
from harness.launch.machine import Threads
from harness.manager import PluginOrigin
from harness.registry import load_registry

WATCHED = json.loads(sys.argv[1])
RUNS = json.loads(sys.argv[2])


class Pipe:
    '''What the worker sends is noted; what it receives is RUNS, then the notice to stop.'''

    def __init__(self):
        self.runs = list(RUNS)

    def send(self, message):
        kind, payload = message
        if kind in ("ready", "done"):
            held = [name for name in WATCHED if name in sys.modules]
            print(json.dumps({"at": kind, "held": held, "status": (payload or {}).get("status"),
                              "runner": "harness.train.runner" in sys.modules}), flush=True)
        elif kind == "error":
            print(json.dumps({"at": "error", "why": payload}), flush=True)

    def recv(self):
        if not self.runs:
            return None
        (config,), _ = expand(make_suite(self.runs.pop(0)), registry)
        return config


registry = load_registry()  # the parent's, to expand the runs handed to the worker
worker_main(Pipe(), PluginOrigin(), None, os.getppid(), Threads(1, "option"))
"""


def _worker(watched, runs=()) -> dict:
    """What the worker held at each message: ``{"ready": {...}, "done": {...}}``."""
    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(watched), json.dumps(list(runs))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    seen = {}
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            message = json.loads(line)
            assert message["at"] != "error", message["why"]
            seen[message["at"]] = message
    return seen


def test_a_worker_is_ready_without_lightning_torchmetrics_dynamo_scipy_or_transformers():
    ready = _worker(NOT_AT_START)["ready"]
    assert ready["runner"], "the worker must have imported the runner before it says it is ready"
    assert ready["held"] == [], f"a worker's start-up imported {ready['held']}"


@pytest.mark.parametrize("dataset", ["synthetic-image[shape=[1,8,8],train_size=64,val_size=16,test_size=16]", "digits"])
def test_a_plain_run_imports_no_lightning_torchmetrics_scipy_or_transformers(dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))  # the worker's too
    if dataset == "digits":
        from harness_vision.digits import load_digits

        load_digits()  # scikit-learn (with scipy) makes the splits once; later processes read them from the cache
    tiny = {"models": "logreg", "datasets": dataset, "optimizers": "sgd", "seeds": 1, "max_epochs": 1}
    done = _worker(NOT_FOR_A_PLAIN_RUN, runs=[tiny])["done"]
    assert done["status"] == "ok"
    assert done["held"] == [], f"a plain 32-bit run imported {done['held']}"


@pytest.mark.parametrize(
    "params", [{}, {"val_fraction": 0}, {"val_fraction": 0.1, "test_fraction": 0.3, "split_seed": 2}]
)
def test_digits_splits_from_the_cache_are_scikit_learns_bit_for_bit(tmp_path, monkeypatch, params):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    from harness_vision import digits

    full = {"val_fraction": 0.2, "test_fraction": 0.2, "split_seed": 0, **params}
    made = digits.make_splits(**full)
    first = digits.load_digits(**params)  # made by scikit-learn and cached
    assert digits.cache_path(**full).exists()
    again = digits.load_digits(**params)  # read back from the cache
    for splits in (first, again):
        assert (splits.val is None) == ("val_x" not in made)
        for name in ("train", "val", "test"):
            if getattr(splits, name) is None:
                continue
            x, y = getattr(splits, name)
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            assert torch.equal(x, torch.from_numpy(made[f"{name}_x"])) and torch.equal(
                y, torch.from_numpy(made[f"{name}_y"])
            )
