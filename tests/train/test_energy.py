"""Energy from the hardware's counters (NVML, RAPL), against fake counters: wrap-around, permissions, absence."""

import time
from types import SimpleNamespace

import pytest

import harness
from harness.train import energy
from harness.train.energy import EnergyMeter, NvmlCounter, PowerSampler, RaplCounter, Unavailable


def _rapl(root, packages: dict[int, tuple[int, int]]):
    """A fake powercap tree: package index -> (energy_uj, max_energy_range_uj), plus a subzone to be ignored."""
    for index, (value, limit) in packages.items():
        zone = root / f"intel-rapl:{index}"
        zone.mkdir(parents=True)
        (zone / "energy_uj").write_text(f"{value}\n")
        (zone / "max_energy_range_uj").write_text(f"{limit}\n")
        sub = root / f"intel-rapl:{index}:0"  # a core subzone: counted inside its package already
        sub.mkdir()
        (sub / "energy_uj").write_text("999999\n")
    return root


def test_rapl_sums_packages_and_survives_a_wrap_around(tmp_path):
    root = _rapl(tmp_path, {0: (1_000_000, 10_000_000), 1: (9_500_000, 10_000_000)})
    counter = RaplCounter(root)
    (root / "intel-rapl:0" / "energy_uj").write_text("3000000")  # +2 J
    (root / "intel-rapl:1" / "energy_uj").write_text("499999")  # wrapped: +1 J (10,000,001 values per turn)
    assert counter.joules() == pytest.approx(3.0)
    (root / "intel-rapl:1" / "energy_uj").write_text("1499999")  # +1 J more
    assert counter.joules() == pytest.approx(4.0)


def test_rapl_says_why_it_cannot_be_read(tmp_path, monkeypatch):
    with pytest.raises(Unavailable, match="no RAPL package counter under"):
        RaplCounter(tmp_path / "none")
    root = _rapl(tmp_path / "locked", {0: (5, 100)})
    real = energy.Path.read_text

    def deny(path, *args, **kwargs):
        if path.name == "energy_uj":
            raise PermissionError(13, "Permission denied")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(energy.Path, "read_text", deny)
    with pytest.raises(Unavailable, match="energy_uj is readable by root only"):
        RaplCounter(root)


class FakeNvml:
    """pynvml's calls the counter uses; ``energy_mj`` None: a GPU without the total-energy counter."""

    class NVMLError(Exception):
        pass

    def __init__(self, energy_mj=1000, power_mw=200_000, opens=True):
        self.energy_mj, self.power_mw, self.opens = energy_mj, power_mw, opens

    def nvmlInit(self):
        if not self.opens:
            raise self.NVMLError("Driver Not Loaded")

    def nvmlDeviceGetHandleByIndex(self, index):
        return SimpleNamespace(index=index)

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy_mj is None:
            raise self.NVMLError("Not Supported")
        return self.energy_mj

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power_mw


def test_nvml_reads_its_total_energy_counter():
    nvml = FakeNvml(energy_mj=5_000)
    counter = NvmlCounter(0, nvml)
    nvml.energy_mj = 12_500
    assert counter.source == "nvml" and counter.joules() == pytest.approx(7.5)
    nvml.energy_mj = 100  # the driver was reloaded: the run's energy is void, not negative
    with pytest.raises(Unavailable, match="went backwards"):
        counter.joules()


def test_a_gpu_without_the_counter_integrates_its_power_draw():
    counter = NvmlCounter(0, FakeNvml(energy_mj=None, power_mw=250_000))
    try:
        time.sleep(0.35)
        joules = counter.joules()
    finally:
        counter.close()
    assert counter.source == "nvml-power-samples" and joules == pytest.approx(250 * 0.35, rel=0.3)


def test_nvml_that_cannot_open_the_gpu_says_why():
    with pytest.raises(Unavailable, match="NVML cannot open GPU 0: Driver Not Loaded"):
        NvmlCounter(0, FakeNvml(opens=False))


def test_power_samples_integrate_as_trapezoids():
    clock = iter([0.0, 1.0, 3.0]).__next__
    watts = iter([10.0, 30.0, 30.0]).__next__
    sampler = PowerSampler(watts, interval=60, clock=clock)  # the thread never wakes in this test
    sampler.sample()  # 0 -> 1 s at 10 -> 30 W: 20 J
    assert sampler.joules() == pytest.approx(20.0 + 60.0)  # 1 -> 3 s at 30 W: 60 J
    sampler.stop()


class Ticking:
    """A counter and a clock that advance together: 50 W."""

    source = "fake"

    def __init__(self):
        self.now = 0.0

    def joules(self):
        return 50.0 * self.now

    def clock(self):
        return self.now

    def close(self):
        pass


def test_validation_inside_an_epoch_is_taken_out_of_training():
    ticks = Ticking()
    meter = EnergyMeter(ticks, clock=ticks.clock)
    trainer = SimpleNamespace(sanity_checking=False)
    meter.on_train_epoch_start(trainer, None)
    ticks.now = 4.0
    meter.on_validation_start(trainer, None)  # a Trainer validates inside its epoch
    ticks.now = 5.0
    meter.on_validation_end(trainer, None)
    ticks.now = 6.0
    meter.on_train_epoch_end(trainer, None)
    meter.on_validation_start(trainer, None)  # the Fabric loop validates after it
    ticks.now = 7.0
    meter.on_validation_end(trainer, None)
    found = meter.summary(samples=500)["energy"]
    assert found["train_j"] == pytest.approx(250.0) and found["train_s"] == pytest.approx(5.0)
    assert found["eval_j"] == pytest.approx(100.0) and found["avg_power_w"] == pytest.approx(50.0)
    assert found["samples_per_j"] == pytest.approx(2.0)


def test_a_run_records_energy_where_a_counter_exists_and_why_not_elsewhere(tmp_path, monkeypatch):
    plain = harness.run(models="logreg", datasets="digits", optimizers="sgd", seeds=1, max_epochs=1,
                        launcher="inline", output=tmp_path / "plain")  # fmt: skip
    results = plain.records[0]["results"]
    if "energy" not in results:  # this machine has no readable RAPL: the reason is recorded, no zeros
        assert results["energy_absent"]
    root = _rapl(tmp_path / "powercap", {0: (0, 2**40)})
    start = time.perf_counter()
    monkeypatch.setattr(energy, "POWERCAP", root)
    monkeypatch.setattr(RaplCounter, "_read", staticmethod(lambda path: int((time.perf_counter() - start) * 30e6)))
    run = harness.run(models="logreg", datasets="digits", optimizers="sgd", seeds=1, max_epochs=3,
                      launcher="inline", output=tmp_path / "rapl")  # fmt: skip
    found = run.records[0]["results"]["energy"]
    assert found["source"] == "rapl" and found["avg_power_w"] == pytest.approx(30.0, rel=0.05)
    assert found["train_j"] > 0 and found["eval_j"] > 0 and found["samples_per_j"] > 0
    table = harness.report(tmp_path / "rapl")
    assert "train J" in table and "samples/J" in table and "energy not measured" not in table
    assert "digits: metric vs energy" in harness.report(tmp_path / "rapl", format="html")
    if "energy" not in results:
        assert f"energy not measured: {results['energy_absent']}" in harness.report(tmp_path / "plain")
