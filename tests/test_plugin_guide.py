"""The README's plugin guide works as written: its example modules, saved as the files they name, pass the
contract checks of ``harness.testing`` and train through ``harness.run``.

Only the Lion update itself is not in the README (it says where it goes); this test supplies one.
"""

import re
import textwrap
from pathlib import Path

import pytest

import harness
from harness.api import load_registry
from harness.families import FamilyError
from harness.testing import check_plugin

README = Path(__file__).resolve().parent.parent / "README.md"

LION = textwrap.dedent(
    """
    import torch


    class Lion(torch.optim.Optimizer):
        def __init__(self, params, lr, betas, weight_decay):
            super().__init__(params, {"lr": lr, "betas": tuple(betas), "weight_decay": weight_decay})

        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                beta1, beta2 = group["betas"]
                for param in group["params"]:
                    if param.grad is None:
                        continue
                    momentum = self.state[param].setdefault("momentum", torch.zeros_like(param))
                    param.mul_(1 - group["lr"] * group["weight_decay"])
                    param.add_((beta1 * momentum + (1 - beta1) * param.grad).sign(), alpha=-group["lr"])
                    momentum.mul_(beta2).add_(param.grad, alpha=1 - beta2)


    def build_lion(params, lr, betas, weight_decay):
        return Lion(params, lr, betas, weight_decay)
    """
)


def guide_files() -> dict[str, str]:
    """Each Python example of the README's plugin guide whose first line names its file: path -> source."""
    text = README.read_text()
    guide = text[text.index("<!-- plugin-guide:begin -->") : text.index("<!-- plugin-guide:end -->")]
    files = {}
    for block in re.findall(r"```python\n(.*?)```", guide, re.S):
        named = re.match(r"# (\S+\.py)\b", block)
        if named:
            files[named.group(1)] = block
    return files


@pytest.fixture(scope="module")
def guide_plugins(tmp_path_factory, monkeypatch_module):
    root = tmp_path_factory.mktemp("guide")
    for name, source in guide_files().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(source)
    (root / "my_optim" / "lion.py").write_text(LION)
    monkeypatch_module.syspath_prepend(str(root))  # lazy("my_models.nets:...") imports from here
    return [str(root / package) for package in ("my_models", "my_data", "my_optim", "my_zoo")]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_guide_shows_each_kind_with_its_code():
    assert {"my_models/__init__.py", "my_models/nets.py", "my_data/__init__.py", "my_data/sines.py",
            "my_optim/__init__.py", "my_zoo/__init__.py", "tests/test_plugin.py"} <= set(guide_files())  # fmt: skip


def test_the_guide_examples_keep_the_contract(guide_plugins):
    registry = load_registry(plugins=guide_plugins)
    for plugin in ("my_models", "my_data", "my_optim"):
        outcomes = check_plugin(plugin, registry)  # raises listing every failed check
        assert any(name.startswith(("model-", "dataset-", "optimizer-")) for name in outcomes)
        assert "passed" in outcomes[f"plugin-{plugin}-loads"]


def test_the_guide_examples_train(guide_plugins, tmp_path):
    result = harness.run(
        plugins=guide_plugins, models=["wide_mlp", "mlp_regressor"], datasets=["digits", "noisy_sines"],
        optimizers=["lion"], seeds=1, max_epochs=2, output=tmp_path, launcher="inline",
    )  # fmt: skip
    by_cell = {(r["config"]["model"], r["config"]["dataset"]): r for r in result.records}
    assert set(by_cell) == {("wide_mlp", "digits"), ("mlp_regressor", "noisy_sines")}
    assert all(r["status"] == "ok" for r in by_cell.values())
    assert by_cell["wide_mlp", "digits"]["results"]["test_metric"] > 0.3  # ten classes: chance is 0.1
    assert by_cell["mlp_regressor", "noisy_sines"]["synthetic"] is True
    assert by_cell["mlp_regressor", "noisy_sines"]["results"]["samples_per_s"] > 0


def test_the_guide_family_registers_and_says_why_it_cannot_be_used(guide_plugins):
    registry = load_registry(plugins=guide_plugins)
    with pytest.raises(FamilyError, match="pip install my-zoo-models"):  # its check: the package is not installed
        registry.get("model", "mz/small")
