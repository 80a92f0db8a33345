"""Sentence embeddings: one vector per text from the encoder's token vectors, as sentence-transformers makes
them (Reimers and Gurevych 2019, "Sentence-BERT").

    input_ids (batch, seq) ──> BertModel / DistilBertModel ──> last_hidden_state (batch, seq, hidden)
                               ──> pool over the real tokens ──> (L2-normalise) ──> (batch, hidden)

Pooling modes, each over the non-padding positions of a text alone, so the same text gets the same vector in
any batch:
- mean: the average of the token vectors ([CLS] and [SEP] included, as sentence-transformers does), the mode
  all-MiniLM-L6-v2 was trained with;
- cls: the [CLS] vector as it leaves the last layer (no pooler layer);
- max: the largest value of each dimension over the tokens.
Normalised to unit length, the dot product of two embeddings is their cosine similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

POOLING_MODES = ("mean", "cls", "max")


@dataclass(frozen=True)
class Pooling:
    """How token vectors become one sentence vector."""

    mode: str = "mean"  # one of POOLING_MODES
    normalize: bool = False  # L2-normalise the pooled vector

    def __post_init__(self) -> None:
        if self.mode not in POOLING_MODES:
            raise ValueError(f"pooling {self.mode!r}: choose one of {', '.join(POOLING_MODES)}")


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, mode: str) -> torch.Tensor:
    """(batch, seq, hidden) token vectors, (batch, seq) mask of 1 = real token -> (batch, hidden)."""
    if mode == "cls":
        return hidden[:, 0]
    real = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    if mode == "max":
        # padding set far below any real value, as sentence-transformers does (-1e9), so it is never the max
        return hidden.masked_fill(real == 0, -1e9).max(dim=1).values
    # clamp: a row with no real token (never made by a tokenizer) divides by 1e-9, not by 0
    return (hidden * real).sum(dim=1) / real.sum(dim=1).clamp(min=1e-9)


class SentenceEncoder(nn.Module):
    """An encoder (BertModel or DistilBertModel) followed by pooling and, optionally, normalisation.

    input_ids, attention_mask, token_type_ids (batch, seq) -> (batch, hidden) float32. token_type_ids are
    passed on only to an encoder with segment embeddings (not DistilBERT's).
    """

    def __init__(self, encoder: nn.Module, pooling: Pooling):
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.pooling = pooling

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        segments = {"token_type_ids": token_type_ids} if self.config.type_vocab_size > 0 else {}
        hidden = self.encoder(input_ids, attention_mask, **segments).last_hidden_state.float()
        pooled = pool(hidden, attention_mask, self.pooling.mode)
        return F.normalize(pooled, p=2, dim=-1) if self.pooling.normalize else pooled
