"""Task heads on top of the encoder, with HF's class names and output field names.

Every model holds the encoder as `self.bert`, so checkpoint keys read `bert.encoder...` as in HF.
Labels equal to -100 are ignored by every loss (PyTorch's cross-entropy default, and HF's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import PretrainedMixin
from .config import BertConfig
from .model import ACTIVATION_FUNCTIONS, BertModel, BertOutput, Dropout

IGNORE_INDEX = -100


class MaskedLMHead(nn.Module):
    """Predicts the original token at masked positions: dense + GELU + LayerNorm, then a projection onto the
    vocabulary that reuses the word-embedding matrix (weight tying: the same vector represents a word on
    the way in and scores it on the way out), plus a per-word bias.

    (n, hidden), word_embeddings (vocab, hidden) -> (n, vocab)
    """

    def __init__(self, config: BertConfig):
        super().__init__()
        self.transform = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = ACTIVATION_FUNCTIONS[config.hidden_act]()
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor, word_embeddings: torch.Tensor) -> torch.Tensor:
        return F.linear(self.norm(self.activation(self.transform(hidden))), word_embeddings, self.bias)


def masked_lm_logits(head: MaskedLMHead, bert: nn.Module, hidden: torch.Tensor,
                     labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """MLM logits, and the loss when labels are given. `bert` is the encoder (BertModel, or DistilBertModel),
    whose word-embedding matrix is the output projection.

    With labels, only the masked positions (labels != -100, ~15% of tokens) are projected onto the
    vocabulary: the (batch x seq x vocab) logits tensor is most of pretraining's memory and much of its
    compute, and the other 85% of it would be thrown away by the loss. Logits are then (n_masked, vocab),
    in the order of `labels[labels != -100]`. Without labels: (batch, seq, vocab) as in HF.
    """
    word_embeddings = bert.embeddings.word_embeddings.weight
    if labels is None:
        return head(hidden, word_embeddings), None
    selected = labels != IGNORE_INDEX  # (batch, seq)
    logits = head(hidden[selected], word_embeddings)  # (n_masked, vocab)
    # sum / count rather than mean so a batch with nothing masked gives 0 loss, not NaN
    loss = F.cross_entropy(logits.float(), labels[selected], reduction="sum") / selected.sum().clamp(min=1)
    return logits, loss


@dataclass
class PreTrainingOutput:
    prediction_logits: torch.Tensor  # (batch, seq, vocab), or (n_masked, vocab) when labels are given
    seq_relationship_logits: torch.Tensor  # (batch, 2): 0 = B follows A, 1 = B is random
    loss: torch.Tensor | None = None  # mlm_loss + nsp_loss
    mlm_loss: torch.Tensor | None = None
    nsp_loss: torch.Tensor | None = None


@dataclass
class MaskedLMOutput:
    logits: torch.Tensor  # (batch, seq, vocab), or (n_masked, vocab) when labels are given
    loss: torch.Tensor | None = None


@dataclass
class ClassifierOutput:
    logits: torch.Tensor  # (batch, num_labels) per sequence, or (batch, seq, num_labels) per token
    loss: torch.Tensor | None = None


@dataclass
class QuestionAnsweringOutput:
    start_logits: torch.Tensor  # (batch, seq)
    end_logits: torch.Tensor  # (batch, seq)
    loss: torch.Tensor | None = None


class BertForPreTraining(PretrainedMixin, nn.Module):
    """BERT's two pretraining tasks at once: masked-LM on every token, next-sentence prediction on [CLS]."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.mlm_head = MaskedLMHead(config)
        self.nsp_head = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None) -> PreTrainingOutput:
        # with MLM labels the head gives the tied word embeddings a dense gradient: the lookup's can be sparse
        out = self.bert(input_ids, attention_mask, token_type_ids, sparse_word_gradient=labels is not None)
        mlm_logits, mlm_loss = masked_lm_logits(self.mlm_head, self.bert, out.last_hidden_state, labels)
        nsp_logits = self.nsp_head(out.pooler_output)
        nsp_loss = None if next_sentence_label is None else F.cross_entropy(nsp_logits.float(), next_sentence_label)
        losses = [l for l in (mlm_loss, nsp_loss) if l is not None]
        return PreTrainingOutput(mlm_logits, nsp_logits, sum(losses) if losses else None, mlm_loss, nsp_loss)


class BertForMaskedLM(PretrainedMixin, nn.Module):
    """Masked-LM only (no NSP, no pooler): RoBERTa-style pretraining, and fill-in-the-[MASK]."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.mlm_head = MaskedLMHead(config)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None) -> MaskedLMOutput:
        hidden = self.bert(input_ids, attention_mask, token_type_ids,
                           sparse_word_gradient=labels is not None).last_hidden_state
        return MaskedLMOutput(*masked_lm_logits(self.mlm_head, self.bert, hidden, labels))


class BertForNextSentencePrediction(PretrainedMixin, nn.Module):
    """Does sentence B follow sentence A? Two logits from the pooled [CLS] vector."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.nsp_head = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None,
                next_sentence_label=None) -> ClassifierOutput:
        labels = next_sentence_label if labels is None else labels
        logits = self.nsp_head(self.bert(input_ids, attention_mask, token_type_ids, cls_only=True).pooler_output)
        return ClassifierOutput(logits, None if labels is None else F.cross_entropy(logits.float(), labels))


def classification_loss(config: BertConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """HF's rule: one output -> regression (MSE); integer labels -> cross-entropy; float labels with
    several outputs -> multi-label (binary cross-entropy per label)."""
    problem = config.problem_type
    if problem is None:
        if config.num_labels == 1:
            problem = "regression"
        elif labels.dtype in (torch.long, torch.int):
            problem = "single_label_classification"
        else:
            problem = "multi_label_classification"
    logits = logits.float()
    if problem == "regression":
        return F.mse_loss(logits.squeeze(-1) if config.num_labels == 1 else logits, labels.float())
    if problem == "single_label_classification":
        return F.cross_entropy(logits.view(-1, config.num_labels), labels.view(-1))
    return F.binary_cross_entropy_with_logits(logits, labels.float())


class BertForSequenceClassification(PretrainedMixin, nn.Module):
    """One label (or score, for regression) per sequence, from the pooled [CLS] vector: GLUE's head."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config)
        self.dropout = Dropout(config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None) -> ClassifierOutput:
        pooled = self.bert(input_ids, attention_mask, token_type_ids, cls_only=True).pooler_output  # (batch, hidden)
        logits = self.classifier(self.dropout(pooled))  # (batch, num_labels)
        return ClassifierOutput(logits, None if labels is None else classification_loss(self.config, logits, labels))


class BertForTokenClassification(PretrainedMixin, nn.Module):
    """One label per token (NER, POS tagging), from each token's final hidden state."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.dropout = Dropout(config.classifier_dropout if config.classifier_dropout is not None
                                  else config.hidden_dropout_prob)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None) -> ClassifierOutput:
        hidden = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(hidden))  # (batch, seq, num_labels)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.float().view(-1, self.config.num_labels), labels.view(-1))
        return ClassifierOutput(logits, loss)


class BertForQuestionAnswering(PretrainedMixin, nn.Module):
    """Extractive QA (SQuAD): for every token, a score for "the answer starts here" and "ends here"."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.bert = BertModel(config, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        self.init_weights()

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, start_positions=None,
                end_positions=None) -> QuestionAnsweringOutput:
        hidden = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        return answer_span(self.qa_outputs(hidden), start_positions, end_positions)


def answer_span(logits: torch.Tensor, start_positions: torch.Tensor | None,
                end_positions: torch.Tensor | None) -> QuestionAnsweringOutput:
    """(batch, seq, 2) scores -> start and end logits, and the loss when both positions are given."""
    start_logits, end_logits = logits.float().unbind(dim=-1)  # (batch, seq) each
    loss = None
    if start_positions is not None and end_positions is not None:
        # An answer outside the (truncated) window points past the end and is ignored, as in HF.
        outside = start_logits.shape[1]
        start_loss = F.cross_entropy(start_logits, start_positions.clamp(0, outside), ignore_index=outside)
        end_loss = F.cross_entropy(end_logits, end_positions.clamp(0, outside), ignore_index=outside)
        loss = (start_loss + end_loss) / 2
    return QuestionAnsweringOutput(start_logits, end_logits, loss)


__all__ = ["BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction",
           "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering",
           "BertOutput", "PreTrainingOutput", "MaskedLMOutput", "ClassifierOutput", "QuestionAnsweringOutput"]
