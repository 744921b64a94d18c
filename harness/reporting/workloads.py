"""The keys cells compete under, for many cells at once: cut from the text of their settings, not re-encoded.

A cell's settings are canonical JSON (:func:`harness.records.canonical`, as
:func:`harness.reporting.frames.runs_frame` writes them: sorted keys, the
default separators), so the text of the same settings without some keys, or
with one more, is the original text with those members cut out or spliced in:
:func:`edited_texts` and :func:`selected_texts` do that with a few string
searches per cell, the same for every cell with the same keys. A cell where a
key's text also appears nested (so no search could be sure which member it
found) or whose text does not have the canonical layout is re-encoded with
``canonical`` instead. Either way the result is what ``canonical`` of the
edited settings gives, character for character.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from harness.records import canonical

_FIRST = ""  # the start of the first member, right after '{'


def parse_settings(texts: list[str]) -> list[dict]:
    """``json.loads`` of every text, in one parse when they allow it."""
    try:
        parsed = json.loads("[" + ",".join(texts) + "]")
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, list) or len(parsed) != len(texts):
        parsed = [json.loads(text) for text in texts]
    return parsed


def _token(key: str) -> str:
    return json.dumps(key) + ": "


def _locate(text: str, tokens: Iterable[str]) -> dict[str, int] | None:
    """Where each member token starts in ``text``; None if one is missing, not unique or not after ', '."""
    found = {}
    for token in tokens:
        at = text.find(token)
        if at < 2 or text.find(token, at + 1) >= 0 or text[at - 2 : at] != ", ":
            return None
        found[token] = at
    return found


class _Plan:
    """How to cut one set of keys' text: ``pieces`` are ``(start token, stop token)`` spans (``_FIRST`` is the
    first member, a stop of None the end) or None where the spliced-in member goes; ``needed`` the tokens to find."""

    def __init__(self, pieces: list, needed: set[str]):
        self.pieces, self.needed = pieces, needed

    def cut(self, text: str, at: dict[str, int], inserted: str | None = None) -> str:
        parts = []
        for piece in self.pieces:
            if piece is None:
                parts.append(inserted)
                continue
            start, stop = piece
            parts.append(text[1 if start == _FIRST else at[start] : len(text) - 1 if stop is None else at[stop] - 2])
        return "{" + ", ".join(parts) + "}"


def _edit_plan(keys: tuple[str, ...], drop: frozenset, key: str) -> _Plan:
    """The pieces of ``keys``' text without ``drop`` (and ``key``), with ``key``'s member in its sorted place."""
    pieces, needed, start, placed = [], set(), None, False
    for position, name in enumerate(keys):
        if not placed and name > key:
            if start is not None:  # close the run before the new member
                pieces.append((start, _token(name)))
                needed.add(_token(name))
                start = None
            pieces.append(None)
            placed = True
        if name in drop or name == key:
            if start is not None:
                pieces.append((start, _token(name)))
                needed.add(_token(name))
                start = None
        elif start is None:
            start = _FIRST if position == 0 else _token(name)
            if position:
                needed.add(start)
    if start is not None:
        pieces.append((start, None))
    if not placed:
        pieces.append(None)
    return _Plan(pieces, needed)


def _select_plan(keys: tuple[str, ...], fields: tuple[str, ...]) -> _Plan:
    """The pieces of ``{field: value or null}``: ``(token, (value start, stop))``, or ``(token, None)`` for null."""
    at = {name: position for position, name in enumerate(keys)}
    pieces, needed = [], set()
    for field in sorted(fields):
        if field not in at:
            pieces.append((_token(field), None))
            continue
        position = at[field]
        start = _FIRST if position == 0 else _token(field)
        stop = _token(keys[position + 1]) if position + 1 < len(keys) else None
        needed.update(token for token in (start, stop) if token not in (_FIRST, None))
        pieces.append((_token(field), (start, stop)))
    return _Plan(pieces, needed)


def _selected(plan: _Plan, text: str, at: dict[str, int]) -> str:
    """The ``{field: value}`` text a select plan describes, its values cut from ``text``."""
    parts = []
    for token, span in plan.pieces:
        if span is None:
            parts.append(token + "null")
            continue
        start, stop = span
        begin = (1 if start == _FIRST else at[start]) + len(token)
        parts.append(token + text[begin : len(text) - 1 if stop is None else at[stop] - 2])
    return "{" + ", ".join(parts) + "}"


class _Cutter:
    """The plans for one set of keys (sorted, as canonical text has them), and the tokens they all need."""

    def __init__(self, keys: tuple[str, ...], edits: list[tuple[frozenset, str]], fields: tuple[str, ...] | None):
        self.usable = list(keys) == sorted(keys)
        self.opening = "{" + _token(keys[0]) if keys else None
        self.edits = [_edit_plan(keys, drop, key) for drop, key in edits]
        self.select = _select_plan(keys, fields) if fields is not None else None
        plans = [*self.edits, *([self.select] if self.select else [])]
        self.needed = set().union(*(plan.needed for plan in plans))

    def positions(self, text: str) -> dict[str, int] | None:
        """Where the needed members start; None when the text is not laid out canonically or a search is unsure."""
        if not self.usable or not text.endswith("}"):
            return None
        if not (text == "{}" if self.opening is None else text.startswith(self.opening)):
            return None
        return _locate(text, self.needed)


def cell_keys(
    texts: list[str], settings: list[dict], edits: list[tuple[tuple[str, ...], str, list]], fields=None
) -> tuple[list[list[str]], list[str] | None]:
    """For each cell's settings ``s`` (canonical ``texts``, parsed ``settings``): per edit ``(drop, key, values)``
    ``canonical({**{k: v for k, v in s.items() if k not in drop}, key: value})``, and with ``fields``
    ``canonical({k: s.get(k) for k in fields})``, all from one search of each text."""
    specs = [(frozenset(drop), key) for drop, key, _ in edits]
    tokens = [_token(key) for _, key in specs]
    cutters: dict[tuple, _Cutter] = {}
    value_texts: dict = {}
    edited: list[list[str]] = [[] for _ in edits]
    selected: list[str] | None = [] if fields is not None else None
    for position, (text, parsed) in enumerate(zip(texts, settings, strict=True)):
        keys = tuple(parsed)
        cutter = cutters.get(keys)
        if cutter is None:
            cutter = cutters[keys] = _Cutter(keys, specs, fields)
        at = cutter.positions(text)
        for out, plan, token, (drop, key), (_, _, values) in zip(
            edited, cutter.edits, tokens, specs, edits, strict=True
        ):
            value = values[position]
            if at is None:
                out.append(canonical({**{k: v for k, v in parsed.items() if k not in drop}, key: value}))
                continue
            if isinstance(value, str):
                if value not in value_texts:
                    value_texts[value] = canonical(value)
                value_text = value_texts[value]
            else:
                value_text = canonical(value)
            out.append(plan.cut(text, at, token + value_text))
        if selected is not None:
            chosen = None if at is None else _selected(cutter.select, text, at)
            selected.append(canonical({k: parsed.get(k) for k in fields}) if chosen is None else chosen)
    return edited, selected


def edited_texts(texts: list[str], settings: list[dict], drop: tuple[str, ...], key: str, values: list) -> list[str]:
    """``canonical({**{k: v for k, v in s.items() if k not in drop}, key: value})`` for each cell's settings ``s``
    (``texts`` their canonical texts, ``values`` one per cell)."""
    (edited,), _ = cell_keys(texts, settings, [(drop, key, values)])
    return edited


def selected_texts(texts: list[str], settings: list[dict], fields: tuple[str, ...]) -> list[str]:
    """``canonical({k: s.get(k) for k in fields})`` for each cell's settings ``s`` (``texts``: their texts)."""
    _, selected = cell_keys(texts, settings, [], fields)
    return selected
