"""Date normalisation: a date written the way people write it, in one of several languages -> ``YYYY-MM-DD``.

The classic small attention benchmark, made from real locale data instead of
hand-written month names: babel renders each sampled date with the CLDR
formats of a European or American locale (``full``, ``long``, ``medium``) and
a few explicit patterns. Every rendering has a four-digit year, and the only
all-numeric patterns are ``M/d/yyyy`` (American, month first) and
``dd.MM.yyyy`` (day first): their separators tell them apart, so every source
has exactly one correct answer and exact match can reach 100%.
"""

from __future__ import annotations

import datetime
import random

from harness.data import fixed_split
from harness.specs import DatasetSplits
from harness.vocab import char_tokens
from harness_translation.corpus import build_splits

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL")

#: CLDR's named formats ('short' is left out for its two-digit years) and a few explicit patterns,
#: the month-first ones for American English only, as people write them.
_EUROPEAN = ("full", "long", "medium", "d MMMM yyyy", "EEE d MMM yyyy", "dd.MM.yyyy")
_AMERICAN = ("full", "long", "medium", "MMMM d, yyyy", "EEE, MMM d, yyyy", "M/d/yyyy")
FORMATS = {locale: _AMERICAN if locale == "en_US" else _EUROPEAN for locale in LOCALES}


def generate_dates(num_examples: int, seed: int = 0, first_year: int = 1900, last_year: int = 2099) -> list:
    """``num_examples`` distinct (text, ISO date, locale, format) examples from a seeded generator.

    Dates are uniform over the days of ``first_year``..``last_year``; a text
    drawn twice is kept once, so no example repeats across splits.
    """
    from babel.dates import format_date

    if not 1000 <= first_year <= last_year <= 9999:
        raise ValueError("first_year and last_year must be four-digit years with first_year <= last_year")
    rng = random.Random(seed)
    start = datetime.date(first_year, 1, 1).toordinal()
    end = datetime.date(last_year, 12, 31).toordinal()
    if num_examples > (end - start + 1) * len(LOCALES):
        raise ValueError(f"num_examples={num_examples} is too many distinct dates for {first_year}..{last_year}")
    seen: set[str] = set()
    examples = []
    while len(examples) < num_examples:
        date = datetime.date.fromordinal(rng.randint(start, end))
        locale = rng.choice(LOCALES)
        pattern = rng.choice(FORMATS[locale])
        text = format_date(date, pattern, locale=locale)
        if text in seen:
            continue
        seen.add(text)
        examples.append((text, date.isoformat(), locale, pattern))
    return examples


def load_dates(
    num_examples=20000,
    first_year=1900,
    last_year=2099,
    data_seed=0,
    val_fraction=0.1,
    test_fraction=0.1,
    split_seed=0,
) -> DatasetSplits:
    """Character-level pairs, fixed seeded splits, vocabularies from the training split; scored by exact match.

    The examples depend on ``data_seed`` and the split on ``split_seed``,
    never on a run's seed, so every run of a comparison sees the same test dates.
    """
    examples = generate_dates(int(num_examples), data_seed, int(first_year), int(last_year))
    pairs = [(text, iso) for text, iso, _, _ in examples]
    indices = fixed_split(len(pairs), val_fraction, test_fraction, split_seed)
    return build_splits(
        pairs,
        indices,
        char_tokens,
        joiner="",
        text_metrics=False,
        metric="exact_match",
        extra={"locales": list(LOCALES), "formats": {locale: list(f) for locale, f in FORMATS.items()}},
    )
