"""How long `harness --help` takes to start, beside a bare `python -c pass` (the interpreter's own floor).

    python benchmarks/startup.py            # table
    python benchmarks/startup.py --json     # one JSON object

Target (issue 4): `harness --help` <= 0.5 s. It must not import torch or
Lightning; the script checks that too.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import emit, machine, median, parser  # noqa: E402

TARGET_S = 0.5


def _timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def _imports_torch() -> bool:
    probe = "import sys; from harness.cli import main\ntry:\n main(['--help'])\nexcept SystemExit: pass\n"
    probe += "print('torch' in sys.modules or 'pytorch_lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1] == "True"


def main() -> int:
    args = parser(__doc__.splitlines()[0]).parse_args()
    harness = shutil.which("harness") or str(Path(sys.executable).parent / "harness")
    commands = {"python -c pass": [sys.executable, "-c", "pass"], "harness --help": [harness, "--help"]}
    times = {name: [] for name in commands}
    for _ in range(max(args.repeats, 5)):
        for name, command in commands.items():
            times[name].append(_timed(command))
    help_s = median(times["harness --help"])
    imports_torch = _imports_torch()
    result = {
        "machine": machine(),
        "python_startup_s": median(times["python -c pass"]),
        "harness_help_s": help_s,
        "harness_help_best_s": min(times["harness --help"]),
        "imports_torch": imports_torch,
        "targets": {f"harness --help <= {TARGET_S} s": help_s <= TARGET_S, "no torch import": not imports_torch},
    }
    result["targets_met"] = all(result["targets"].values())
    table = "\n".join(
        [
            f"python -c pass   {result['python_startup_s'] * 1000:7.0f} ms (median)",
            f"harness --help   {help_s * 1000:7.0f} ms (median; target <= {TARGET_S * 1000:.0f} ms)",
            f"imports torch    {'yes' if imports_torch else 'no'}",
        ]
    )
    return emit(result, table, args.json, args.check)


if __name__ == "__main__":
    sys.exit(main())
