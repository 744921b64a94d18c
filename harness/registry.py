"""Name -> spec for every model, dataset and optimizer the available plugins provide.

The discovery hooks are called one plugin at a time so that each spec is known
by the plugin that gave it, and a plugin whose hook raises or returns the wrong
thing is marked unavailable without touching the others.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import DuplicateNameError, UnknownNameError, did_you_mean, one_line
from harness.families import FAMILY, Families, FamilySpec
from harness.manager import Plugins, load_plugins
from harness.specs import KINDS, SPEC_TYPES


@dataclass(frozen=True)
class Entry:
    """A spec and the plugin it came from."""

    kind: str
    spec: object
    plugin: str

    @property
    def name(self) -> str:
        return self.spec.name


#: The discovery hooks, each with the type of what it returns and the kind of entry it makes.
HOOKS = {**{f"harness_register_{kind}s": (SPEC_TYPES[kind], kind) for kind in KINDS},
         "harness_register_families": (FamilySpec, FAMILY)}  # fmt: skip


def _collect(plugins: Plugins) -> dict[str, list[Entry]]:
    """Call each discovery hook per plugin; a plugin that fails any of them contributes nothing."""
    per_plugin: dict[str, list[Entry]] = {}
    failed: dict[str, str] = {}
    for hook, (spec_type, kind) in HOOKS.items():
        for impl in getattr(plugins.pm.hook, hook).get_hookimpls():
            name = impl.plugin_name
            if name in failed:
                continue
            try:
                result = impl.function()
                if result is None:
                    result = []
                if not isinstance(result, (list, tuple)):
                    raise TypeError(f"{hook} returned {type(result).__name__}, not a list")
                for spec in result:
                    if not isinstance(spec, spec_type):
                        raise TypeError(f"{hook} returned {type(spec).__name__}, not {spec_type.__name__}")
            except Exception as exc:
                failed[name] = f"{hook} failed: {one_line(exc)}"
                continue
            per_plugin.setdefault(name, []).extend(Entry(kind, spec, name) for spec in result)
    for name, error in failed.items():
        plugins.mark_broken(name, error)
        per_plugin.pop(name, None)
    return per_plugin


class Registry:
    """Lookup, wildcard selection and listing over the specs of all available plugins."""

    def __init__(self, plugins: Plugins):
        self.plugins = plugins
        self._entries: dict[str, dict[str, list[Entry]]] = {kind: {} for kind in KINDS}
        families = []
        for entries in _collect(plugins).values():
            for entry in entries:
                if entry.kind == FAMILY:
                    families.append(entry)
                else:
                    self._entries[entry.kind].setdefault(entry.name, []).append(entry)
        self.families = Families(families)

    # -- listing ---------------------------------------------------------

    def entries(self, kind: str) -> list[Entry]:
        """Every usable entry of ``kind``, sorted by name (conflicting names excluded)."""
        return [found[0] for name, found in sorted(self._entries[kind].items()) if len(found) == 1]

    def names(self, kind: str) -> list[str]:
        return [entry.name for entry in self.entries(kind)]

    def conflicts(self, kind: str) -> dict[str, list[str]]:
        """Names that two or more plugins claim -> those plugins."""
        return {
            name: [e.plugin for e in found] for name, found in sorted(self._entries[kind].items()) if len(found) > 1
        }

    # -- lookup ----------------------------------------------------------

    def get(self, kind: str, name: str) -> Entry:
        """The entry called ``name`` (a family's member resolved on first use); a clear error naming close
        matches or both claimants."""
        found = self._entries[kind].get(name)
        if found and len(found) == 1:
            return found[0]
        if not found and (family := self.families.of(kind, name)) is not None:
            # raises, with the family's close names, when it has no such member
            entry = Entry(kind, self.families.resolve(family, name), family.plugin)
            self._entries[kind][name] = [entry]
            return entry
        if found:
            claimants = " and ".join(f"plugin {e.plugin!r}" for e in found)
            raise DuplicateNameError(f"{kind} {name!r} is provided by both {claimants}; block one with -p no:PLUGIN")
        blocked = self.blocked_providers(kind, lambda provided: provided == name)
        if blocked:
            raise UnknownNameError(f"{kind} {name!r} is {_blocked_note(blocked)}")
        message = f"unknown {kind} {name!r}{did_you_mean(name, self._entries[kind])}"
        broken = self.plugins.unavailable()
        if broken:
            message += "; unavailable plugins: " + "; ".join(f"{i.name} ({i.error})" for i in broken)
        elif not did_you_mean(name, self._entries[kind]):
            message += f"; available: {', '.join(self.names(kind)) or 'none'}"
        raise UnknownNameError(message)

    def select(self, kind: str, pattern: str) -> list[str]:
        """Names matching ``pattern`` (a name or a shell wildcard); an error when none does."""
        if not any(c in pattern for c in "*?"):
            return [self.get(kind, pattern).name]
        if (family := self.families.of(kind, pattern)) is not None:  # only a pattern under its prefix lists a zoo
            return self.families.select(family, pattern)
        matched = [name for name in self.names(kind) if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            blocked = self.blocked_providers(kind, lambda provided: fnmatch.fnmatchcase(provided, pattern))
            if blocked:
                names = sorted({name for names in blocked.values() for name in names})
                hidden = f"{', '.join(names)} {'is' if len(names) == 1 else 'are'} {_blocked_note(blocked)}"
                raise UnknownNameError(f"no {kind} matches {pattern!r}: {hidden}")
            raise UnknownNameError(f"no {kind} matches {pattern!r}; available: {', '.join(self.names(kind)) or 'none'}")
        return matched

    def blocked_providers(self, kind: str, matches: Callable[[str], bool]) -> dict[str, list[str]]:
        """Blocked plugin -> its names of ``kind`` that ``matches``: why a name is missing when a block hides it.

        Imports the blocked plugins (in a throwaway manager), so it is only called on the way to an error.
        """
        found = {}
        for plugin, specs in self.plugins.call_blocked(f"harness_register_{kind}s").items():
            names = sorted({spec.name for spec in specs if isinstance(spec, SPEC_TYPES[kind]) and matches(spec.name)})
            if names:
                found[plugin] = names
        return found


def _blocked_note(providers: dict[str, list[str]]) -> str:
    """The end of an unknown-name error when blocked plugins provide the name: which, and the option blocking each."""
    options = " ".join(f"-p no:{plugin}" for plugin in providers)
    if len(providers) == 1:
        return f"provided by plugin {next(iter(providers))!r}, which is blocked ({options})"
    return f"provided by plugins {' and '.join(map(repr, providers))}, which are blocked ({options})"


def load_registry(plugins=(), blocked=()) -> Registry:
    """Plugins discovered (entry points, then the local ``plugins`` paths; ``blocked`` skipped) and their specs
    collected: what ``harness list`` and every sweep look names up in."""
    return Registry(load_plugins(paths=plugins, blocked=blocked))
