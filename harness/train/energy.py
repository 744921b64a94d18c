"""Energy a run uses, from the hardware's own counters: NVML on NVIDIA GPUs, RAPL on CPUs.

Two runs at the same accuracy can differ several times over in energy, and
samples per joule is what a data centre pays for. Each source is a counter
read at the start and end of each training epoch, and of each validation
pass apart (a few reads per epoch: nothing per step):

- **NVML's total-energy counter** (``nvmlDeviceGetTotalEnergyConsumption``,
  millijoules since the driver loaded; Volta and later), through
  ``nvidia-ml-py``. Where a GPU has no such counter, its power draw is
  sampled every :data:`POWER_SAMPLE_S` in a thread and integrated, and the
  record says so (``source`` ``nvml-power-samples``).
- **RAPL** (``/sys/class/powercap/intel-rapl:N/energy_uj``, one per CPU
  package, AMD's too on recent kernels): microjoules that wrap around at
  ``max_energy_range_uj``, handled. Since Linux 5.10 the files are readable
  by root only, so a run often cannot read them: the reason is recorded.

Where there is no counter the fields are absent, never zero, and
``energy_absent`` says why, so a table can say it too.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

#: Where Linux exposes RAPL's counters.
POWERCAP = Path("/sys/class/powercap")
#: Seconds between two power samples where a GPU has no energy counter.
POWER_SAMPLE_S = 0.1


class Unavailable(Exception):
    """This machine has no energy counter a run can read; the message says why."""


class RaplCounter:
    """The CPU packages' RAPL energy, in joules, summed over packages; wrap-around of each counter handled."""

    source = "rapl"

    def __init__(self, root: Path | None = None):
        root = POWERCAP if root is None else Path(root)
        zones = sorted(p for p in root.glob("intel-rapl:*") if p.name.count(":") == 1)  # packages, not subzones
        if not zones:
            raise Unavailable(f"no RAPL package counter under {root} (not an Intel or recent AMD CPU, or a VM)")
        self.zones = []
        for zone in zones:
            try:
                limit = int((zone / "max_energy_range_uj").read_text())
                int((zone / "energy_uj").read_text())
            except PermissionError:
                raise Unavailable(f"{zone / 'energy_uj'} is readable by root only (Linux 5.10 and later)") from None
            except (OSError, ValueError) as exc:
                raise Unavailable(f"{zone / 'energy_uj'} cannot be read: {exc}") from None
            self.zones.append((zone / "energy_uj", limit))
        self._last = [self._read(path) for path, _ in self.zones]
        self._total_uj = 0

    @staticmethod
    def _read(path: Path) -> int:
        return int(path.read_text())

    def joules(self) -> float:
        """Energy since this counter was made; every package's wrap-around since the last read added back."""
        for index, (path, limit) in enumerate(self.zones):
            now = self._read(path)
            before = self._last[index]
            self._total_uj += now - before if now >= before else now + limit + 1 - before
            self._last[index] = now
        return self._total_uj / 1e6

    def close(self) -> None:
        pass


class NvmlCounter:
    """One GPU's energy through NVML, in joules: its total-energy counter, else integrated power samples."""

    def __init__(self, index: int, nvml=None):
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError:
                raise Unavailable("nvidia-ml-py is not installed (pip install nvidia-ml-py)") from None
        self.nvml = nvml
        try:
            nvml.nvmlInit()
            self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        except nvml.NVMLError as exc:
            raise Unavailable(f"NVML cannot open GPU {index}: {exc}") from None
        self._sampler = None
        try:
            self._start_mj = nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
            self.source = "nvml"
        except nvml.NVMLError:  # older than Volta: no counter, so integrate the power draw
            self._start_mj = None
            self.source = "nvml-power-samples"
            self._sampler = PowerSampler(lambda: nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0)

    def joules(self) -> float:
        if self._sampler is not None:
            return self._sampler.joules()
        now = self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle)
        if now < self._start_mj:
            raise Unavailable("NVML's energy counter went backwards (the driver was reloaded)")
        return (now - self._start_mj) / 1000.0

    def close(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()


class PowerSampler:
    """Integrates a power reading (watts) over time, sampled in a daemon thread (trapezoids between samples)."""

    def __init__(self, watts, interval: float = POWER_SAMPLE_S, clock=time.perf_counter):
        self.watts, self.interval, self.clock = watts, interval, clock
        self._lock = threading.Lock()
        self._total = 0.0
        self._last = (clock(), float(watts()))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="harness-power", daemon=True)
        self._thread.start()

    def sample(self) -> None:
        now, power = self.clock(), float(self.watts())
        with self._lock:
            then, before = self._last
            self._total += (now - then) * (power + before) / 2
            self._last = (now, power)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.sample()
            except Exception:  # a failing reading leaves the total as it was
                return

    def joules(self) -> float:
        self.sample()
        with self._lock:
            return self._total

    def stop(self) -> None:
        self._stop.set()


def counter_for(device) -> tuple[object | None, str | None]:
    """``(counter, None)`` for ``device`` (a torch device), or ``(None, why there is none)``."""
    try:
        if device.type == "cuda":
            import torch

            index = device.index if device.index is not None else torch.cuda.current_device()
            return NvmlCounter(index), None
        if device.type == "cpu":
            return RaplCounter(), None
        return None, f"no energy counter is read on {device.type} devices"
    except Unavailable as exc:
        return None, str(exc)


class EnergyMeter:
    """A measuring callback: joules of the training epochs and of the validation passes, apart.

    A Lightning ``Trainer`` validates inside its training epoch, the Fabric loop after it: the energy
    and time of a validation inside an epoch are taken out of that epoch's. ``sync`` (CUDA) waits for
    the device before a read, so queued work is counted where it ran.
    """

    def __init__(self, counter, sync=None, clock=time.perf_counter):
        self.counter, self.sync, self.clock = counter, sync, clock
        self.train_j = self.eval_j = self.train_s = 0.0
        self._epoch: tuple[float, float] | None = None
        self._validation: tuple[float, float] | None = None
        self._inside = (0.0, 0.0)  # energy and time of the validations inside the running epoch
        self.failed: str | None = None

    def _read(self) -> tuple[float, float] | None:
        if self.failed:
            return None
        if self.sync is not None:
            self.sync()
        try:
            return self.counter.joules(), self.clock()
        except Exception as exc:  # a counter that fails mid-run voids the run's energy, not the run
            self.failed = f"the {getattr(self.counter, 'source', 'energy')} counter failed: {exc}"
            return None

    def on_train_epoch_start(self, trainer, pl_module):
        self._epoch, self._inside = self._read(), (0.0, 0.0)

    def on_validation_start(self, trainer, pl_module):
        self._validation = self._read()

    def on_validation_end(self, trainer, pl_module):
        start, self._validation = self._validation, None
        if trainer.sanity_checking or start is None or (now := self._read()) is None:
            return
        joules, seconds = now[0] - start[0], now[1] - start[1]
        self.eval_j += joules
        if self._epoch is not None:
            self._inside = (self._inside[0] + joules, self._inside[1] + seconds)

    def on_train_epoch_end(self, trainer, pl_module):
        start, self._epoch = self._epoch, None
        if start is None or (now := self._read()) is None:
            return
        self.train_j += now[0] - start[0] - self._inside[0]
        self.train_s += now[1] - start[1] - self._inside[1]

    def summary(self, samples: int) -> dict:
        """The record's ``energy`` entry (``samples`` trained in the measured epochs), or why it has none."""
        self.counter.close()
        if self.failed or self.train_s <= 0:
            return {"energy_absent": self.failed or "no training epoch was measured"}
        energy = {
            "source": self.counter.source,
            "train_j": self.train_j,
            "eval_j": self.eval_j,
            "train_s": self.train_s,
            "avg_power_w": self.train_j / self.train_s,
            "samples_per_j": samples / self.train_j if self.train_j > 0 else None,
        }
        return {"energy": energy}


__all__ = ["EnergyMeter", "NvmlCounter", "PowerSampler", "RaplCounter", "Unavailable", "counter_for"]
