"""bert: BERT written by hand. Read config.py, then model.py (the encoder), heads.py (the tasks),
checkpoint.py (HF-compatible loading and saving), distilbert.py (DistilBERT: the same encoder without
segment embeddings and pooler, with its own heads and checkpoint names), and pooling.py (sentence vectors).
errors.py holds InputError, the one exception type for bad user input in every command."""

from .config import PRESETS, BertConfig, DistilBertConfig, read_config
from .distilbert import (
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from .errors import InputError
from .heads import (
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from .model import BertModel

__all__ = [
    "PRESETS", "BertConfig", "DistilBertConfig", "read_config",
    "BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction",
    "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
    "DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
    "DistilBertForTokenClassification", "DistilBertForQuestionAnswering",
    "InputError",
]
