"""An LSTM encoder-decoder with attention (Bahdanau et al., 2015; Luong et al., 2015).

The encoder reads the source (optionally in both directions, each direction
``hidden_size / 2`` wide so its outputs and concatenated final states are
``hidden_size``, as OpenNMT does) and its final states start the decoder.
At every target step the decoder attends over the encoder outputs, padding
masked out, and predicts the next token from the attentional vector
``tanh(W [h_t; context])``:

* ``bahdanau``: additive scores ``v^T tanh(W q + U h_j)``, the query being the
  decoder's previous state; the context is fed into the LSTM with the embedding.
* ``dot`` / ``general``: Luong's multiplicative scores ``q^T h_j`` / ``q^T W h_j``
  with the decoder's current state as query; with ``input_feeding`` the previous
  attentional vector is fed to the LSTM, otherwise training runs the decoder
  over the whole target at once (faster, slightly weaker).

Training uses teacher forcing; evaluation decodes greedily.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from harness.specs import BOS_ID, EOS_ID, PAD_ID

ATTENTIONS = ("bahdanau", "dot", "general")


class Attention(nn.Module):
    """Scores a query against the encoder outputs; returns the context and the weights."""

    def __init__(self, kind: str, hidden_size: int):
        super().__init__()
        if kind not in ATTENTIONS:
            raise ValueError(f"attention must be one of {', '.join(ATTENTIONS)}, not {kind!r}")
        self.kind = kind
        if kind == "bahdanau":
            self.query = nn.Linear(hidden_size, hidden_size, bias=False)
            self.key = nn.Linear(hidden_size, hidden_size)
            self.score = nn.Linear(hidden_size, 1, bias=False)
        elif kind == "general":
            self.key = nn.Linear(hidden_size, hidden_size, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """The part of the scores that depends on the source only, computed once per sequence."""
        return memory if self.kind == "dot" else self.key(memory)

    def forward(self, query, keys, memory, mask):
        """``query`` [B, Q, H] against ``keys``/``memory`` [B, S, H]; ``mask`` [B, S] is True on real tokens."""
        if self.kind == "bahdanau":
            scores = self.score(torch.tanh(self.query(query).unsqueeze(2) + keys.unsqueeze(1))).squeeze(-1)
        else:
            scores = torch.bmm(query, keys.transpose(1, 2))
        weights = F.softmax(scores.masked_fill(~mask.unsqueeze(1), float("-inf")), dim=-1)
        return torch.bmm(weights, memory), weights


class Seq2Seq(nn.Module):
    """Encoder-decoder LSTM; ``forward`` is teacher-forced, ``generate`` greedy."""

    def __init__(
        self,
        source_vocab: int,
        target_vocab: int,
        embedding_dim: int = 128,
        hidden_size: int = 256,
        num_layers: int = 1,
        bidirectional: bool = True,
        attention: str = "general",
        input_feeding: bool = True,
        dropout: float = 0.2,
    ):
        super().__init__()
        if bidirectional and hidden_size % 2:
            raise ValueError("a bidirectional encoder needs an even hidden_size (half per direction)")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.hidden_size, self.num_layers, self.bidirectional = hidden_size, num_layers, bidirectional
        self.feeds_context = attention == "bahdanau"
        self.input_feeding = input_feeding and not self.feeds_context
        self.source_embedding = nn.Embedding(source_vocab, embedding_dim, padding_idx=PAD_ID)
        self.target_embedding = nn.Embedding(target_vocab, embedding_dim, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(
            embedding_dim,
            hidden_size // 2 if bidirectional else hidden_size,
            num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        extra_input = hidden_size if (self.feeds_context or self.input_feeding) else 0
        self.decoder = nn.LSTM(
            embedding_dim + extra_input,
            hidden_size,
            num_layers,
            batch_first=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.attention = Attention(attention, hidden_size)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, target_vocab)
        self.dropout = nn.Dropout(dropout)

    # -- encoder ---------------------------------------------------------------------------

    def encode(self, source: torch.Tensor):
        """Encoder outputs [B, S, H], the decoder's initial state and the padding mask.

        Sequences are packed, so padding never reaches the LSTM: a source reads
        the same however much padding follows it (the backward direction starts
        at its last real token).
        """
        mask = source != PAD_ID
        lengths = mask.sum(1).clamp(min=1)
        mask[:, 0] |= ~mask.any(1)  # an empty source still has one position to attend to
        embedded = self.dropout(self.source_embedding(source))
        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, (h, c) = self.encoder(packed)
        memory, _ = pad_packed_sequence(outputs, batch_first=True, total_length=source.shape[1])
        if self.bidirectional:  # [layers*2, B, H/2] -> [layers, B, H]: both directions side by side
            h, c = (s.view(self.num_layers, 2, *s.shape[1:]).transpose(1, 2).flatten(2) for s in (h, c))
        return memory, (h.contiguous(), c.contiguous()), mask

    # -- decoder ---------------------------------------------------------------------------

    def _step(self, token, state, feed, keys, memory, mask):
        """One decoder step: previous tokens [B, 1] -> logits [B, 1, V], new state, attentional vector."""
        embedded = self.dropout(self.target_embedding(token))
        if self.feeds_context:  # Bahdanau: attend with the previous state, feed the context in
            context, _ = self.attention(state[0][-1].unsqueeze(1), keys, memory, mask)
            output, state = self.decoder(torch.cat([embedded, context], -1), state)
        else:  # Luong: run the LSTM (with the previous attentional vector if input feeding), then attend
            inputs = torch.cat([embedded, feed], -1) if self.input_feeding else embedded
            output, state = self.decoder(inputs, state)
            context, _ = self.attention(output, keys, memory, mask)
        attentional = torch.tanh(self.combine(torch.cat([output, context], -1)))
        return self.output(self.dropout(attentional)), state, attentional

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: logits [B, T, V] for the next token after each of ``target_in`` [B, T]."""
        memory, state, mask = self.encode(source)
        keys = self.attention.keys(memory)
        if not (self.feeds_context or self.input_feeding):  # no step depends on the previous output
            output, _ = self.decoder(self.dropout(self.target_embedding(target_in)), state)
            context, _ = self.attention(output, keys, memory, mask)
            attentional = torch.tanh(self.combine(torch.cat([output, context], -1)))
            return self.output(self.dropout(attentional))
        feed = memory.new_zeros(len(source), 1, self.hidden_size)
        logits = []
        for t in range(target_in.shape[1]):
            step_logits, state, feed = self._step(target_in[:, t : t + 1], state, feed, keys, memory, mask)
            logits.append(step_logits)
        return torch.cat(logits, 1)

    @torch.no_grad()
    def generate(self, source: torch.Tensor, max_length: int) -> torch.Tensor:
        """Greedy decoding from ``<bos>``: ids [B, <=max_length] without it, padding after each row's ``<eos>``.

        Stops as soon as every row has produced ``<eos>``.
        """
        memory, state, mask = self.encode(source)
        keys = self.attention.keys(memory)
        token = torch.full((len(source), 1), BOS_ID, dtype=torch.long, device=source.device)
        feed = memory.new_zeros(len(source), 1, self.hidden_size)
        finished = torch.zeros(len(source), dtype=torch.bool, device=source.device)
        generated = []
        for _ in range(max_length):
            logits, state, feed = self._step(token, state, feed, keys, memory, mask)
            token = logits.argmax(-1)
            generated.append(token.masked_fill(finished.unsqueeze(1), PAD_ID))
            finished |= token.squeeze(1) == EOS_ID
            if bool(finished.all()):
                break
        if not generated:
            return torch.zeros(len(source), 0, dtype=torch.long, device=source.device)
        return torch.cat(generated, 1)


def build_seq2seq(
    info,
    embedding_dim=128,
    hidden_size=256,
    num_layers=1,
    bidirectional=True,
    attention="general",
    input_feeding=True,
    dropout=0.2,
) -> Seq2Seq:
    """The encoder-decoder sized for the dataset's source and target vocabularies."""
    if info.vocab_size is None or info.target_vocab_size is None:
        raise ValueError("seq2seq needs a dataset with vocab_size and target_vocab_size (a seq2seq token dataset)")
    return Seq2Seq(
        info.vocab_size,
        info.target_vocab_size,
        embedding_dim=int(embedding_dim),
        hidden_size=int(hidden_size),
        num_layers=int(num_layers),
        bidirectional=bool(bidirectional),
        attention=attention,
        input_feeding=bool(input_feeding),
        dropout=float(dropout),
    )
