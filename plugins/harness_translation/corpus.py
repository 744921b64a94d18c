"""Turning (source text, target text) pairs into the harness's seq2seq tensors.

Shared by every translation dataset, so they all follow the same contract:
sources are padded token ids ``[N, S]``; targets are ``<bos> ... <eos>``
framed and padded ``[N, T]``; both vocabularies are built on the training
split only, so validation and test text may contain ``<unk>``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.specs import DatasetInfo, DatasetSplits
from harness.vocab import Vocabulary, pad


def build_splits(
    pairs: Sequence[tuple[str, str]],
    indices: tuple,
    tokenize: Callable[[str], list[str]],
    *,
    joiner: str,
    text_metrics: bool,
    metric: str,
    min_freq: int = 1,
    max_size: int | None = None,
    extra: dict | None = None,
) -> DatasetSplits:
    """Tokenise ``pairs``, cut them into the (train, val, test) ``indices`` and encode them as tensors.

    The padded lengths are the longest source and framed target over all
    splits: a shape, not a statistic, so nothing is learned from held-out text.
    An empty validation index (``val_fraction=0``) gives ``val=None``.
    """
    sources = [tokenize(source) for source, _ in pairs]
    targets = [tokenize(target) for _, target in pairs]
    train = [int(i) for i in indices[0]]
    source_vocab = Vocabulary.build((sources[i] for i in train), min_freq=min_freq, max_size=max_size)
    target_vocab = Vocabulary.build((targets[i] for i in train), min_freq=min_freq, max_size=max_size)
    source_length = max(1, max(len(s) for s in sources))
    target_length = max(len(t) for t in targets) + 2  # <bos> ... <eos>

    def encode(index) -> tuple:
        rows = [int(i) for i in index]
        source = pad([source_vocab.encode(sources[i]) for i in rows], source_length)
        target = pad([target_vocab.encode(targets[i], frame=True) for i in rows], target_length)
        return source, target

    info = DatasetInfo(
        task="seq2seq",
        modality="tokens",
        input_shape=(source_length,),
        vocab_size=len(source_vocab),
        target_vocab_size=len(target_vocab),
        max_target_length=target_length,
        metric=metric,
        extra={
            "source_vocab": source_vocab.itos,
            "target_vocab": target_vocab.itos,
            "joiner": joiner,
            "text_metrics": text_metrics,
            **(extra or {}),
        },
    )
    train_index, val_index, test_index = indices
    val = encode(val_index) if len(val_index) else None
    return DatasetSplits(encode(train_index), val, encode(test_index), info)
