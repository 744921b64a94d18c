"""all-MiniLM-L6-v2 fine-tuned for sequence classification on the harness's word-id datasets.

Token datasets hand models padded ids of their *own* word vocabulary
(``info.extra["vocab"]``, id -> word), not the ids a pretrained model was
trained on. So at build time every vocabulary entry is run through MiniLM's
WordPiece tokenizer once, into a padded lookup table kept as a buffer; a
forward pass then gathers the pieces of each word and packs them into
``[CLS] ... [SEP]`` rows with an attention mask, on the device and without a
Python loop over the batch. Tokenising word by word gives the same pieces as
tokenising the joined sentence, because BERT's tokenizer splits on
whitespace before it splits words into pieces.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from harness.specs import SPECIAL_TOKENS, UNK_ID

POOLINGS = ("mean", "cls")


def load_pretrained(num_labels: int, dropout: float):
    """MiniLM with a fresh classification head, and its tokenizer, from the installed package only."""
    from harness_finetune import missing_reason, model_dir

    reason = missing_reason()
    if reason:
        raise RuntimeError(f"minilm is unavailable: {reason}")
    # the weights are on disk: never let the Hugging Face libraries reach for the network
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = model_dir()
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # "classifier.* newly initialised" is the point of fine-tuning, not news
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, classifier_dropout=dropout, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    return model, tokenizer


def wordpiece_table(vocab, tokenizer, size: int, max_pieces: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pieces [size, P], counts [size])``: the wordpieces of each dataset token id.

    ``<pad>``, ``<bos>`` and ``<eos>`` get no pieces (padding is dropped, the
    model frames every row with its own ``[CLS]``/``[SEP]``); ``<unk>``, ids
    past the vocabulary and words the tokenizer cannot read become ``[UNK]``.
    A word keeps at most ``max_pieces`` pieces: more could never fit a row.
    """
    words = [str(word) for word in vocab]
    encoded = tokenizer(words, add_special_tokens=False)["input_ids"] if words else []
    rows: list[list[int]] = []
    for i in range(size):
        if i < len(SPECIAL_TOKENS):
            rows.append([tokenizer.unk_token_id] if i == UNK_ID else [])
        elif i < len(words):
            rows.append(list(encoded[i][:max_pieces]) or [tokenizer.unk_token_id])
        else:
            rows.append([tokenizer.unk_token_id])
    width = max(1, max(len(row) for row in rows))
    pieces = torch.full((size, width), tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        pieces[i, : len(row)] = torch.tensor(row, dtype=torch.long)
    counts = torch.tensor([len(row) for row in rows], dtype=torch.long)
    return pieces, counts


class MiniLMClassifier(nn.Module):
    """Dataset word ids -> MiniLM wordpieces -> encoder -> pooled sentence vector -> dropout -> linear.

    ``pooling="mean"`` averages the token states over the attention mask, the
    pooling all-MiniLM-L6-v2 was trained to produce sentence embeddings with;
    ``"cls"`` is BERT's own head (tanh layer on ``[CLS]``), as
    ``AutoModelForSequenceClassification`` has it. With ``freeze_encoder`` only
    the head (pooler where used, classifier) trains, and the encoder runs in
    evaluation mode without gradients: a linear probe of the pretrained features.
    """

    def __init__(
        self,
        model,
        tokenizer,
        vocab,
        vocab_size: int,
        max_length: int = 64,
        freeze_encoder: bool = False,
        pooling: str = "mean",
    ):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not one of {', '.join(POOLINGS)}")
        limit = model.config.max_position_embeddings
        if not 3 <= max_length <= limit:
            raise ValueError(f"max_length must be in [3, {limit}] wordpieces ([CLS], pieces, [SEP]): {max_length}")
        self.max_length = int(max_length)
        self.pooling = pooling
        self.freeze_encoder = bool(freeze_encoder)
        self.cls_id, self.sep_id, self.pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
        pieces, counts = wordpiece_table(vocab, tokenizer, vocab_size, self.max_length - 2)
        self.register_buffer("pieces", pieces, persistent=False)
        self.register_buffer("counts", counts, persistent=False)

        # take the pretrained model apart: encoder | head (pooler, dropout, classifier)
        self.encoder = model.base_model
        self.pooler = self.encoder.pooler if pooling == "cls" else None
        self.encoder.pooler = None
        self.dropout = model.dropout
        self.classifier = model.classifier
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()  # frozen features: no dropout noise inside the encoder
        return self

    def wordpieces(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Word ids ``[B, L]`` -> wordpiece ids and attention mask ``[B, T]``, ``T <= max_length``.

        Each row is ``[CLS]``, its words' pieces in order (padding dropped, cut
        to ``max_length - 2``), ``[SEP]``, then ``[PAD]``; ``T`` is the longest
        row of this batch, so short sentences cost short sequences (for one
        device-to-host read of that width per batch).
        """
        batch = ids.shape[0]
        pieces = self.pieces[ids].flatten(1)  # [B, L * P]
        counts = self.counts[ids]  # [B, L]
        width = self.pieces.shape[1]
        valid = (torch.arange(width, device=ids.device) < counts.unsqueeze(-1)).flatten(1)
        budget = self.max_length - 2
        position = valid.long().cumsum(1) - 1  # index of each piece within its row
        keep = valid & (position < budget)
        lengths = counts.sum(1).clamp(max=budget)  # pieces kept per row
        columns = int(lengths.max()) + 2 if batch else 2
        # kept pieces land after [CLS]; the rest go to a spare last column that is cut off
        target = torch.where(keep, position + 1, columns)
        out = torch.full((batch, columns + 1), self.pad_id, dtype=torch.long, device=ids.device)
        out.scatter_(1, target, torch.where(keep, pieces, self.pad_id))
        out = out[:, :columns]
        out[:, 0] = self.cls_id
        out.scatter_(1, (lengths + 1).unsqueeze(1), self.sep_id)
        mask = torch.arange(columns, device=ids.device) < (lengths + 2).unsqueeze(1)
        return out, mask.long()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        input_ids, mask = self.wordpieces(ids)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            states = self.encoder(input_ids=input_ids, attention_mask=mask).last_hidden_state
        if self.pooling == "cls":
            pooled = self.pooler(states)
        else:
            weights = mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * weights).sum(1) / weights.sum(1)
        return self.classifier(self.dropout(pooled))


def build_minilm(info, freeze_encoder=False, max_length=64, dropout=0.1, pooling="mean") -> nn.Module:
    """all-MiniLM-L6-v2 with a ``num_classes`` head, reading the dataset's word ids through its vocabulary."""
    vocab = (info.extra or {}).get("vocab")
    if not vocab:
        raise ValueError(
            "minilm maps a dataset's word ids to MiniLM wordpieces and needs its vocabulary: "
            "this dataset's info.extra has no 'vocab' (id -> word)"
        )
    if not info.num_classes:
        raise ValueError("minilm is a classifier: the dataset gives no num_classes")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    model, tokenizer = load_pretrained(int(info.num_classes), float(dropout))
    size = max(len(vocab), int(info.vocab_size or 0))
    return MiniLMClassifier(model, tokenizer, vocab, size, int(max_length), bool(freeze_encoder), pooling)
