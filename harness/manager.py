"""Builds a fresh pluggy PluginManager and records what every plugin is.

Plugins come from the ``harness`` entry-point group (built-ins included, they
register exactly like outside packages) and from local files or folders given
with ``--plugins``. A plugin that fails to import, registers a hook that does
not exist, or breaks pluggy's validation is kept out of the manager and listed
as unavailable with the reason; every other plugin still works.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pluggy

from harness import hookspecs
from harness.errors import HarnessError, did_you_mean, one_line

ENTRY_POINT_GROUP = "harness"


@dataclass
class PluginInfo:
    """One plugin as `harness plugins` shows it."""

    name: str
    source: str  # "entry point" or "local path"
    dist: str | None = None
    version: str | None = None
    location: str | None = None
    hooks: tuple[str, ...] = ()
    error: str | None = None

    @property
    def available(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "source": self.source,
            "distribution": self.dist,
            "version": self.version,
            "location": self.location,
            "hooks": list(self.hooks),
            "available": self.available,
            "error": self.error,
        }


class _PluginManager(pluggy.PluginManager):
    """Enforces the ``harness_`` prefix on marked hook implementations (as pytest does)."""

    def parse_hookimpl_opts(self, plugin, name):
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is not None and not name.startswith("harness_"):
            raise pluggy.PluginValidationError(plugin, f"hook implementation {name!r} does not start with 'harness_'")
        return opts


@dataclass(frozen=True)
class PluginOrigin:
    """The arguments that built a :class:`Plugins`: enough for another process to build the same one.

    A pluggy manager holds live modules and cannot be pickled, so a worker
    process gets this instead and calls :func:`load_plugins` itself.
    """

    paths: tuple[str, ...] = ()
    blocked: tuple[str, ...] = ()
    entry_points: bool = True

    def load(self) -> Plugins:
        return load_plugins(self.paths, self.blocked, self.entry_points)


@dataclass
class Plugins:
    """A loaded PluginManager plus the facts about each plugin, usable or not."""

    pm: pluggy.PluginManager
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    origin: PluginOrigin = field(default_factory=PluginOrigin)
    #: Each blocked plugin that was found (an entry point or a local path), with how to import it: never imported
    #: unless a name it may provide is asked for (:meth:`call_blocked`).
    blocked_found: dict[str, Callable[[], object]] = field(default_factory=dict)

    def available(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if i.available]

    def unavailable(self) -> list[PluginInfo]:
        return [i for i in self.infos.values() if not i.available]

    def mark_broken(self, name: str, error: str) -> None:
        """Take a plugin out of the manager, keeping it listed with ``error``."""
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin)
        self.infos[name].error = error

    def unmatched_blocks(self) -> list[str]:
        """The ``-p no:NAME`` names that matched no plugin: a typo that would otherwise block nothing, silently."""
        return [name for name in self.origin.blocked if name not in self.blocked_found]

    def plugin_names(self) -> list[str]:
        """Every plugin found, blocked ones included: the names a block can take."""
        return sorted({*self.infos, *self.blocked_found})

    def call_blocked(self, hook_name: str) -> dict[str, list]:
        """Blocked plugin -> what its hook ``hook_name`` (a discovery hook) returns, all results in one list.

        Each is imported into a throwaway manager, never this one, and only to explain a name that is missing
        because of a block. One that fails to import or whose hook fails returns nothing.
        """
        return {name: _probe_hook(name, load, hook_name) for name, load in self.blocked_found.items()}

    def versions(self) -> dict[str, str | None]:
        """Plugin name -> version, for the provenance of every record."""
        return {i.name: i.version for i in self.available()}


def _probe_hook(name: str, load: Callable[[], object], hook_name: str) -> list:
    """Every item that plugin ``name``'s hook ``hook_name`` returns, in a manager of its own; [] if anything fails."""
    pm = _PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    try:
        pm.register(load(), name=name)
        return [item for result in getattr(pm.hook, hook_name)() for item in (result or ())]
    except BaseException as exc:  # a blocked plugin may be blocked because it breaks: it must not break the error
        if isinstance(exc, KeyboardInterrupt):
            raise
        return []


def _import_path(path: Path):
    """Import a local plugin file or package folder under a name unique to its path."""
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_name = f"harness_local_{path.stem}_{digest}"
    target = path / "__init__.py" if path.is_dir() else path
    spec = importlib.util.spec_from_file_location(
        module_name, target, submodule_search_locations=[str(path)] if path.is_dir() else None
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def _local_candidates(paths) -> list[Path]:
    """Files and package folders to import for ``--plugins``; a plain folder gives its *.py files."""
    found = []
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if not path.exists():
            raise HarnessError(f"plugin path {raw} does not exist")
        if path.is_file() or (path / "__init__.py").exists():
            found.append(path)
        else:
            found.extend(sorted(p for p in path.glob("*.py") if not p.name.startswith("_")))
    return found


def _register(plugins: Plugins, info: PluginInfo, load) -> None:
    """Import one plugin with ``load()`` and register it, or record why it could not be."""
    plugins.infos[info.name] = info
    try:
        module = load()
    except BaseException as exc:  # a plugin may even call sys.exit; never let it take us down
        if isinstance(exc, KeyboardInterrupt):
            raise
        info.error = f"failed to import: {one_line(exc)}"
        return
    try:
        plugins.pm.register(module, name=info.name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        if plugins.pm.get_plugin(info.name) is module:  # pluggy < 1.6 keeps the hooks checked before the bad one
            plugins.pm.unregister(name=info.name)
        info.error = f"invalid plugin: {exc}"
        return
    info.location = getattr(module, "__file__", None) or info.location
    info.hooks = tuple(sorted(caller.name for caller in plugins.pm.get_hookcallers(module) or ()))


def _reject_unknown_hooks(plugins: Plugins) -> None:
    """A hook name without a spec (a typo) makes its plugin unavailable, naming the hook."""
    known = [name for name in dir(hookspecs) if name.startswith("harness_")]
    for hook_name, caller in list(vars(plugins.pm.hook).items()):
        if not isinstance(caller, pluggy.HookCaller) or caller.has_spec():
            continue
        for impl in caller.get_hookimpls():
            plugins.mark_broken(
                impl.plugin_name,
                f"unknown hook {hook_name!r}{did_you_mean(hook_name, known)}",
            )
    plugins.pm.check_pending()


def load_plugins(paths=(), blocked=(), entry_points: bool = True) -> Plugins:
    """Discover every plugin: entry points (built-ins too), then local ``paths``.

    ``blocked`` names plugins to skip, as ``-p no:NAME`` does.
    """
    pm = _PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    origin = PluginOrigin(tuple(str(Path(p).expanduser().resolve()) for p in paths), tuple(blocked), entry_points)
    plugins = Plugins(pm, origin=origin)

    if entry_points:
        for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if pm.is_blocked(ep.name):
                plugins.blocked_found.setdefault(ep.name, ep.load)
                continue
            if ep.name in plugins.infos:
                continue
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                ep.name,
                "entry point",
                dist=dist.metadata["Name"] if dist else None,
                version=dist.version if dist else None,
                location=ep.value,
            )
            _register(plugins, info, ep.load)

    for path in _local_candidates(paths):
        name = path.stem if path.is_file() else path.name
        if pm.is_blocked(name):
            plugins.blocked_found.setdefault(name, lambda path=path: _import_path(path))
            continue
        if name in plugins.infos:
            raise HarnessError(f"local plugin {path} is named {name!r} like an already loaded plugin; rename it")
        info = PluginInfo(name, "local path", dist="(local)", version=None, location=str(path))
        _register(plugins, info, lambda path=path: _import_path(path))

    _reject_unknown_hooks(plugins)
    return plugins
