"""A whole plugin's checks: run at once (:func:`check_plugin`) or one pytest test each (:func:`checks`,
:func:`parametrize_with_checks`), after scikit-learn's ``check_estimator`` and ``parametrize_with_checks``.

Listing the checks imports no torch (the plugins' specs are lazy), so a test module that parametrizes over them
is collected quickly; the checks import it when they run.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType

from harness.manager import ENTRY_POINT_GROUP
from harness.registry import Registry
from harness.specs import KINDS
from harness.testing.common import Unavailable, default_registry, failure
from harness.testing.datasets import check_dataset
from harness.testing.models import check_model, compatible_datasets
from harness.testing.optimizers import check_optimizer


@dataclass(frozen=True)
class Check:
    """One named check of a plugin (``model-mlp-overfits-on-digits``): calling it returns when the contract holds,
    raises AssertionError saying what broke, or :class:`~harness.testing.Unavailable` when it cannot run here."""

    name: str
    run: Callable[[], object] = field(repr=False, compare=False)

    def __call__(self):
        return self.run()

    def __str__(self) -> str:
        return self.name


def _normalized(name: str) -> str:
    """A distribution name as the package index compares them (PEP 503): 'Harness_Demo' -> 'harness-demo'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def plugin_names(plugin, registry: Registry | None = None) -> list[str]:
    """The plugins ``plugin`` stands for, by the name each is registered (and blocked, ``-p no:NAME``) under.

    ``plugin`` is, in this order: the name of a ``harness`` entry point (``harness_dense``); the module an entry
    point loads (a module object, or its dotted name); a distribution that declares such entry points
    (``harness-dl``: every built-in plugin); or, failing those, a local plugin of ``registry`` (``--plugins``).
    AssertionError when it is none of them.
    """
    wanted = plugin.__name__ if isinstance(plugin, ModuleType) else str(plugin)
    points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    for matches in (
        lambda ep: ep.name == wanted,
        lambda ep: ep.module == wanted,
        lambda ep: ep.dist is not None and _normalized(ep.dist.metadata["Name"]) == _normalized(wanted),
    ):
        found = sorted({ep.name for ep in points if matches(ep)})
        if found:
            return found
    if registry is not None and wanted in registry.plugins.infos:
        return [wanted]
    known = ", ".join(sorted({ep.name for ep in points})) or "none"
    raise AssertionError(
        f"plugin {wanted!r} is not found through the {ENTRY_POINT_GROUP!r} entry-point group, as an entry point's "
        f"name, its module or its distribution (is it installed, `pip install -e .`, with "
        f"[project.entry-points.{ENTRY_POINT_GROUP}] in its pyproject.toml?); found: {known}"
    )


def _own(registry: Registry, kind: str, plugin: str) -> list:
    return [entry for entry in registry.entries(kind) if entry.plugin == plugin]


def check_loads(plugin: str, registry: Registry) -> None:
    """The plugin imports, its hooks pass pluggy's checks and its discovery hooks, and it registers something."""
    info = registry.plugins.infos.get(plugin)
    if info is None:
        blocked = plugin in registry.plugins.blocked_found
        raise AssertionError(f"plugin {plugin!r} is {'blocked' if blocked else 'not loaded'} in this registry")
    if not info.available:
        raise AssertionError(f"plugin {plugin!r} ({info.dist or info.location}) is unavailable: {info.error}")
    count = sum(len(_own(registry, kind, plugin)) for kind in KINDS)
    count += sum(plugin in claimants for kind in KINDS for claimants in registry.conflicts(kind).values())
    count += sum(entry.plugin == plugin for entry in registry.families.entries)
    if not count:
        hooks = ", ".join(info.hooks) or "none"
        raise AssertionError(
            f"plugin {plugin!r} loads but registers no model, dataset, optimizer or family (its hooks: {hooks}); "
            "mark the functions @hookimpl and return a list of specs from harness_register_models and the like"
        )


def check_names_are_its_own(plugin: str, registry: Registry) -> None:
    """No name of the plugin is claimed by another plugin too: such a name cannot be used until one is blocked."""
    clashes = [
        f"{kind} {name!r} is also provided by {' and '.join(repr(p) for p in claimants if p != plugin)}"
        for kind in KINDS
        for name, claimants in registry.conflicts(kind).items()
        if plugin in claimants
    ]
    if clashes:
        raise AssertionError(f"plugin {plugin!r} shares names with other plugins: {'; '.join(clashes)}")


def check_rejects_unknown_overrides(plugin: str, registry: Registry) -> None:
    """Planning ``NAME[no_such_param=1]`` for each of the plugin's specs is a ConfigError naming the parameter."""
    from harness.errors import ConfigError
    from harness.overrides import check_item
    from harness.suite_rules import parse_item

    for kind in KINDS:
        for entry in _own(registry, kind, plugin):
            key = "no_such_param"
            while key in entry.spec.defaults:
                key += "_"
            item = f"{entry.name}[{key}=1]"
            try:
                check_item(kind, *parse_item(item), entry.spec, entry.plugin)
            except ConfigError as exc:
                if key not in str(exc):
                    raise failure(entry, f"{item} is refused without naming {key!r}: {exc}") from exc
                continue
            except Exception as exc:
                raise failure(entry, f"{item} raised instead of a ConfigError", exc) from exc
            raise failure(entry, f"{item} is accepted: an undeclared parameter must be refused as a typo")


def _spec_checks(plugin: str, registry: Registry) -> list[Check]:
    """A check per dataset, per model and compatible registered dataset, and per optimizer of the plugin."""
    found = [
        Check(f"dataset-{entry.name}-loads-as-declared", functools.partial(check_dataset, entry, registry))
        for entry in _own(registry, "dataset", plugin)
    ]
    for entry in _own(registry, "model", plugin):
        found += [
            Check(
                f"model-{entry.name}-overfits-on-{target.name}", functools.partial(check_model, entry, target, registry)
            )
            for target in compatible_datasets(entry, registry)
        ] or [Check(f"model-{entry.name}-overfits", functools.partial(check_model, entry, None, registry))]
    found += [
        Check(f"optimizer-{entry.name}-steps-downhill", functools.partial(check_optimizer, entry, registry))
        for entry in _own(registry, "optimizer", plugin)
    ]
    return found


def checks(plugin, registry: Registry | None = None) -> list[Check]:
    """Every check of ``plugin`` (see :func:`plugin_names` for what it may be), as named callables.

    Per plugin: ``plugin-NAME-loads``, ``plugin-NAME-names-are-its-own``, ``plugin-NAME-rejects-unknown-overrides``;
    then ``dataset-NAME-loads-as-declared``, ``model-NAME-overfits-on-DATASET`` for every compatible registered
    dataset (``model-NAME-overfits`` when there is none), ``optimizer-NAME-steps-downhill``. A family's members
    (a zoo) are not listed: there may be thousands.
    """
    registry = registry or default_registry()
    found = []
    for name in plugin_names(plugin, registry):
        found += [
            Check(f"plugin-{name}-loads", functools.partial(check_loads, name, registry)),
            Check(f"plugin-{name}-names-are-its-own", functools.partial(check_names_are_its_own, name, registry)),
            Check(
                f"plugin-{name}-rejects-unknown-overrides",
                functools.partial(check_rejects_unknown_overrides, name, registry),
            ),
            *_spec_checks(name, registry),
        ]
    return found


def check_plugin(module_or_distribution, registry: Registry | None = None) -> dict[str, str]:
    """Run every check of a plugin; return each check's outcome ('passed', 'skipped: why'), or raise one
    AssertionError listing every check that failed.

    ``module_or_distribution`` is a ``harness`` entry point's name (``harness_demo``, what ``-p no:NAME`` takes),
    the module it loads (an imported module or its dotted name), or a distribution's name (``harness-demo``: all
    its entry points), tried in that order; a local ``--plugins`` plugin of ``registry`` by its name too.
    """
    from harness.errors import one_line

    outcomes, failed = {}, []
    for check in checks(module_or_distribution, registry):
        try:
            check()
        except Unavailable as exc:
            outcomes[check.name] = f"skipped: {exc}"
            continue
        except Exception as exc:
            message = str(exc) if isinstance(exc, AssertionError) else one_line(exc)
            outcomes[check.name] = f"failed: {message}"
            failed.append(f"{check.name}: {message}")
            continue
        outcomes[check.name] = "passed"
    if failed:
        total = f"{len(failed)} of {len(outcomes)} checks"
        label = getattr(module_or_distribution, "__name__", str(module_or_distribution))  # a module: its name
        raise AssertionError(f"{total} of plugin {label!r} failed:\n" + "\n".join(failed))
    return outcomes


def skip_when_unavailable(check: Check) -> Check:
    """The same check, calling ``pytest.skip(reason)`` where it would raise :class:`~harness.testing.Unavailable`."""

    def run():
        import pytest

        try:
            return check()
        except Unavailable as exc:
            pytest.skip(str(exc))

    return Check(check.name, run)


def parametrize_with_checks(plugin, registry: Registry | None = None):
    """``@pytest.mark.parametrize("check", ...)`` over :func:`checks` of ``plugin``, one test per check, its id the
    check's name; a check that cannot run here is skipped with the reason::

        @parametrize_with_checks("harness_demo")
        def test_harness_contract(check):
            check()
    """
    import pytest

    found = [skip_when_unavailable(check) for check in checks(plugin, registry)]
    return pytest.mark.parametrize("check", found, ids=[check.name for check in found])
