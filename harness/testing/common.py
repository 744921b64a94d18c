"""What every check shares: the outcome a spec that cannot be used here gets, finding a spec, naming it in a failure.

A check passes by returning, fails with an ``AssertionError`` whose message
names the plugin, the spec and what went wrong, and raises :class:`Unavailable`
when the spec cannot be tried on this machine (its ``check()`` gave a reason):
that is a skip, not a failure. Nothing here imports torch.
"""

from __future__ import annotations

import functools

from harness.registry import Entry, Registry, load_registry
from harness.specs import SPEC_TYPES, unavailable_reason

#: The plugin a spec that was handed in directly, not found in the registry, is reported as.
UNREGISTERED = "(unregistered)"


class Unavailable(Exception):
    """A spec that cannot be checked here, with the reason its ``check()`` gave (missing files, a missing package).

    Not a failure of the plugin: :func:`harness.testing.parametrize_with_checks` turns it into ``pytest.skip``.
    """


@functools.lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Every installed plugin (entry points), loaded once per process: the registry a check uses when given none."""
    return load_registry()


def resolve(kind: str, spec_or_name, registry: Registry) -> Entry:
    """The registry entry for a name (or an :class:`Entry`), or for a spec object; a spec the registry does not hold
    is checked as it is, reported as :data:`UNREGISTERED`."""
    if isinstance(spec_or_name, Entry):
        return spec_or_name
    if isinstance(spec_or_name, str):
        return registry.get(kind, spec_or_name)
    if not isinstance(spec_or_name, SPEC_TYPES[kind]):
        raise TypeError(f"expected a {kind} name or a {SPEC_TYPES[kind].__name__}, got {spec_or_name!r}")
    found = [entry for entry in registry.entries(kind) if entry.spec is spec_or_name]
    return found[0] if found else Entry(kind, spec_or_name, UNREGISTERED)


def describe(entry: Entry) -> str:
    """ "model 'mlp' of plugin 'harness_dense'": how a failure names what failed."""
    return f"{entry.kind} {entry.name!r} of plugin {entry.plugin!r}"


def failure(entry: Entry, what: str, cause: BaseException | None = None) -> AssertionError:
    """The AssertionError of a check: the spec, its plugin and ``what`` went wrong (with ``cause``'s one line)."""
    if cause is not None:
        from harness.errors import one_line

        what = f"{what}: {one_line(cause)}"
    return AssertionError(f"{describe(entry)}: {what}")


def require_usable(entry: Entry, params: dict | None = None) -> None:
    """Raise :class:`Unavailable` with the spec's own reason when its ``check()`` says it cannot be used here."""
    reason = unavailable_reason(entry.spec, params if params is not None else dict(entry.spec.defaults))
    if reason:
        raise Unavailable(f"{entry.kind} {entry.name} (plugin {entry.plugin}) is unavailable here: {reason}")


def accepts_defaults(entry: Entry) -> None:
    """A spec's ``validate`` must allow its own defaults, else it could never be used as declared."""
    validate = getattr(entry.spec, "validate", None)
    if validate is None:
        return
    try:
        reason = validate(dict(entry.spec.defaults))
    except Exception as exc:
        raise failure(entry, "validate() raised on its own defaults (it must return a reason, not raise)", exc) from exc
    if reason is not None:
        raise failure(entry, f"validate() refuses its own defaults {dict(entry.spec.defaults)!r}: {reason}")
