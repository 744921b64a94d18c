"""Families of models and optimizers resolved by name on demand (zoos), through a test plugin."""

import json

import pytest

import harness
from harness import cli
from harness.errors import ConfigError, UnknownNameError
from harness.families import FamilyError, FamilySpec, known_size
from harness.registry import load_registry
from harness.specs import SpecError
from tests import FIXTURES

ZOO = FIXTURES / "zoo_family.py"


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    registry = load_registry(plugins=[ZOO])
    module = next(p for name, p in registry.plugins.pm.list_name_plugin() if name.endswith("zoo_family"))
    module.CALLS.update(names=0, resolve=0)
    return registry, module


def test_a_member_is_resolved_when_used_and_only_then(zoo):
    registry, module = zoo
    assert module.CALLS == {"names": 0, "resolve": 0}  # loading the plugins asked the family for nothing
    entry = registry.get("model", "widths/mlp32")
    assert entry.spec.description == "an MLP of width 32" and entry.plugin.endswith("zoo_family")
    assert registry.get("model", "widths/mlp32") is entry and module.CALLS == {"names": 0, "resolve": 1}
    assert registry.get("model", "mlp").plugin == "harness_dense"  # registered names are untouched


def test_an_unknown_member_gets_the_familys_close_names(zoo):
    registry, _ = zoo
    with pytest.raises(UnknownNameError, match=r"unknown model 'widths/mlp33' \(did you mean: widths/mlp32"):
        registry.get("model", "widths/mlp33")


def test_a_wildcard_under_the_prefix_expands_against_the_family(zoo):
    registry, module = zoo
    assert registry.select("model", "widths/mlp1*") == ["widths/mlp128", "widths/mlp16"]
    assert registry.select("model", "mlp*") == ["mlp", "mlp_regressor"]  # a bare wildcard never lists a zoo
    with pytest.raises(UnknownNameError, match=r"no model of the widths/ family matches 'widths/cnn\*'"):
        registry.select("model", "widths/cnn*")
    assert module.CALLS["names"] == 1  # read once per process


def test_an_unavailable_family_says_why(zoo):
    registry, _ = zoo
    with pytest.raises(FamilyError, match="the gone/ family .* is unavailable: the package a-package-that-is-not"):
        registry.get("model", "gone/mlp8")


def test_an_unusable_optimizer_refuses_the_grid_with_its_reason(zoo):
    registry, _ = zoo
    with pytest.raises(ConfigError, match="optimizer sgdz/needs_closure is unavailable: its step needs a closure"):
        harness.plan(models="logreg", datasets="digits", optimizers="sgdz/needs_closure", registry=registry)


def test_a_family_member_trains_in_a_worker(tmp_path):
    result = harness.run(models="widths/mlp16", datasets="digits", optimizers="sgdz/plain", seeds=1, max_epochs=3,
                         plugins=[ZOO], output=tmp_path / "out", jobs=1)  # fmt: skip
    (record,) = result.records
    assert record["status"] == "ok" and record["config"]["model"] == "widths/mlp16", record.get("reason")
    assert record["results"]["test_metric"] > 0.3 and record["results"]["params"] == 64 * 16 + 16 + 16 * 10 + 10


def test_harness_list_shows_each_family_as_one_line_and_expands_a_pattern(zoo, capsys):
    assert cli.main(["list", "models", "--plugins", str(ZOO)]) == 0
    out = capsys.readouterr().out
    assert "widths/<name>" in out and "MLP widths; `harness list models 'widths/*'` lists them" in out
    assert "gone/<name>" in out and "the package a-package-that-is-not-installed is not installed" in out
    assert cli.main(["list", "models", "widths/*", "--plugins", str(ZOO)]) == 0
    listed = capsys.readouterr().out
    assert all(f"widths/mlp{w}" in listed for w in (8, 16, 32, 64, 128))
    spec = next(e.spec for e in zoo[0].families.entries if e.spec.prefix == "widths/")
    assert known_size(spec) == 5  # remembered: the next list states the number without asking the family
    assert cli.main(["list", "models", "--plugins", str(ZOO), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["entries"]
    assert {"kind": "model", "name": "widths/<name>"}.items() <= next(
        r for r in rows if r["name"] == "widths/<name>"
    ).items()
    assert "5 MLP widths" in next(r["description"] for r in rows if r["name"] == "widths/<name>")


def test_a_family_spec_is_checked():
    with pytest.raises(SpecError, match="a prefix is a plain name ending in '/'"):
        FamilySpec(kind="model", prefix="timm", resolve=lambda n: None, names=list)
    with pytest.raises(SpecError, match="kind must be 'model' or 'optimizer'"):
        FamilySpec(kind="dataset", prefix="d/", resolve=lambda n: None, names=list)
