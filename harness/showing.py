"""What ``harness show NAME`` tells about one model, dataset or optimizer, as plain data and as text.

A plugin author or a user about to write ``mlp[hidden=[256,128]]`` needs the
parameters a spec takes, their types and defaults, what a tuning searches,
and, for a model, which datasets it can train on here and why not the
others; today they learn it by mistyping an override. Everything here is read
from the specs the plugins registered: nothing is built, nothing is imported
beyond the plugins themselves (a family's member is resolved, which imports
its zoo).
"""

from __future__ import annotations

import json
from typing import Any

from harness.errors import UnknownNameError, did_you_mean
from harness.specs import KINDS, unavailable_reason


def type_name(value: Any) -> str:
    """The type an override must have, as the override checker reads a default (None takes anything)."""
    if value is None:
        return "any"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def _searched(param) -> str:
    """A search range as ``harness tune`` reads it: '1e-05..0.1 log', 'relu|tanh', '1-x 0.001..0.5 log'."""
    if param.kind == "choice":
        return "|".join(str(choice) for choice in param.choices)
    flags = (" log" if param.log else "") + (" int" if param.kind == "int" else "")
    return f"{'1-x ' if param.one_minus else ''}{param.low:g}..{param.high:g}{flags}"


def parameters(spec) -> list[dict]:
    """Every parameter a spec declares: name, type, default and the range a tuning searches (None: not searched)."""
    space = getattr(spec, "search_space", {}) or {}
    rows = []
    for name, default in (spec.defaults or {}).items():
        searched = [(key, param) for key, param in space.items() if key == name or key.startswith(f"{name}[")]
        text = "; ".join((f"{key}: " if key != name else "") + _searched(param) for key, param in searched)
        rows.append({"name": name, "type": type_name(default), "default": default, "search": text or None})
    # a schedule's parameter, searched only for runs with that schedule (its default is the schedule's)
    rows += [{"name": key, "type": "schedule", "default": None, "search": _searched(param)}
             for key, param in space.items() if key.startswith("schedule.")]  # fmt: skip
    return rows


def find(registry, name: str, kind: str | None = None) -> tuple[str, Any]:
    """``(kind, entry)`` of ``name``: in ``kind``, or the one kind that has it; an error listing close names."""
    kinds = [kind] if kind else list(KINDS)
    found = []
    for each in kinds:
        if name in registry.names(each) or registry.families.of(each, name) is not None:
            found.append((each, registry.get(each, name)))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise UnknownNameError(f"{name!r} is a {' and a '.join(k for k, _ in found)}: say which with --kind")
    known = [n for each in kinds for n in registry.names(each)]
    raise UnknownNameError(f"no {kind or 'model, dataset or optimizer'} is called {name!r}{did_you_mean(name, known)}")


def _pairs(registry, kind: str, spec) -> dict:
    """For a model, the datasets it can train on here and why not the others; for a dataset, the models."""
    if kind == "optimizer":
        return {}
    other = "dataset" if kind == "model" else "model"
    usable, not_usable = [], {}
    for entry in registry.entries(other):
        model, dataset = (spec, entry.spec) if kind == "model" else (entry.spec, spec)
        reason = unavailable_reason(entry.spec) or model.incompatibility(dataset)
        if reason:
            not_usable[entry.name] = reason
        else:
            usable.append(entry.name)
    return {f"{other}s": usable, f"not_{other}s": not_usable}


def describe(registry, name: str, kind: str | None = None) -> dict:
    """Everything ``harness show`` prints about ``name``, as JSON-ready data."""
    kind, entry = find(registry, name, kind)
    spec = entry.spec
    info = registry.plugins.infos.get(entry.plugin)
    shown = {
        "kind": kind,
        "name": spec.name,
        "plugin": entry.plugin,
        "distribution": getattr(info, "dist", None),
        "version": getattr(info, "version", None),
        "description": spec.description,
        "unavailable": unavailable_reason(spec),
        "parameters": parameters(spec),
    }
    if kind == "model":
        shown |= {"tasks": list(spec.tasks), "modalities": list(spec.modalities)}
    elif kind == "dataset":
        shown |= {"task": spec.task, "modality": spec.modality, "synthetic": spec.synthetic}
    references = getattr(spec, "references", ())
    if references:
        shown["references"] = [{"value": r.value, "source": r.source, "metric": r.metric} for r in references]
    return shown | _pairs(registry, kind, spec)


def render(shown: dict) -> str:
    """``describe``'s data as the text ``harness show`` prints."""
    from tabulate import tabulate

    version = f" {shown['version']}" if shown.get("version") else ""
    where = f"plugin {shown['plugin']}" + (f", {shown['distribution']}{version}" if shown.get("distribution") else "")
    lines = [f"{shown['kind']} {shown['name']} ({where})"]
    if shown["description"]:
        lines.append(f"  {shown['description']}")
    if shown["unavailable"]:
        lines.append(f"  unavailable here: {shown['unavailable']}")
    if "tasks" in shown:
        lines.append(f"  tasks: {', '.join(shown['tasks'])}; modalities: {', '.join(shown['modalities'])}")
    if "task" in shown:
        lines.append(f"  task: {shown['task']}; modality: {shown['modality']}" + (" (synthetic)" * shown["synthetic"]))
    rows = [[p["name"], p["type"], "-" if p["type"] == "schedule" else json.dumps(p["default"]), p["search"] or "-"]
            for p in shown["parameters"]]  # fmt: skip
    lines += ["", tabulate(rows, headers=["parameter", "type", "default", "searched by harness tune"])] if rows else []
    for reference in shown.get("references", ()):
        metric = reference["metric"] or "test metric"
        value = "computed when a report first needs it" if reference["value"] is None else reference["value"]
        lines.append(f"  reference: {metric} {value} ({reference['source']})")
    for other, title in (("datasets", "datasets it can train on here"), ("models", "models that can train on it here")):
        if other in shown:
            lines.append(f"\n{title}: {', '.join(shown[other]) or 'none'}")
            lines += [f"  not {name}: {why}" for name, why in shown[f"not_{other}"].items()]
    return "\n".join(lines)


__all__ = ["describe", "find", "parameters", "render", "type_name"]
