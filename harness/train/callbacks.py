"""The callbacks plugins add to a run (``harness_run_callbacks``), each plugin's hook called on its own.

Called through pluggy all at once, one plugin whose hook raises or returns
something other than a list of Lightning callbacks would fail every run of a
sweep with an error that names nobody. Called one by one, such a plugin is
dropped instead: for the rest of this process its hook is not called again,
one line on stderr names the plugin and the hook, the runs go on without its
callbacks, and every record trained here afterwards says so (provenance
``dropped_plugins``, plugin name -> why).
"""

from __future__ import annotations

import sys

from harness.errors import one_line
from harness.train.lazy_lightning import is_lightning_callback

HOOK = "harness_run_callbacks"

#: This process's dropped plugins: name -> (the plugin object that was dropped, why). The object is kept so that a
#: plugin loaded afresh under the same name (a fixed file, a new registry) is called again.
_DROPPED: dict[str, tuple[object, str]] = {}


def _problem(value) -> str | None:
    """Why a hook's return value is not a list of callbacks; None when it is one (or None: no callbacks)."""
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        return f"{HOOK} returned {type(value).__name__}, not a list"
    for item in value:  # a Lightning Callback exists only where its plugin imported Lightning: none is imported here
        if not is_lightning_callback(item):
            return f"{HOOK} returned a list holding a {type(item).__name__}, not a Lightning Callback"
    return None


def _is_dropped(impl) -> bool:
    dropped = _DROPPED.get(impl.plugin_name)
    return dropped is not None and dropped[0] is impl.plugin


def _drop(impl, why: str) -> None:
    _DROPPED[impl.plugin_name] = (impl.plugin, why)
    print(
        f"harness: warning: plugin {impl.plugin_name}: {why}; its callbacks are left out of this process's runs",
        file=sys.stderr,
        flush=True,
    )


def plugin_callbacks(registry, config) -> list:
    """The callbacks every plugin adds to the run of ``config``, in pluggy's order; a broken plugin is dropped."""
    callbacks: list = []
    arguments = {"config": config}
    for impl in reversed(getattr(registry.plugins.pm.hook, HOOK).get_hookimpls()):  # pluggy calls the last first
        if impl.hookwrapper or impl.wrapper or _is_dropped(impl):
            continue
        try:
            value = impl.function(*(arguments[name] for name in impl.argnames))
        except Exception as exc:  # a plugin's bug is reported and dropped, never the run's failure
            _drop(impl, f"{HOOK} raised {one_line(exc)}")
            continue
        if (why := _problem(value)) is not None:
            _drop(impl, why)
            continue
        callbacks.extend(value or ())
    return callbacks


def dropped_plugins(registry) -> dict[str, str]:
    """The plugins of ``registry`` dropped in this process: name -> why."""
    pm = registry.plugins.pm
    return {name: why for name, (plugin, why) in _DROPPED.items() if pm.get_plugin(name) is plugin}


__all__ = ["HOOK", "dropped_plugins", "plugin_callbacks"]
