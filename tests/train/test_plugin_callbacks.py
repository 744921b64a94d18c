"""A plugin whose harness_run_callbacks is broken is named, dropped for the process, and the runs go on without it."""

import pytest

import harness
from harness.api import load_registry
from tests.plugin_factory import write_plugin

SETTINGS = {"models": "logreg", "datasets": "digits", "optimizers": "sgd", "seeds": 2, "max_steps": 3}

BROKEN = {
    "returns_int": ("return 3", "harness_run_callbacks returned int, not a list"),
    "raises": ("return 1 / 0", "harness_run_callbacks raised ZeroDivisionError: division by zero"),
    "holds_a_string": ('return ["not a callback"]', "harness_run_callbacks returned a list holding a str, not a"),
}

GOOD = """
from pytorch_lightning.callbacks import Callback

batches = []


class CountBatches(Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        batches.append(batch_idx)


@hookimpl
def harness_run_callbacks(config):
    return [CountBatches()]
"""


def _broken(body: str) -> str:
    return f"""
calls = []


@hookimpl
def harness_run_callbacks(config):
    calls.append(config.seed)
    {body}
"""


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_a_broken_callbacks_hook_drops_its_plugin_and_the_runs_go_on(tmp_path, capsys, name):
    body, why = BROKEN[name]
    registry = load_registry(
        plugins=[write_plugin(tmp_path, name, body=_broken(body)), write_plugin(tmp_path, "good", body=GOOD)]
    )
    result = harness.run(launcher="inline", output=tmp_path / "results", registry=registry, **SETTINGS)

    assert [r["status"] for r in result.records] == ["ok", "ok"], [r["reason"] for r in result.records]
    assert registry.plugins.pm.get_plugin(name).calls == [0]  # dropped after the first run: not called again
    assert len(registry.plugins.pm.get_plugin("good").batches) == 2 * 3  # the other plugin's callbacks still ran
    for record in result.records:
        assert set(record["provenance"]["dropped_plugins"]) == {name}
        assert record["provenance"]["dropped_plugins"][name].startswith(why)
    warnings = [line for line in capsys.readouterr().err.splitlines() if name in line]
    assert len(warnings) == 1 and "harness_run_callbacks" in warnings[0]


def test_a_working_plugin_is_not_marked(tmp_path):
    registry = load_registry(plugins=[write_plugin(tmp_path, "good", body=GOOD)])
    result = harness.run(launcher="inline", output=tmp_path / "results", registry=registry, **SETTINGS)
    assert all("dropped_plugins" not in r["provenance"] for r in result.records)
    assert len(registry.plugins.pm.get_plugin("good").batches) == 2 * 3
