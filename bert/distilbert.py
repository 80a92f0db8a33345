"""DistilBERT (Sanh et al. 2019, "DistilBERT, a distilled version of BERT: smaller, faster, cheaper and
lighter"): a student trained to imitate BERT-base, with half its layers and the same blocks.

What differs from BERT, and so all this file holds:

    input_ids (batch, seq) ──> Embeddings (word + position) ──> EncoderLayer x L ──> (batch, seq, dim)
                               no segment embeddings                               no pooler

- the encoder is this project's Embeddings and Encoder (bert/model.py): DistilBERT's block is BERT's post-LN
  block under other names (`sa_layer_norm`, `ffn.lin1`; DISTILBERT_NAMES in bert/checkpoint.py), except that
  in training it does not drop out the attention output (only attention probabilities and the feed-forward
  output), hence Encoder(config, attention_output_dropout=False);
- no token types: config.type_vocab_size is 0 and the models take no token_type_ids. A pair is still
  "[CLS] a [SEP] b [SEP]"; the [SEP] alone tells the model where b starts;
- no pooler: the sequence classifier reads [CLS] through its own pre_classifier + ReLU (not dense + tanh);
- its own config field names (`dim`, `n_layers`, ...): DistilBertConfig in bert/config.py.

The classes carry HF's names (DistilBertModel, DistilBertForSequenceClassification, ...), next to the BERT
ones, so a class says which checkpoints it reads: a DistilBERT checkpoint loads into these only, and they
write DistilBERT's layout, which `transformers` loads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import DISTILBERT_LAYOUT, PretrainedMixin
from .config import DistilBertConfig
from .heads import (ClassifierOutput, MaskedLMHead, MaskedLMOutput, QuestionAnsweringOutput, answer_span,
                    classification_loss, masked_lm_logits)
from .model import BertOutput, Dropout, Embeddings, Encoder, key_padding_mask, sinusoid_table


class DistilBertPretrained(PretrainedMixin):
    """Loading, saving and initialisation, as for BERT, with DistilBERT's config and key names.

    With config.sinusoidal_pos_embds the position embeddings start as the Transformer's sinusoids (unscaled,
    as in HF) instead of noise. They stay trainable: `transformers` 5 trains them too (its 4.x froze them), and
    a checkpoint's own values are what gets loaded either way.
    """

    config: DistilBertConfig
    config_class = DistilBertConfig
    layout = DISTILBERT_LAYOUT

    @torch.no_grad()
    def init_weights(self) -> None:
        super().init_weights()
        if self.config.sinusoidal_pos_embds:
            for module in self.modules():
                if isinstance(module, Embeddings):
                    positions = module.position_embeddings.weight  # (max_position_embeddings, dim)
                    positions.copy_(sinusoid_table(*positions.shape))


class DistilBertModel(DistilBertPretrained, nn.Module):
    """The bare encoder: embeddings without segments, L encoder layers, no pooler.

    input_ids, attention_mask (batch, seq) -> BertOutput(last_hidden_state (batch, seq, dim)), or (batch, 1, dim)
    for [CLS] alone with cls_only=True. There is no token_type_ids argument: passing one is a TypeError.
    """

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config, attention_output_dropout=False)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, cls_only: bool = False) -> BertOutput:
        hidden = self.encoder(self.embeddings(input_ids), key_padding_mask(attention_mask), cls_only)
        return BertOutput(last_hidden_state=hidden)


class DistilBertForMaskedLM(DistilBertPretrained, nn.Module):
    """Fill in the [MASK]: DistilBERT's vocab_transform + activation + vocab_layer_norm + vocab_projector is
    BERT's MaskedLMHead under other names, its output matrix tied to the word embeddings too."""

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.mlm_head = MaskedLMHead(config)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, labels=None) -> MaskedLMOutput:
        hidden = self.distilbert(input_ids, attention_mask).last_hidden_state
        return MaskedLMOutput(*masked_lm_logits(self.mlm_head, self.distilbert, hidden, labels))


class DistilBertForSequenceClassification(DistilBertPretrained, nn.Module):
    """One label (or score) per sequence from [CLS]: pre_classifier -> ReLU -> dropout -> classifier.

    Where BERT reads [CLS] through its pretrained pooler (dense + tanh, trained on next-sentence prediction),
    DistilBERT, trained without NSP, has no pooler; this head brings its own dense layer, learned in
    fine-tuning. Dropout is config.seq_classif_dropout (0.2 by default), not hidden_dropout_prob.
    """

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.pre_classifier = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = Dropout(config.seq_classif_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, labels=None) -> ClassifierOutput:
        cls = self.distilbert(input_ids, attention_mask, cls_only=True).last_hidden_state[:, 0]  # (batch, dim)
        logits = self.classifier(self.dropout(F.relu(self.pre_classifier(cls))))  # (batch, num_labels)
        return ClassifierOutput(logits, None if labels is None else classification_loss(self.config, logits, labels))


class DistilBertForTokenClassification(DistilBertPretrained, nn.Module):
    """One label per token (NER, POS tagging), from each token's final hidden state."""

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.dropout = Dropout(config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, labels=None) -> ClassifierOutput:
        hidden = self.distilbert(input_ids, attention_mask).last_hidden_state
        logits = self.classifier(self.dropout(hidden))  # (batch, seq, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.config.num_labels), labels.view(-1))
        return ClassifierOutput(logits, loss)


class DistilBertForQuestionAnswering(DistilBertPretrained, nn.Module):
    """Extractive QA: a start and an end score per token. Unlike BERT's, this head applies dropout
    (config.qa_dropout) to the hidden states first."""

    def __init__(self, config: DistilBertConfig):
        super().__init__()
        self.config = config
        self.distilbert = DistilBertModel(config)
        self.dropout = Dropout(config.qa_dropout)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, start_positions=None,
                end_positions=None) -> QuestionAnsweringOutput:
        hidden = self.distilbert(input_ids, attention_mask).last_hidden_state
        return answer_span(self.qa_outputs(self.dropout(hidden)), start_positions, end_positions)


__all__ = ["DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
           "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"]
