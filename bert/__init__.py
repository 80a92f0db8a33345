"""bert: BERT written by hand. Read config.py, then model.py (the encoder), heads.py (the tasks),
checkpoint.py (HF-compatible loading and saving)."""

from .config import PRESETS, BertConfig
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
    "PRESETS", "BertConfig", "BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction",
    "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
]
