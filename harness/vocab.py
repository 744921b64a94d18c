"""Tokenising text and mapping tokens to ids, shared by the text and translation plugins.

Deliberately simple and documented, so results are reproducible without a
tokenizer download: lower-case, then words and punctuation split by a regular
expression (or single characters). The vocabulary is built on the training
split only; ids follow :data:`harness.specs.SPECIAL_TOKENS` (0 is padding).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from harness.specs import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

_WORDS = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+|[^\w\s]", re.UNICODE)


def word_tokens(text: str) -> list[str]:
    """'Don't stop, 2 rivers!' -> ["don't", 'stop', ',', '2', 'rivers', '!']."""
    return _WORDS.findall(text.lower())


def char_tokens(text: str) -> list[str]:
    return list(text)


class Vocabulary:
    """token <-> id, with the special tokens first and rare tokens mapped to ``<unk>``."""

    def __init__(self, tokens: list[str]):
        self.itos = list(tokens)
        self.stoi = {token: i for i, token in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> Vocabulary:
        """From the training split's tokens: most frequent first (ties alphabetical), so ids are reproducible."""
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max(0, max_size - len(SPECIAL_TOKENS))]
        return cls([*SPECIAL_TOKENS, *ranked])

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str], *, frame: bool = False) -> list[int]:
        """Ids of ``tokens``; ``frame`` wraps them in ``<bos> ... <eos>`` (sequence targets)."""
        ids = [self.stoi.get(token, UNK_ID) for token in tokens]
        return [BOS_ID, *ids, EOS_ID] if frame else ids


def pad(sequences: list[list[int]], length: int):
    """A ``[N, length]`` LongTensor, each sequence cut to ``length`` and padded with ``<pad>``."""
    import torch

    out = torch.full((len(sequences), length), PAD_ID, dtype=torch.long)
    for row, ids in enumerate(sequences):
        ids = ids[:length]
        out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out
