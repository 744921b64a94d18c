"""Every GPU path of the harness, run once on a real accelerator, in one budgeted script (issue 17).

A GPU machine is lent for minutes, not hours, so this script is the whole visit: each step runs in a
subprocess with its own time limit, writes what it found under ``--out``, and a failing step never
stops the next. At the end ``gpu-check.json`` holds every step's status, wall time and the numbers
that matter (throughput ratios, MFU, peak memory, compile time, the batch size an out-of-memory
retry reached, energy), with the device named.

Steps (``--only a,b`` runs some):

- ``overhead``: ``benchmarks/overhead.py --device cuda``: the harness beside a hand-written loop and a
  timm-style loop, CNN and ResNet-50 at bf16-mixed and channels-last (target >= 0.98x), with MFU.
- ``default``: the default suite on CUDA (accelerator choice, synchronised timing, CUDA peak memory,
  NVML energy when ``nvidia-ml-py`` is there).
- ``bf16``: a run at ``--precision bf16-mixed --channels-last``.
- ``oom``: a batch too big for the device with ``--oom-retry``: the records show the retries halving
  the batch until one fits.
- ``compile``: ``--compile`` on CUDA, compile time recorded apart.
- ``ray``: the Ray launcher on the one GPU (skipped, saying so, without Ray).
- ``workers``: ``-j 2`` on one GPU, each worker given the GPU through ``CUDA_VISIBLE_DEVICES``.

``--device cpu --quick`` runs the same plumbing on a CPU with tiny sizes (how it is tested here).

    python benchmarks/gpu_check.py --out benchmarks/gpu-check            # on the GPU machine, ~8 minutes
    python benchmarks/gpu_check.py --device cpu --quick --out /tmp/check  # the plumbing, on a CPU
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Each step: (seconds it may take on the GPU, its command line as a function of the settings).
IMAGE = "synthetic-image[shape=[3,64,64],train_size=8192,val_size=512,test_size=512]"
HUGE = "synthetic-image[shape=[3,224,224],train_size=512,val_size=64,test_size=64]"


def _harness(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def steps(device: str, quick: bool, out: Path) -> dict[str, tuple[int, list[str]]]:
    """The steps' time limits and commands; ``quick`` shrinks every size for a CPU dry run."""
    accel = ["--accelerator", device]
    image = "synthetic-image[shape=[3,16,16],train_size=256,val_size=64,test_size=64]" if quick else IMAGE
    epochs = ["--max-epochs", "1" if quick else "3"]
    oom_batch = "64" if quick else "16384"  # 224x224 ResNet-20 activations at 16k: far past any GPU's memory
    overhead = [sys.executable, str(ROOT / "benchmarks" / "overhead.py"), "--device", device, "--json"]
    overhead += ["--repeats", "1", "--workloads", "tiny_mlp"] if quick else ["--repeats", "2"]
    return {
        "overhead": (600 if quick else 240, overhead),  # on a shared CPU the tiny loop alone takes minutes
        "default": (90, _harness("run", *accel, "--seeds", "1" if quick else "3", *(epochs if quick else []),
                                 "--output", str(out / "default"))),
        "bf16": (60, _harness("run", *accel, "-m", "cnn", "-d", image, "-o", "adamw", "--seeds", "1", *epochs,
                              "--precision", "bf16-mixed", "--channels-last", "--output", str(out / "bf16"))),
        "oom": (90, _harness("run", *accel, "-m", "resnet", "-d", image if quick else HUGE, "-o", "sgd",
                             "--seeds", "1", "--max-steps", "3", "--batch-size", oom_batch, "--oom-retry",
                             "--output", str(out / "oom"))),
        "compile": (300 if quick else 120, _harness("run", *accel, "-m", "cnn", "-d", image, "-o", "adam", "--seeds",
                                                   "1", *epochs, "--compile", "--output", str(out / "compile"))),
        "ray": (90, _harness("run", *accel, "--launcher", "ray", "-j", "1", "-m", "mlp", "-d", "digits", "-o", "adam",
                             "--seeds", "1", *epochs, "--output", str(out / "ray"))),
        "workers": (90, _harness("run", *accel, "-j", "2", "-m", "mlp,logreg", "-d", "digits", "-o", "adam",
                                 "--seeds", "1", *epochs, "--output", str(out / "workers"))),
    }  # fmt: skip


def run_step(name: str, limit: int, command: list[str], out: Path) -> dict:
    """Run one step with its time limit; its output goes to ``<out>/<name>.log``."""
    if name == "ray" and not _importable("ray"):
        return {"status": "skipped", "reason": "ray is not installed here"}
    started = time.perf_counter()
    log = out / f"{name}.log"
    try:
        with open(log, "w") as handle:
            done = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, timeout=limit, cwd=ROOT)
        status = "ok" if done.returncode == 0 else f"exit {done.returncode}"
    except subprocess.TimeoutExpired:
        status = f"timed out after {limit} s"
    return {"status": status, "wall_s": round(time.perf_counter() - started, 1), "log": log.name}


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _records(folder: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((folder / "runs").glob("*.json"))]


def findings(name: str, out: Path) -> dict:
    """The numbers a step's records (or JSON) hold that the GPU check is for."""
    if name == "overhead":
        try:
            text = (out / "overhead.log").read_text()
            result = json.loads(text[text.index("{") :])
        except (OSError, ValueError):
            return {}
        return {
            workload: {
                k: row.get(k)
                for k in ("ratio_vs_fastest_loop", "ratio_vs_timm_loop", "harness_mfu", "timm_mfu", "targets_met")
            }  # fmt: skip
            for workload, row in result.get("workloads", {}).items()
        }
    records = _records(out / name) if (out / name).is_dir() else []
    return {"runs": [_run_summary(record) for record in records]}


def _run_summary(record: dict) -> dict:
    results, provenance = record.get("results") or {}, record.get("provenance") or {}
    config = record.get("config") or {}
    keep = ("test_metric", "samples_per_s", "peak_memory_mb", "memory_kind", "mfu", "compile_time_s", "energy",
            "energy_absent", "engine")  # fmt: skip
    return {
        "model": config.get("model"),
        "status": record.get("status"),
        "reason": record.get("reason"),
        "batch_size": config.get("batch_size"),
        "retried_as": record.get("retried_as"),
        "device": provenance.get("device"),
        "precision": config.get("precision"),
        **{k: results.get(k) for k in keep if k in results},
    }


def device_name(device: str) -> str:
    if device != "cuda":
        import platform

        return platform.processor() or platform.machine()
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cuda requested, none available"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu with --quick, to test the plumbing")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, measures nothing")
    parser.add_argument("--only", help="comma list of steps (default: all)")
    parser.add_argument("--out", default="benchmarks/gpu-check", help="folder for the logs, records and JSON")
    args = parser.parse_args()
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    plan = steps(args.device, args.quick, out)
    chosen = args.only.split(",") if args.only else list(plan)
    unknown = sorted(set(chosen) - set(plan))
    if unknown:
        parser.error(f"unknown step(s) {', '.join(unknown)}; steps: {', '.join(plan)}")
    report = {"device": device_name(args.device), "quick": args.quick, "python": sys.version.split()[0], "steps": {}}
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    for name in chosen:
        limit, command = plan[name]
        print(f"{name}: {' '.join(command[2:] if command[1] == '-m' else command[1:])}", flush=True)
        step = run_step(name, limit, command, out)
        step |= findings(name, out) if step["status"] != "skipped" else {}
        report["steps"][name] = step
        print(f"  -> {step['status']} ({step.get('wall_s', 0)} s)", flush=True)
        (out / "gpu-check.json").write_text(json.dumps(report, indent=1, default=str) + "\n")  # kept step by step
    failed = [name for name, step in report["steps"].items() if step["status"] not in ("ok", "skipped")]
    print(f"\n{out / 'gpu-check.json'}: {len(chosen) - len(failed)} of {len(chosen)} steps ok or skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
