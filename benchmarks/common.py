"""Shared bits of the benchmark scripts: repeats, medians, tables and the --json switch."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--repeats", type=int, default=5, help="repeats of each measurement")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a target is missed")
    return p


def median(values):
    return statistics.median(values) if values else None


def machine() -> dict:
    """Where the numbers came from."""
    info = {"python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    return info


def emit(result: dict, table: str, as_json: bool, check: bool) -> int:
    """Print the table (or the JSON object); the exit status says whether every target was met."""
    if as_json:
        print(json.dumps(result, indent=1, sort_keys=True, default=str))
    else:
        print(table)
        verdict = "all targets met" if result.get("targets_met") else "TARGET MISSED"
        print(f"\n{verdict}", file=sys.stderr)
    return 0 if (result.get("targets_met") or not check) else 1
