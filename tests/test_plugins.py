"""Plugin discovery, the registry and the spec contract: what `harness list` and `harness plugins` stand on.

Nothing here trains or imports torch: local plugins are written into ``tmp_path``
with no-op builds (see ``plugin_factory``).
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

from harness import hookspecs
from harness.errors import DuplicateNameError, HarnessError, UnknownNameError
from harness.manager import load_plugins
from harness.registry import Registry
from harness.specs import MODALITIES, DatasetSpec, ModelSpec, OptimizerSpec, SpecError, lazy
from tests import TESTS
from tests.plugin_factory import dataset, model, optimizer, plugin_source, write_module, write_plugin

BUILTINS = {
    "harness_dense": ("harness_register_models",),
    "harness_vision": ("harness_register_datasets", "harness_register_models"),
    "harness_optim": ("harness_register_optimizers",),
}
BUILTIN_NAMES = {"model": ["logreg", "mlp"], "dataset": ["digits"], "optimizer": ["adam", "sgd"]}


def registry_for(paths=(), blocked=()) -> Registry:
    return Registry(load_plugins(paths=paths, blocked=blocked))


def assert_builtins_work(registry: Registry) -> None:
    """Every built-in name still resolves to the built-in plugin that provides it."""
    for kind, names in BUILTIN_NAMES.items():
        for name in names:
            assert registry.get(kind, name).plugin.startswith("harness_"), (kind, name)
    for name in BUILTINS:
        assert registry.plugins.infos[name].available, registry.plugins.infos[name].error


def error_of(registry: Registry, plugin: str) -> str:
    info = registry.plugins.infos[plugin]
    assert not info.available, f"{plugin} should be unavailable"
    assert info in registry.plugins.unavailable()
    return info.error


# ---------------------------------------------------------------------------
# Discovery
# ---------------------------------------------------------------------------


def test_builtins_come_from_entry_points():
    registry = registry_for()
    for kind, names in BUILTIN_NAMES.items():
        assert set(names) <= set(registry.names(kind)), kind
    assert registry.get("model", "mlp").plugin == "harness_dense"
    assert registry.get("model", "logreg").plugin == "harness_dense"
    assert registry.get("dataset", "digits").plugin == "harness_vision"
    assert registry.get("optimizer", "sgd").plugin == "harness_optim"
    assert registry.get("optimizer", "adam").plugin == "harness_optim"

    infos = registry.plugins.infos
    assert set(BUILTINS) <= set(infos)
    for name, hooks in BUILTINS.items():
        info = infos[name]
        assert info.available and info.error is None
        assert info.source == "entry point"
        assert info.dist == "harness-dl"
        assert info.version == metadata.version("harness-dl")
        assert info.hooks == hooks
        assert info.location and Path(info.location).exists()
        listed = info.as_dict()
        assert listed["distribution"] == "harness-dl" and listed["hooks"] == list(hooks) and listed["available"]
    assert registry.plugins.versions()["harness_dense"] == metadata.version("harness-dl")
    assert registry.plugins.unavailable() == []


def test_listing_plugins_does_not_import_torch():
    """Discovery and grid expansion stay cheap: builds are lazy, so torch is not imported."""
    code = textwrap.dedent(
        """
        import sys
        from harness.config import expand, make_suite
        from harness.manager import load_plugins
        from harness.registry import Registry
        registry = Registry(load_plugins())
        expand(make_suite({"models": ["*"], "datasets": ["*"], "optimizers": ["*"]}), registry)
        heavy = sorted(m for m in ("torch", "pytorch_lightning", "lightning", "sklearn") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_local_plugin_file_adds_a_model(tmp_path):
    path = write_plugin(tmp_path, "extra", models=["extra_model"])
    registry = registry_for(paths=[path])
    entry = registry.get("model", "extra_model")
    assert entry.plugin == "extra"
    assert isinstance(entry.spec, ModelSpec)
    info = registry.plugins.infos["extra"]
    assert info.available
    assert info.source == "local path"
    assert info.dist == "(local)"
    assert info.location == str(path)
    assert info.hooks == ("harness_register_models",)
    assert_builtins_work(registry)


def test_local_plain_folder_loads_each_file(tmp_path):
    folder = tmp_path / "plugs"
    write_plugin(folder, "first", models=["first_model"])
    write_plugin(folder, "second", datasets=["second_data"], optimizers=["second_opt"])
    write_module(folder / "_helper.py", "raise RuntimeError('private helpers are not plugins')\n")
    write_module(folder / "notes.txt", "not python\n")
    registry = registry_for(paths=[folder])
    assert registry.get("model", "first_model").plugin == "first"
    assert registry.get("dataset", "second_data").plugin == "second"
    assert registry.get("optimizer", "second_opt").plugin == "second"
    assert registry.plugins.infos["second"].hooks == ("harness_register_datasets", "harness_register_optimizers")
    assert "_helper" not in registry.plugins.infos
    assert registry.plugins.unavailable() == []
    assert_builtins_work(registry)


def test_local_package_folder_is_one_plugin(tmp_path):
    package = tmp_path / "mypkg"
    write_module(
        package / "__init__.py",
        "from harness import hookimpl\nfrom .specs import MODELS\n\n\n"
        "@hookimpl\ndef harness_register_models():\n    return MODELS\n",
    )
    write_module(package / "specs.py", plugin_source(body="MODELS = [ModelSpec(name='pkg_model', build=_build)]\n"))
    registry = registry_for(paths=[package])
    assert registry.get("model", "pkg_model").plugin == "mypkg"
    info = registry.plugins.infos["mypkg"]
    assert info.available and info.source == "local path"
    assert "specs" not in registry.plugins.infos  # the package's modules are not plugins of their own
    assert_builtins_work(registry)


def test_missing_plugin_path_is_an_error(tmp_path):
    with pytest.raises(HarnessError, match="does not exist"):
        load_plugins(paths=[tmp_path / "nowhere.py"])


# ---------------------------------------------------------------------------
# Broken plugins never take the rest down
# ---------------------------------------------------------------------------


def test_plugin_that_fails_to_import_is_listed_with_the_reason(tmp_path):
    path = write_module(tmp_path / "broken.py", "import not_a_real_module_xyz\n")
    registry = registry_for(paths=[path])
    error = error_of(registry, "broken")
    assert "failed to import" in error
    assert "ModuleNotFoundError" in error and "not_a_real_module_xyz" in error
    assert "broken.py:1" in error  # says where
    info = registry.plugins.infos["broken"]
    assert info.as_dict()["available"] is False and info.source == "local path" and info.location == str(path)
    assert "broken" not in registry.plugins.versions()
    assert_builtins_work(registry)


def test_plugin_that_exits_on_import_does_not_stop_discovery(tmp_path):
    path = write_module(tmp_path / "quitter.py", "import sys\nsys.exit(3)\n")
    registry = registry_for(paths=[path])
    assert "SystemExit" in error_of(registry, "quitter")
    assert_builtins_work(registry)


def test_entry_point_that_fails_to_import_is_listed(monkeypatch):
    real = metadata.entry_points

    def entry_points(**kwargs):
        found = list(real(**kwargs))
        return found + [metadata.EntryPoint("zz_broken", "not_a_real_module_xyz", kwargs["group"])]

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    registry = registry_for()
    info = registry.plugins.infos["zz_broken"]
    assert info.source == "entry point"
    assert "not_a_real_module_xyz" in error_of(registry, "zz_broken")
    assert_builtins_work(registry)


def test_misspelled_hook_makes_the_plugin_unavailable(tmp_path):
    path = write_plugin(
        tmp_path,
        "typo",
        datasets=["typo_data"],
        body="""
        @hookimpl
        def harness_register_model():
            return [ModelSpec(name="typo_model", build=_build)]
        """,
    )
    registry = registry_for(paths=[path, write_plugin(tmp_path, "fine", models=["fine_model"])])
    error = error_of(registry, "typo")
    assert "unknown hook 'harness_register_model'" in error
    assert "did you mean: harness_register_models" in error
    assert "typo_data" not in registry.names("dataset")  # its valid hooks are out too
    assert "typo_model" not in registry.names("model")
    assert registry.get("model", "fine_model").plugin == "fine"
    assert_builtins_work(registry)


def test_hookimpl_without_harness_prefix_is_rejected(tmp_path):
    path = write_plugin(
        tmp_path,
        "noprefix",
        models=["noprefix_model"],
        body="""
        @hookimpl
        def register_optimizers():
            return []
        """,
    )
    registry = registry_for(paths=[path])
    error = error_of(registry, "noprefix")
    assert "register_optimizers" in error and "does not start with 'harness_'" in error
    assert "noprefix_model" not in registry.names("model")  # nothing half-registered
    assert registry.plugins.pm.get_plugin("noprefix") is None
    assert_builtins_work(registry)


def test_hookimpl_with_arguments_the_hook_does_not_have_is_rejected(tmp_path):
    path = write_plugin(
        tmp_path,
        "badargs",
        datasets=["badargs_data"],
        body="""
        @hookimpl
        def harness_register_models(bogus):
            return []
        """,
    )
    registry = registry_for(paths=[path])
    error = error_of(registry, "badargs")
    assert error.startswith("invalid plugin") and "bogus" in error
    assert "badargs_data" not in registry.names("dataset")
    assert_builtins_work(registry)


BAD_DISCOVERY = {
    "raises": ("models", "raise RuntimeError('boom in discovery')", "RuntimeError: boom in discovery"),
    "not a list": ("models", "return ModelSpec(name='lonely', build=_build)", "returned ModelSpec, not a list"),
    "a string": ("models", "return 'mlp'", "returned str, not a list"),
    "wrong spec type": (
        "models",
        "return [DatasetSpec(name='misfiled', load=_load, task='classification', modality='image')]",
        "returned DatasetSpec, not ModelSpec",
    ),
    "not a spec": ("optimizers", "return [{'name': 'sgd2', 'lr': 0.1}]", "returned dict, not OptimizerSpec"),
}


@pytest.mark.parametrize("case", list(BAD_DISCOVERY))
def test_bad_discovery_hook_makes_only_that_plugin_unavailable(tmp_path, case):
    kind, statement, reason = BAD_DISCOVERY[case]
    specs = {"models": ["bad_model"], "datasets": ["bad_data"], "optimizers": ["bad_opt"]}
    del specs[kind]  # the bad hook replaces this kind; the plugin's other hooks are fine
    bad = write_plugin(tmp_path, "bad", **specs, body=f"\n@hookimpl\ndef harness_register_{kind}():\n    {statement}\n")
    good = write_plugin(tmp_path, "good", models=["good_model"], datasets=["good_data"], optimizers=["good_opt"])
    registry = registry_for(paths=[bad, good])

    error = error_of(registry, "bad")
    assert f"harness_register_{kind} failed" in error and reason in error
    for kind_name, name in (("model", "bad_model"), ("dataset", "bad_data"), ("optimizer", "bad_opt")):
        assert name not in registry.names(kind_name)  # nothing of a broken plugin is registered
    assert registry.plugins.pm.get_plugin("bad") is None
    assert registry.get("model", "good_model").plugin == "good"
    assert registry.get("dataset", "good_data").plugin == "good"
    assert registry.get("optimizer", "good_opt").plugin == "good"
    assert_builtins_work(registry)


def test_discovery_hook_may_return_nothing(tmp_path):
    path = write_plugin(tmp_path, "quiet", body="\n@hookimpl\ndef harness_register_models():\n    return None\n")
    registry = registry_for(paths=[path])
    assert registry.plugins.infos["quiet"].available
    assert registry.names("model") == registry_for().names("model")


# ---------------------------------------------------------------------------
# Names: duplicates, blocking, unknown names, wildcards
# ---------------------------------------------------------------------------


def test_duplicate_name_names_both_plugins_until_one_is_blocked(tmp_path):
    path = write_plugin(tmp_path, "dup_mlp", models=["mlp", "dup_only"])
    registry = registry_for(paths=[path])

    with pytest.raises(DuplicateNameError) as raised:
        registry.get("model", "mlp")
    message = str(raised.value)
    assert "'harness_dense'" in message and "'dup_mlp'" in message
    assert "-p no:" in message
    with pytest.raises(DuplicateNameError):
        registry.select("model", "mlp")
    assert {name: sorted(plugins) for name, plugins in registry.conflicts("model").items()} == {
        "mlp": ["dup_mlp", "harness_dense"]
    }
    assert registry.conflicts("optimizer") == {}
    assert registry.get("model", "dup_only").plugin == "dup_mlp"  # the rest of both plugins works
    assert registry.get("model", "logreg").plugin == "harness_dense"

    resolved = registry_for(paths=[path], blocked=["harness_dense"])
    assert resolved.get("model", "mlp").plugin == "dup_mlp"
    assert resolved.conflicts("model") == {}
    assert "logreg" not in resolved.names("model")

    local_blocked = registry_for(paths=[path], blocked=["dup_mlp"])
    assert local_blocked.get("model", "mlp").plugin == "harness_dense"
    assert "dup_mlp" not in local_blocked.plugins.infos


def test_blocking_a_builtin_removes_its_names():
    registry = registry_for(blocked=["harness_optim"])
    assert registry.names("optimizer") == []
    for name in ("sgd", "adam"):
        blocked = f"optimizer '{name}' is provided by plugin 'harness_optim', which is blocked (-p no:harness_optim)"
        with pytest.raises(UnknownNameError, match=re.escape(blocked)):
            registry.get("optimizer", name)
    assert "harness_optim" not in [info.name for info in registry.plugins.available()]
    assert registry.plugins.pm.is_blocked("harness_optim")
    assert registry.get("model", "mlp").plugin == "harness_dense"  # the others are untouched

    assert registry_for().get("optimizer", "sgd").plugin == "harness_optim"  # each load starts fresh


def test_a_block_that_matches_nothing_is_known(tmp_path):
    path = write_plugin(tmp_path, "extra_models", models=["extra"])
    registry = registry_for(paths=[path], blocked=["harness_optm", "harness_dense", "extra_models", "nope"])
    assert registry.plugins.unmatched_blocks() == ["harness_optm", "nope"]
    names = registry.plugins.plugin_names()
    assert {"harness_dense", "extra_models", "harness_optim"} <= set(names)  # blocked plugins are names too
    assert registry_for().plugins.unmatched_blocks() == []


def test_a_name_a_blocked_plugin_provides_says_so(tmp_path):
    path = write_plugin(tmp_path, "lion_plugin", optimizers=["lion", "lamb"])
    registry = registry_for(paths=[path], blocked=["lion_plugin"])
    assert "lion_plugin" not in registry.plugins.infos
    with pytest.raises(UnknownNameError) as raised:
        registry.get("optimizer", "lion")
    blocked = "provided by plugin 'lion_plugin', which is blocked (-p no:lion_plugin)"
    assert str(raised.value) == f"optimizer 'lion' is {blocked}"
    with pytest.raises(UnknownNameError, match=re.escape(f"no optimizer matches 'l*': lamb, lion are {blocked}")):
        registry.select("optimizer", "l*")
    with pytest.raises(UnknownNameError, match="unknown optimizer 'lionn'"):
        registry.get("optimizer", "lionn")  # not what the blocked plugin provides: the usual error
    assert registry.names("optimizer") == registry_for().names("optimizer")  # still blocked: nothing was registered


def test_a_blocked_plugin_that_breaks_does_not_break_the_error(tmp_path):
    path = write_module(tmp_path / "exits.py", "import sys\nsys.exit(3)\n")
    registry = registry_for(paths=[path], blocked=["exits"])
    with pytest.raises(UnknownNameError, match="unknown model 'nothing_here'"):
        registry.get("model", "nothing_here")


def test_unknown_name_suggests_close_matches():
    registry = registry_for()
    with pytest.raises(UnknownNameError, match=r"unknown model 'mlpp' \(did you mean: mlp\?\)"):
        registry.get("model", "mlpp")
    with pytest.raises(UnknownNameError, match="did you mean: adam"):
        registry.select("optimizer", "adamm")
    with pytest.raises(UnknownNameError, match="did you mean: digits"):
        registry.get("dataset", "digit")
    with pytest.raises(UnknownNameError, match="available: .*logreg.*mlp"):
        registry.get("model", "qqqqqq")  # nothing close: list what there is


def test_unknown_name_mentions_broken_plugins(tmp_path):
    path = write_module(tmp_path / "broken_models.py", "import not_a_real_module_xyz\n")
    registry = registry_for(paths=[path])
    with pytest.raises(UnknownNameError) as raised:
        registry.get("model", "no_such_model_xyz")
    message = str(raised.value)
    assert "unknown model 'no_such_model_xyz'" in message
    assert "unavailable plugins: broken_models" in message and "not_a_real_module_xyz" in message


def test_wildcard_selection():
    registry = registry_for()
    assert registry.select("optimizer", "*") == registry.names("optimizer")
    assert {"adam", "sgd"} <= set(registry.select("optimizer", "*"))
    assert registry.select("optimizer", "s*") == ["sgd"]
    assert registry.select("optimizer", "?dam") == ["adam"]
    assert {"logreg", "mlp"} <= set(registry.select("model", "*"))
    assert registry.select("model", "mlp") == ["mlp"]
    with pytest.raises(UnknownNameError, match=r"no optimizer matches 'x\*'; available: adagrad, adam, "):
        registry.select("optimizer", "x*")
    with pytest.raises(UnknownNameError, match="no dataset matches"):
        registry.select("dataset", "S*")  # case-sensitive, like the names


# ---------------------------------------------------------------------------
# The spec contract
# ---------------------------------------------------------------------------


def _noop(*args, **kwargs):
    return None


@pytest.mark.parametrize("bad", ["", "two words", "a,b", "mlp[x]", "k=v", "m*", "m?", 3, None])
def test_specs_reject_bad_names(bad):
    with pytest.raises(SpecError, match="name"):
        ModelSpec(name=bad, build=_noop)
    with pytest.raises(SpecError, match="name"):
        DatasetSpec(name=bad, load=_noop, task="classification", modality="image")
    with pytest.raises(SpecError, match="name"):
        OptimizerSpec(name=bad, build=_noop, defaults={"lr": 0.1})


def test_specs_reject_unknown_tasks_and_modalities():
    with pytest.raises(SpecError, match=r"unknown task \['ranking'\]"):
        ModelSpec(name="m", build=_noop, tasks=("classification", "ranking"))
    with pytest.raises(SpecError, match=r"unknown modality \['audio'\]; allowed: image"):
        ModelSpec(name="m", build=_noop, modalities=["image", "audio"])
    with pytest.raises(SpecError, match="unknown task"):
        DatasetSpec(name="d", load=_noop, task="ranking", modality="image")
    with pytest.raises(SpecError, match="unknown modality"):
        DatasetSpec(name="d", load=_noop, task="classification", modality="audio")
    spec = ModelSpec(name="m", build=_noop, tasks=["regression"], modalities=["tokens"])
    assert spec.tasks == ("regression",) and spec.modalities == ("tokens",)  # lists normalised to tuples
    assert ModelSpec(name="any", build=_noop).modalities == MODALITIES


def test_specs_reject_non_callables_and_optimizer_without_lr():
    with pytest.raises(SpecError, match="learning rate 'lr'"):
        OptimizerSpec(name="o", build=_noop)
    with pytest.raises(SpecError, match="learning rate 'lr'"):
        OptimizerSpec(name="o", build=_noop, defaults={"momentum": 0.9})
    with pytest.raises(SpecError, match="build must be callable"):
        OptimizerSpec(name="o", build="torch.optim.SGD", defaults={"lr": 0.1})
    with pytest.raises(SpecError, match="build must be callable"):
        ModelSpec(name="m", build=None)
    with pytest.raises(SpecError, match="load must be callable"):
        DatasetSpec(name="d", load="digits.npz", task="classification", modality="image")
    assert issubclass(SpecError, ValueError)


def test_incompatibility_says_why():
    mlp = ModelSpec(name="m", build=_noop, tasks=("classification",), modalities=("image", "tabular"))
    images = DatasetSpec(name="img", load=_noop, task="classification", modality="image")
    tokens = DatasetSpec(name="txt", load=_noop, task="classification", modality="tokens")
    values = DatasetSpec(name="reg", load=_noop, task="regression", modality="tabular")
    assert mlp.incompatibility(images) is None
    assert mlp.incompatibility(tokens) == "model m reads image/tabular, dataset txt is tokens"
    assert mlp.incompatibility(values) == "model m does classification, dataset reg is regression"


def test_lazy_imports_on_first_call_only(tmp_path, monkeypatch):
    module_name = f"lazy_target_{tmp_path.name.replace('-', '_')}"
    write_module(tmp_path / f"{module_name}.py", "def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module_name, raising=False)

    fn = lazy(f"{module_name}:double")
    assert module_name not in sys.modules  # nothing imported yet
    assert fn.__name__ == "double" and fn.target == f"{module_name}:double"
    assert fn(21) == 42
    module = sys.modules[module_name]
    monkeypatch.setattr(module, "double", lambda x: "re-resolved")
    assert fn(1) == 2  # resolved once, then cached
    monkeypatch.delitem(sys.modules, module_name)

    missing = lazy("not_a_real_module_xyz.sub:build")  # a missing dependency fails only the call
    with pytest.raises(ModuleNotFoundError, match="not_a_real_module_xyz"):
        missing()
    for bad in ("no_colon", ":fn", "mod:"):
        with pytest.raises(SpecError, match="package.module:function"):
            lazy(bad)


def test_spec_helpers_write_valid_plugins(tmp_path):
    """The plugin factory itself: its spec snippets carry fields through to the registry."""
    path = write_plugin(
        tmp_path,
        "factory",
        models=[model("seq_model", tasks=["seq2seq"], modalities=["tokens"], defaults={"width": 8})],
        datasets=[dataset("tok_data", task="seq2seq", modality="tokens")],
        optimizers=[optimizer("slow", lr=1e-4, defaults={"momentum": 0.5})],
    )
    registry = registry_for(paths=[path])
    spec = registry.get("model", "seq_model").spec
    assert spec.tasks == ("seq2seq",) and spec.defaults == {"width": 8}
    assert spec.incompatibility(registry.get("dataset", "tok_data").spec) is None
    assert registry.get("optimizer", "slow").spec.defaults == {"lr": 1e-4, "momentum": 0.5}


# ---------------------------------------------------------------------------
# Every hook documented and tested (in the spirit of datasette's test_plugins.py)
# ---------------------------------------------------------------------------

HOOKS = sorted(
    name for name, obj in vars(hookspecs).items() if callable(obj) and getattr(obj, "harness_spec", None) is not None
)


def test_hookspecs_are_found():
    assert len(HOOKS) >= 3
    assert all(name.startswith("harness_") for name in HOOKS)
    pm_hooks = {name for name, caller in vars(load_plugins().pm.hook).items() if caller.has_spec()}
    assert set(HOOKS) == pm_hooks


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    function = getattr(hookspecs, hook)
    doc = inspect.getdoc(function)
    assert doc and len(doc.splitlines()[0]) > 10, f"{hook} needs a docstring: it is the plugin reference"
    for param in inspect.signature(function).parameters:
        assert f":param {param}:" in doc, f"{hook}: document the parameter {param!r}"
    returns = inspect.signature(function).return_annotation
    if returns not in ("None", None, inspect.Signature.empty):
        assert ":return:" in doc, f"{hook}: document what it returns"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    test_files = [p for p in TESTS.rglob("test_*.py") if "fixtures" not in p.parts]
    assert any(hook in p.read_text() for p in test_files), f"no test under tests/ mentions the hook {hook}"
