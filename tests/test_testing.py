"""harness.testing catches real breakage, and says which plugin, which spec and what broke.

The broken specs live in ``tests/fixtures/broken_contract.py`` (a local plugin, loaded by path); they are tiny,
so every check here trains a few steps of a linear model at most. The built-in plugins' own checks run in
``tests/test_contract.py``.
"""

from __future__ import annotations

import re

import harness_dense
import pytest

from harness.registry import load_registry
from harness.testing import (
    Unavailable,
    check_dataset,
    check_model,
    check_optimizer,
    check_plugin,
    checks,
    parametrize_with_checks,
    plugin_names,
)
from harness.testing.plugins import skip_when_unavailable
from tests import FIXTURES
from tests.plugin_factory import write_module, write_plugin

pytest_plugins = ["pytester"]

PLUGIN = "broken_contract"


@pytest.fixture(scope="module")
def broken():
    """The installed plugins plus the fixture plugin with the broken specs."""
    return load_registry(plugins=[FIXTURES / f"{PLUGIN}.py"])


def test_the_honest_specs_pass(broken):
    check_dataset("honest_blobs", broken)
    assert check_model("linear", dataset="honest_blobs", registry=broken) == ["honest_blobs"]


def test_a_model_whose_output_has_the_wrong_shape_fails_naming_it(broken):
    expected = (
        "model 'wrong_shape' of plugin 'broken_contract': on dataset 'honest_blobs': output has shape (16, 5) on a "
        "batch of 16; the classification task needs (16, 3) (batch, num_classes)"
    )
    with pytest.raises(AssertionError, match=re.escape(expected)):
        check_model("wrong_shape", dataset="honest_blobs", registry=broken)


def test_a_dataset_whose_declared_input_shape_lies_fails_naming_it(broken):
    expected = "dataset 'lying_blobs' of plugin 'broken_contract': train split: inputs have shape (5,) per example "
    with pytest.raises(AssertionError, match=re.escape(expected) + r"but info.input_shape is \(4,\)"):
        check_dataset("lying_blobs", broken)


def test_an_optimizer_that_does_not_step_fails_naming_it(broken):
    with pytest.raises(AssertionError, match=r"optimizer 'stuck' of plugin 'broken_contract': 20 steps .* not descend"):
        check_optimizer("stuck", broken)
    check_optimizer("sgd", broken)  # a real one, by name


def test_an_unavailable_dataset_is_a_skip_with_its_reason(broken):
    reason = "blob files not found in /nowhere/blobs"
    with pytest.raises(Unavailable, match=f"dataset missing_blobs \\(plugin broken_contract\\) .*: {reason}"):
        check_dataset("missing_blobs", broken)
    with pytest.raises(Unavailable, match=reason):
        check_model("linear", dataset="missing_blobs", registry=broken)
    (check,) = [c for c in checks(PLUGIN, broken) if c.name == "dataset-missing_blobs-loads-as-declared"]
    with pytest.raises(pytest.skip.Exception, match=reason):
        skip_when_unavailable(check)()


def test_a_model_no_dataset_here_suits_is_unavailable(broken):
    with pytest.raises(Unavailable, match=r"model orphan \(plugin broken_contract\): no dataset here .*regression"):
        check_model("orphan", registry=broken)


def test_a_model_that_refuses_the_data_is_a_skip(broken):
    with pytest.raises(Unavailable, match="model picky .* cannot take dataset honest_blobs: needs at least 8 features"):
        check_model("picky", dataset="honest_blobs", registry=broken)


def test_a_spec_object_is_checked_as_given(broken):
    spec = broken.get("dataset", "lying_blobs").spec
    with pytest.raises(AssertionError, match="dataset 'lying_blobs' of plugin 'broken_contract'"):
        check_dataset(spec, broken)
    with pytest.raises(ValueError, match="cannot be checked on dataset 'digits'"):
        check_model("wrong_shape", dataset="digits", registry=broken)  # image data: the caller's mistake


def test_checks_are_named_and_check_plugin_lists_every_failure(broken):
    names = [check.name for check in checks(PLUGIN, broken)]
    assert names == [
        "plugin-broken_contract-loads",
        "plugin-broken_contract-names-are-its-own",
        "plugin-broken_contract-rejects-unknown-overrides",
        "dataset-honest_blobs-loads-as-declared",
        "dataset-lying_blobs-loads-as-declared",
        "dataset-missing_blobs-loads-as-declared",
        *(f"model-linear-overfits-on-{d}_blobs" for d in ("honest", "lying", "missing")),
        "model-orphan-overfits",
        *(f"model-picky-overfits-on-{d}_blobs" for d in ("honest", "lying", "missing")),
        *(f"model-wrong_shape-overfits-on-{d}_blobs" for d in ("honest", "lying", "missing")),
        "optimizer-stuck-steps-downhill",
    ]
    with pytest.raises(AssertionError) as raised:
        check_plugin(PLUGIN, broken)
    lines = str(raised.value).splitlines()
    assert lines[0] == "5 of 17 checks of plugin 'broken_contract' failed:"
    failed = [line.split(":")[0] for line in lines[1:]]
    assert failed == [
        "dataset-lying_blobs-loads-as-declared",
        "model-linear-overfits-on-lying_blobs",
        "model-wrong_shape-overfits-on-honest_blobs",
        "model-wrong_shape-overfits-on-lying_blobs",
        "optimizer-stuck-steps-downhill",
    ]
    assert "on dataset 'lying_blobs': forward on a batch of 16 raised RuntimeError" in lines[2]  # 5 features, 4 wide


def test_a_plugin_is_found_by_entry_point_module_or_distribution(broken):
    assert plugin_names("harness_dense") == ["harness_dense"]
    assert plugin_names(harness_dense) == plugin_names("harness_dense")  # the module, or its dotted name
    assert {"harness_dense", "harness_optim", "harness_vision"} <= set(plugin_names("harness-dl"))
    assert plugin_names("Harness_DL") == plugin_names("harness-dl")  # distribution names compare as pip does
    assert plugin_names(PLUGIN, broken) == [PLUGIN]  # a local plugin, through the registry that loaded it
    with pytest.raises(AssertionError, match="plugin 'no_such_plugin' is not found through the 'harness' entry"):
        checks("no_such_plugin")


def test_plugin_level_checks_catch_clashes_broken_imports_and_empty_plugins(tmp_path):
    clash = write_plugin(tmp_path, "clash", models=["mlp", "clash_only"])
    broken_import = write_module(tmp_path / "broken_import.py", "import not_a_real_module_xyz\n")
    empty = write_module(tmp_path / "empty.py", "from harness import hookimpl\n\n\ndef helper():\n    return 1\n")
    registry = load_registry(plugins=[clash, broken_import, empty])

    def outcome(plugin, check):
        (found,) = [c for c in checks(plugin, registry) if c.name == f"plugin-{plugin}-{check}"]
        with pytest.raises(AssertionError) as raised:
            found()
        return str(raised.value)

    assert outcome("clash", "names-are-its-own") == (
        "plugin 'clash' shares names with other plugins: model 'mlp' is also provided by 'harness_dense'"
    )
    assert "not_a_real_module_xyz" in outcome("broken_import", "loads")
    assert "registers no model, dataset, optimizer or family" in outcome("empty", "loads")
    (rejects,) = [c for c in checks("clash", registry) if c.name.endswith("rejects-unknown-overrides")]
    rejects()  # clash_only[no_such_param=1] is refused


@parametrize_with_checks(PLUGIN, load_registry(plugins=[FIXTURES / f"{PLUGIN}.py"]))
def test_parametrize_with_checks_gives_one_test_per_check(check, request):
    assert request.node.callspec.id == check.name
    if check.name in ("dataset-missing_blobs-loads-as-declared", "model-orphan-overfits"):
        check()  # skips, with the reason
        pytest.fail("an unavailable spec must skip")
    if not check.name.startswith("plugin-"):
        pytest.skip("the specs' outcomes are checked above")
    check()


def test_harness_check_option_runs_a_plugins_checks(pytester):
    # in a subprocess: an in-process run drops the modules it imported (pandas, pyarrow) from sys.modules on return,
    # and their second import makes classes that no longer match the first (a later test fails on pandas internals)
    result = pytester.runpytest_subprocess(
        "--harness-check", "harness_dense", "-k", "plugin or digits", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=5)
    listed = pytester.runpytest_subprocess("--harness-check", "harness_dense", "--collect-only", "-q")
    assert "harness-check/harness_dense::model-mlp-overfits-on-digits" in listed.stdout.str()
    missing = pytester.runpytest_subprocess("--harness-check", "no_such_plugin", "-p", "no:cacheprovider")
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines(["*plugin 'no_such_plugin' is not found through the 'harness' entry-point group*"])


def test_the_registry_fixture_is_shared(harness_registry):
    assert harness_registry.get("model", "mlp").plugin == "harness_dense"
