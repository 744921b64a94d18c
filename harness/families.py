"""Families of models and optimizers a plugin resolves by name when one is used: zoos (``timm/resnet18``).

A zoo holds hundreds or thousands of names, and importing its package takes
seconds; a plugin registers it as one :class:`~harness.specs.FamilySpec`
instead of one spec per name. The registry (:mod:`harness.registry`) asks a
family for a member only when a name under its prefix is used, lists its
names only for a wildcard under that prefix (``timm/*vit*``) or to suggest
close ones for a typo, and ``harness list`` shows it as one line. How many
names a family has is remembered per installed version of its package, so
the list states it without importing the package again.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.errors import UnknownNameError, did_you_mean, one_line
from harness.specs import SPEC_TYPES, SpecError

#: The kind of registry entry a family is.
FAMILY = "family"
#: The cache file of the families' sizes: "prefix version" -> how many names.
SIZES_FILE = "family-sizes.json"


@dataclass(frozen=True)
class FamilySpec:
    """A family of models or optimizers a plugin resolves by name when one is used: a zoo (``timm/resnet18``).

    Registering a thousand specs would import the zoo's package (seconds) for every ``harness list``;
    a family is one line instead. Every member's name starts with ``prefix`` (``"timm/"``).
    ``resolve(name)`` returns the :class:`ModelSpec` (or :class:`OptimizerSpec`) of the member ``name``,
    prefix included, or None when there is no such member; it is called only when a run or
    ``harness show`` names one, so the zoo is imported then. ``names()`` returns every member's name,
    prefix included: what a wildcard (``timm/*vit*``) expands against and a mistyped name is matched
    with. ``distribution`` names the package the members come from (``"timm"``): its version is read
    from the installed metadata without importing it, and keys the cached count ``harness list`` shows.
    ``check()``, when given, says why the family cannot be used here (the package is not installed), or
    returns None; it must be cheap. Use :func:`lazy` for ``resolve`` and ``names``.
    """

    kind: str
    prefix: str
    resolve: Callable[[str], Any]
    names: Callable[[], Any]
    description: str = ""
    distribution: str | None = None
    check: Callable[[], str | None] | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("model", "optimizer"):
            raise SpecError(f"family {self.prefix!r}: kind must be 'model' or 'optimizer', got {self.kind!r}")
        if not self.prefix.endswith("/") or len(self.prefix) < 2 or any(c in self.prefix for c in "*?[],= "):
            raise SpecError(f"family {self.prefix!r}: a prefix is a plain name ending in '/', e.g. 'timm/'")
        for field_name in ("resolve", "names"):
            if not callable(getattr(self, field_name)):
                raise SpecError(f"family {self.prefix!r}: {field_name} must be callable")

    def member(self, name: str) -> bool:
        """Whether ``name`` (or a pattern) is in this family's part of the namespace."""
        return name.startswith(self.prefix) and len(name) > len(self.prefix)


class FamilyError(UnknownNameError):
    """A family's member cannot be had: the family is unavailable here, or its plugin failed to resolve it."""


class Families:
    """The families of the available plugins, by kind; each family's names read once per process.

    ``entries`` are registry entries (``kind``, ``spec`` a :class:`FamilySpec`, ``plugin``).
    """

    def __init__(self, entries: list):
        self.entries = sorted(entries, key=lambda entry: entry.spec.prefix)
        self._names: dict[str, list[str]] = {}

    def of_kind(self, kind: str) -> list:
        return [entry for entry in self.entries if entry.spec.kind == kind]

    def of(self, kind: str, name: str):
        """The family ``name`` (or a pattern) belongs to, by the longest prefix it starts with, or None."""
        found = [entry for entry in self.of_kind(kind) if entry.spec.member(name)]
        return max(found, key=lambda entry: len(entry.spec.prefix)) if found else None

    def unavailable(self, entry) -> str | None:
        """Why the family cannot be used here (its own check), or None."""
        check = entry.spec.check
        if check is None:
            return None
        try:
            return check()
        except Exception as exc:  # a broken check is the plugin's bug, reported as the reason
            return f"its check raised {one_line(exc)}"

    def _usable(self, entry, what: str) -> None:
        if (why := self.unavailable(entry)) is not None:
            spec = entry.spec
            raise FamilyError(
                f"{spec.kind} {what}: the {spec.prefix} family (plugin {entry.plugin!r}) is unavailable: {why}"
            )

    def names(self, entry) -> list[str]:
        """Every member's name, sorted; read from the family once per process, and its size remembered."""
        prefix = entry.spec.prefix
        if prefix not in self._names:
            self._usable(entry, f"{prefix}*")
            try:
                names = sorted({str(name) for name in entry.spec.names()})
            except Exception as exc:
                raise FamilyError(f"the {prefix} family (plugin {entry.plugin!r}) failed to list its names: "
                                  f"{one_line(exc)}") from None  # fmt: skip
            self._names[prefix] = [name for name in names if name.startswith(prefix)]
            remember_size(entry.spec, len(self._names[prefix]))
        return self._names[prefix]

    def resolve(self, entry, name: str) -> Any:
        """The spec of the member ``name``; an error with the family's close names when there is none."""
        spec = entry.spec
        self._usable(entry, repr(name))
        try:
            found = spec.resolve(name)
        except Exception as exc:
            raise FamilyError(f"{spec.kind} {name!r}: the {spec.prefix} family (plugin {entry.plugin!r}) failed to "
                              f"resolve it: {one_line(exc)}") from None  # fmt: skip
        if found is None:
            raise UnknownNameError(f"unknown {spec.kind} {name!r}{did_you_mean(name, self.names(entry))}; "
                                   f"`harness list {spec.kind}s '{spec.prefix}*'` lists the family")  # fmt: skip
        expected = SPEC_TYPES[spec.kind]
        if not isinstance(found, expected) or found.name != name:
            got = f"{type(found).__name__} {getattr(found, 'name', '')!r}".strip()
            raise FamilyError(f"{spec.kind} {name!r}: the {spec.prefix} family (plugin {entry.plugin!r}) resolved it "
                              f"to {got}, not a {expected.__name__} named {name!r}")  # fmt: skip
        return found

    def select(self, entry, pattern: str) -> list[str]:
        """The members matching the wildcard ``pattern``; an error when none does."""
        matched = [name for name in self.names(entry) if fnmatch.fnmatchcase(name, pattern)]
        if not matched:
            raise UnknownNameError(f"no {entry.spec.kind} of the {entry.spec.prefix} family matches {pattern!r}")
        return matched


def version_of(spec: FamilySpec) -> str | None:
    """The installed version of the family's package, read from its metadata (no import), or None."""
    if not spec.distribution:
        return None
    from importlib import metadata

    try:
        return metadata.version(spec.distribution)
    except metadata.PackageNotFoundError:
        return None


def _sizes_path():
    from harness.data import cache_dir

    return cache_dir() / SIZES_FILE


def _size_key(spec: FamilySpec) -> str:
    return f"{spec.prefix} {version_of(spec) or 'unversioned'}"


def remember_size(spec: FamilySpec, size: int) -> None:
    """Keep how many names the family has at its package's installed version; a cache that cannot be written
    only means the next list does not show the number."""
    from harness.data import write_atomically

    path = _sizes_path()
    sizes = _read_sizes(path)
    if sizes.get(_size_key(spec)) == size:
        return
    sizes[_size_key(spec)] = size
    try:
        write_atomically(path, lambda tmp: tmp.write_text(json.dumps(sizes, indent=1, sort_keys=True)))
    except OSError:
        pass


def _read_sizes(path) -> dict:
    try:
        sizes = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return sizes if isinstance(sizes, dict) else {}


def known_size(spec: FamilySpec) -> int | None:
    """How many names the family had when they were last listed at this version of its package, or None."""
    size = _read_sizes(_sizes_path()).get(_size_key(spec))
    return size if isinstance(size, int) else None


def summary(entry, families: Families) -> str:
    """The line ``harness list`` shows for a family: '1,234 architectures from timm 1.0.31', or why it is unusable."""
    spec = entry.spec
    version = version_of(spec)
    source = f" ({spec.distribution} {version})" if version else ""
    size = known_size(spec)
    count = f"{size:,} " if size is not None else ""
    hint = "" if size is not None else f"; `harness list {spec.kind}s '{spec.prefix}*'` lists them"
    return f"{count}{spec.description or 'names'}{source}{hint}"


__all__ = ["FAMILY", "Families", "FamilyError", "FamilySpec", "known_size", "remember_size", "summary", "version_of"]
