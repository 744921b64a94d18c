"""English <-> Spanish Bible verses: a real parallel corpus that ships as Debian packages.

The World English Bible (SWORD module ``engWEB2015eb``, package
sword-text-web) and the Reina-Valera 1909 (``spaRV1909eb``, package
sword-text-sparv) are both public domain. pysword reads their zText files;
verses are aligned by book, chapter and verse number over the books both hold
(the 66 of the Protestant canon: the WEB's deuterocanon has no Spanish side),
OSIS markup is stripped (footnotes, section headings and speaker labels are
dropped; canonical psalm titles are kept, as both versions put them in verse 1).
Where the two versifications (NRSVA and KJV) number a verse differently the
pair is misaligned; a length-ratio check drops them (about 190 of 31,077 pairs).

Extraction takes a second or two; the aligned pairs are cached as JSON under
``harness.data.cache_dir("bible")`` anyway, so a sweep never repeats it.
"""

from __future__ import annotations

import functools
import html
import json
import math
import os
import re
from pathlib import Path

import torch

from harness.data import cache_dir, fixed_split
from harness.specs import DatasetSplits
from harness.vocab import word_tokens
from harness_translation.corpus import build_splits
from harness_translation.sword import ENGLISH, INSTALL, SPANISH, missing_reason, sword_path

#: bump when the extraction or cleaning changes, so stale caches are not read
CACHE_VERSION = 2
DIRECTIONS = ("en-es", "es-en")


# ---------------------------------------------------------------------------
# OSIS markup -> plain text
# ---------------------------------------------------------------------------

#: elements whose content is not verse text: footnotes, section headings, speaker labels (Song of Songs)
_DROPPED = re.compile(r"<(note|speaker)\b[^>]*>.*?</\1>|<title\b(?![^>]*canonical=\"true\")[^>]*>.*?</title>", re.S)
#: structural elements (poetry lines, paragraphs, list items) separate words; inline ones (<w>) do not
_BREAKS = re.compile(r"</?(l|lg|lb|div|chapter|milestone|item|list|p|title)\b[^>]*>")
_TAG = re.compile(r"<[^>]+>")
_SPACE_BEFORE = re.compile(r"\s+([,.;:!?’”)\]])")
_SPACE_AFTER = re.compile(r"([“‘(\[¡¿])\s+")


def clean_osis(text: str) -> str:
    """One verse's OSIS markup -> its plain text, single-spaced."""
    text = _DROPPED.sub(" ", text)
    text = _BREAKS.sub(" ", text)
    text = html.unescape(_TAG.sub("", text))
    text = " ".join(text.split())
    return _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", text))


def _verse_text(raw: str) -> str:
    """A verse's text, without what SWORD appends to a book's last verse (the WEB's glossary after Revelation)."""
    end = re.search(r"<div\b[^>]*\beID=[^>]*type=\"book\"|<div\b[^>]*type=\"book\"[^>]*\beID=", raw)
    return clean_osis(raw[: end.start()] if end else raw)


def read_module(modules, key: str) -> dict:
    """``{(book, chapter, verse): text}`` for every non-empty verse of a SWORD Bible module."""
    bible = modules.get_bible_from_module(key)
    # pysword inflates a module's whole compressed block (a book) again for every verse it reads;
    # remembering the last few blocks makes reading a Bible take a second instead of a minute.
    if hasattr(bible, "_decompressed_text"):
        bible._decompressed_text = functools.lru_cache(maxsize=4)(bible._decompressed_text)
    verses = {}
    for books in bible.get_structure().get_books().values():
        for book in books:
            refs = [(c + 1, v + 1) for c, n in enumerate(book.chapter_lengths) for v in range(n)]
            texts = list(bible.get_iter(books=[book.name], clean=False))
            if len(texts) != len(refs):
                raise RuntimeError(f"{key} {book.osis_name}: read {len(texts)} verses, expected {len(refs)}")
            for (chapter, verse), raw in zip(refs, texts, strict=True):
                text = _verse_text(raw)
                if text:
                    verses[(book.osis_name, chapter, verse)] = text
    return verses


def extract_pairs(path: Path | None = None) -> list[list]:
    """``[book, chapter, verse, english, spanish]`` for every verse both modules hold, in canonical order."""
    from pysword.modules import SwordModules

    modules = SwordModules(str(path or sword_path()))
    found = modules.parse_modules()
    missing = [m for m in (ENGLISH, SPANISH) if m not in found]
    if missing:
        raise FileNotFoundError(f"SWORD module(s) {', '.join(missing)} not found in {path or sword_path()}: {INSTALL}")
    english, spanish = read_module(modules, ENGLISH), read_module(modules, SPANISH)
    return well_aligned([[*ref, english[ref], spanish[ref]] for ref in spanish if ref in english])


def _log_ratio(english: str, spanish: str) -> float:
    return abs(math.log((len(word_tokens(spanish)) + 1) / (len(word_tokens(english)) + 1)))


def well_aligned(rows: list[list], chapter_limit: float = 0.3, verse_limit: float = math.log(2)) -> list[list]:
    """Drop the pairs that numbering differences misalign, judged by their token-length ratio.

    A translation's length tracks its source's (the median verse differs by
    11%). Where one module numbers a chapter differently (Hebrew vs English
    numbering: Jonah 2, Numbers 13, 1 Samuel 24, ...), every verse of the
    chapter is shifted and the mean |log length ratio| of the chapter jumps
    from ~0.1 to over 0.3: such chapters go, and so does any single pair
    where one side is more than twice as long as the other.
    """
    chapters: dict[tuple, list[float]] = {}
    ratios = [_log_ratio(row[3], row[4]) for row in rows]
    for row, ratio in zip(rows, ratios, strict=True):
        chapters.setdefault((row[0], row[1]), []).append(ratio)
    shifted = {key for key, values in chapters.items() if sum(values) / len(values) > chapter_limit}
    return [row for row, r in zip(rows, ratios, strict=True) if r <= verse_limit and (row[0], row[1]) not in shifted]


def load_pairs(path: Path | None = None) -> list[list]:
    """The aligned verses, from the cache when it is there (written atomically after the first extraction)."""
    cache = cache_dir("bible") / f"{ENGLISH}-{SPANISH}-v{CACHE_VERSION}.json"
    if cache.exists():
        return json.loads(cache.read_text(encoding="utf-8"))
    pairs = extract_pairs(path)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(pairs, ensure_ascii=False), encoding="utf-8")
    partial.replace(cache)
    return pairs


def load_bible(
    direction="en-es",
    max_length=25,
    min_freq=2,
    max_size=10000,
    val_fraction=0.05,
    test_fraction=0.05,
    split_seed=0,
    limit=None,
) -> DatasetSplits:
    """Word-level verse pairs scored by BLEU (and chrF), vocabularies from the training split only.

    ``max_length`` counts tokens (words and punctuation marks) per side;
    longer verses are dropped so an LSTM trains in reasonable time on a CPU.
    The split is a seeded shuffle of verses, not of books: the test verses
    come from the same books (and often the same chapters) as the training
    ones, so this measures translation within a known domain. ``limit``
    keeps a fixed seeded sample of that many pairs, for quick runs.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}")
    reason = missing_reason()
    if reason:
        raise FileNotFoundError(reason)
    rows = load_pairs()
    pairs = []
    for book, chapter, verse, english, spanish in rows:
        if max(len(word_tokens(english)), len(word_tokens(spanish))) <= max_length:
            pair = (english, spanish) if direction == "en-es" else (spanish, english)
            pairs.append((pair, f"{book} {chapter}:{verse}"))
    if limit is not None and int(limit) < len(pairs):
        keep = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(split_seed))[: int(limit)]
        pairs = [pairs[i] for i in sorted(keep.tolist())]
    if len(pairs) < 10:
        raise ValueError(f"only {len(pairs)} verse pairs have at most {max_length} tokens; raise max_length")
    indices = fixed_split(len(pairs), val_fraction, test_fraction, split_seed)
    references = [ref for _, ref in pairs]
    return build_splits(
        [pair for pair, _ in pairs],
        indices,
        word_tokens,
        joiner=" ",
        text_metrics=True,
        metric="bleu",
        min_freq=int(min_freq),
        max_size=None if max_size is None else int(max_size),
        extra={"direction": direction, "test_verses": [references[i] for i in indices[2].tolist()]},
    )
