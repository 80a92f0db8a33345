"""Which class a checkpoint is, from config.json's `architectures`, what bert-inspect knows about each class
(the head's multiply-adds, whether its last layer computes [CLS] alone), and loading the model."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bert.checkpoint import resolve_checkpoint_dir
from bert.config import BertConfig
from bert.distilbert import (
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from bert.errors import InputError
from bert.heads import (
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from bert.model import BertModel


@dataclass(frozen=True)
class Architecture:
    """What bert-inspect knows about a model class besides its code: the work its head does after the
    encoder, in multiply-adds at n tokens, and whether its last layer computes [CLS] alone (`cls_only`)."""

    model_class: type[nn.Module]
    head_macs: Callable[[BertConfig, int], int]
    cls_only: bool = False


def pooler_macs(c: BertConfig) -> int:
    return c.hidden_size * c.hidden_size  # dense on the [CLS] vector


def mlm_head_macs(c: BertConfig, n: int) -> int:
    return n * c.hidden_size * (c.hidden_size + c.vocab_size)  # dense, then the projection onto the vocabulary


# config.json's `architectures` names the class. Another model family plugs in by adding its classes here;
# the rest finds its parts by type (Embeddings, EncoderLayer, Encoder, Pooler, SelfAttention) and reads its
# sizes by BertConfig's field names.
ARCHITECTURES = {a.model_class.__name__: a for a in [
    Architecture(BertModel, lambda c, n: pooler_macs(c)),
    Architecture(BertForPreTraining, lambda c, n: pooler_macs(c) + c.hidden_size * 2 + mlm_head_macs(c, n)),
    Architecture(BertForMaskedLM, mlm_head_macs),
    Architecture(BertForNextSentencePrediction, lambda c, n: pooler_macs(c) + c.hidden_size * 2, cls_only=True),
    Architecture(BertForSequenceClassification, lambda c, n: pooler_macs(c) + c.hidden_size * c.num_labels,
                 cls_only=True),
    Architecture(BertForTokenClassification, lambda c, n: n * c.hidden_size * c.num_labels),
    Architecture(BertForQuestionAnswering, lambda c, n: n * c.hidden_size * 2),  # a start and an end score
    # DistilBERT: no pooler; its classifier reads [CLS] through pre_classifier (dense) then classifier
    Architecture(DistilBertModel, lambda c, n: 0),
    Architecture(DistilBertForMaskedLM, mlm_head_macs),
    Architecture(DistilBertForSequenceClassification,
                 lambda c, n: c.hidden_size * c.hidden_size + c.hidden_size * c.num_labels, cls_only=True),
    Architecture(DistilBertForTokenClassification, lambda c, n: n * c.hidden_size * c.num_labels),
    Architecture(DistilBertForQuestionAnswering, lambda c, n: n * c.hidden_size * 2),
]}


def read_architecture(directory: Path) -> Architecture:
    """The class config.json's `architectures` names (BertModel when it names none)."""
    try:
        names = json.loads((directory / "config.json").read_text()).get("architectures") or ["BertModel"]
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{directory}: cannot read config.json ({e})") from None
    known = [name for name in names if name in ARCHITECTURES]
    if not known:
        raise InputError(f"{directory}: config.json's architectures {names} names no class bert-inspect knows "
                         f"({', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[known[0]]


def load_checkpoint(path: str) -> tuple[nn.Module, Architecture, Path]:
    """The model at `path` (a directory or Hub id) as the class it names, its Architecture, its directory."""
    try:
        directory = resolve_checkpoint_dir(path)
        architecture = read_architecture(directory)
        return architecture.model_class.from_pretrained(directory), architecture, directory
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None
