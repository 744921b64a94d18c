"""At 32-bit precision on one device the Fabric loop trains without Lightning, exactly as it did through Fabric."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from harness.specs import DatasetInfo
from harness.train import engine
from harness.train.batches import TensorBatches
from harness.train.engine import FabricLoop
from harness.train.measure import LossWatch, ThroughputMeter, ValidationCurve
from harness.train.tasks import wrap

INFO = DatasetInfo(task="classification", modality="tabular", input_shape=(6,), num_classes=7)


def _train(seed: int = 0):
    """A small task trained two epochs with validation and a test: its weights, losses, curve and test scores."""
    torch.manual_seed(seed)
    data = (torch.randn(96, 6), torch.randint(0, 7, (96,)))
    module = wrap(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 7)), INFO)
    meter, losses = ThroughputMeter(0), LossWatch()
    curve = ValidationCurve("accuracy", "max", meter)
    loop = FabricLoop(torch.device("cpu"), "32-true", max_epochs=2, max_steps=-1, callbacks=[meter, curve, losses])
    loop.fit(
        module,
        lambda steps: (torch.optim.Adam(module.parameters(), lr=0.01), None),
        TensorBatches(data, 16, shuffle=True, seed=seed),
        TensorBatches(data, 32),
    )
    tested = loop.test(module, TensorBatches(data, 32))
    weights = {name: p.detach().clone() for name, p in module.named_parameters()}
    return loop, weights, losses.epoch_losses, [(p["val_metric"], p["val_loss"]) for p in curve.curve], tested


def test_plain_32_bit_runs_train_as_they_did_through_fabric_bit_for_bit(monkeypatch):
    plain_loop, *plain = _train()
    assert type(plain_loop.precision).__name__ == "_PlainPrecision"
    monkeypatch.setattr(engine, "PLAIN_PRECISIONS", ())  # every precision through Fabric, as before
    fabric_loop, *fabric = _train()
    assert type(fabric_loop.precision).__name__ == "_FabricPrecision"
    weights, other_weights = plain[0], fabric[0]
    assert weights.keys() == other_weights.keys()
    assert all(torch.equal(weights[name], other_weights[name]) for name in weights)
    assert plain[1:] == fabric[1:]  # epoch losses, validation curve, test scores: the same floats


def test_other_precisions_still_take_fabrics_plugin():
    loop = FabricLoop(torch.device("cpu"), "bf16-mixed", max_epochs=1, max_steps=-1)
    assert type(loop.precision).__name__ == "_FabricPrecision"
    assert loop.precision.plugin.precision == "bf16-mixed"


@pytest.mark.parametrize("variable", ["LT_PRECISION", "LT_ACCELERATOR"])
def test_fabrics_command_line_variables_leave_the_choice_to_fabric(monkeypatch, variable):
    monkeypatch.setenv(variable, {"LT_PRECISION": "32-true", "LT_ACCELERATOR": "cpu"}[variable])
    assert type(engine.precision_for(torch.device("cpu"), "32-true")).__name__ == "_FabricPrecision"


QUIET_PROBE = """
import harness
from harness.registry import load_registry
import harness.train.runner  # before Lightning, as in a pool worker: the run imports Lightning itself
result = harness.run(launcher="inline", output=__import__("sys").argv[1], registry=load_registry(), models="mlp",
                     datasets="synthetic-image[shape=[1,8,8],train_size=64,val_size=16,test_size=16]",
                     optimizers="sgd", seeds=1, max_epochs=1, precision="bf16-mixed")
assert result.records[0]["status"] == "ok", result.records[0]["reason"]
"""


def test_a_run_that_imports_lightning_keeps_its_loggers_quiet(tmp_path):
    """Lightning's import sets its loggers to INFO; the run that imports it must not let it announce its precision."""
    out = subprocess.run(
        [sys.executable, "-c", QUIET_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Automatic Mixed Precision" not in out.stderr + out.stdout
