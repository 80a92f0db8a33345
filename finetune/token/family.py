"""Token classification (named-entity recognition) as a task family of the fine-tuning engine.

`TokenClassification` (at the end) is what finetune/train.py's FineTuningJob calls, with the interface of
finetune/sentence/family.py. It is built from these functions:

    model = build_model(source, task)                  BertForTokenClassification (or DistilBERT's) with task.labels
    split = encode_sentences(tokenizer, task.labels, sentences, max_length, label_all_tokens)
                                                       word pieces and their labels; split.lengths for batching
    batch = collate(split, positions, pad_token_id, token_types)
                                                       input_ids, attention_mask, (token_type_ids), labels:
                                                       (batch, longest) tensors, labels -100 where ignored
    metrics, tags = evaluate(model, split, task, batch_size, pad_token_id, ctx, precision)
                                                       entity-level scores on words; each sentence's predicted tags
    write_conll_predictions(path, split.sentences, tags)   `word gold predicted` lines (finetune/token/conll.py)
    task.main_metric                                   "f1": the dev score that picks the best epoch

Words and pieces. CoNLL gives sentences as words; the tokenizer splits a word into pieces ("Schwarzenegger"
-> schwarz ##ene ##gger). The model predicts a label for every piece, but the task scores words, so
the first piece of a word carries the word's label and is the one read back as the word's prediction;
later pieces, [CLS], [SEP] and padding get -100, which the loss ignores. With label_all_tokens later
pieces are trained too, with the word's label (I-X for the later pieces of a B-X word: they are inside
the entity). A word whose pieces were all cut off by max_length is predicted O: it stays in the
evaluation, where it counts against the model if it was part of an entity.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bert.heads import IGNORE_INDEX
from finetune.checkpoint import ModelSource, build_head_model, load_head_model, save_classifier
from finetune.token.conll import Sentence, TokenTask, TokenTaskData, write_conll_predictions
from finetune.data import EncodedSplit, collate as collate_inputs
from finetune.inference import predict_rows
from finetune.token.entities import entity_scores, entity_spans
from training import DistributedContext, Precision

def build_model(source: ModelSource, task: TokenTask) -> nn.Module:
    """The checkpoint's encoder with a fresh (hidden -> num_labels) layer on every token, labels named in
    config.json (id2label); a random model for a preset. Call set_seed first: fresh weights come from it."""
    return build_head_model(source, "TokenClassification", id2label=dict(enumerate(task.labels)), problem_type=None)


# ------------------------------------------------------------------ words -> pieces

@dataclass
class EncodedSentences:
    """Sentences as word pieces, with what it takes to train on them and to read predictions back.

    inputs: the pieces ([CLS] ... [SEP]), unpadded, as a GLUE split without labels
    labels: a label id per piece, -100 where the loss ignores it; None for sentences without tags
    word_starts: per sentence, the position of each word's first piece, -1 for a word that has none
    """

    sentences: list[Sentence]
    inputs: EncodedSplit
    labels: list[list[int]] | None
    word_starts: list[list[int]]

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def lengths(self) -> list[int]:
        return self.inputs.lengths


def encode_sentences(tokenizer, labels: Sequence[str], sentences: list[Sentence], max_length: int,
                     label_all_tokens: bool = False) -> EncodedSentences:
    """Tokenise pre-split words, [CLS] pieces [SEP] cut to max_length, and put each word's label on its pieces."""
    encodings = tokenizer.encode_words([s.words for s in sentences], max_length=max_length)
    word_starts = [first_pieces(e.word_ids, len(s.words)) for e, s in zip(encodings, sentences)]
    inputs = EncodedSplit(examples=[], input_ids=[e.ids for e in encodings],
                          token_type_ids=[e.token_type_ids for e in encodings], labels=None)
    piece_labels = None
    if sentences and sentences[0].tags is not None:
        label_ids = {label: i for i, label in enumerate(labels)}
        piece_labels = [label_pieces(e.word_ids, [label_ids[t] for t in s.tags], labels, label_all_tokens)
                        for e, s in zip(encodings, sentences)]
    return EncodedSentences(sentences, inputs, piece_labels, word_starts)


def first_pieces(word_ids: list[int | None], n_words: int) -> list[int]:
    """Position of each word's first piece; -1 for a word with no piece (cut off, or empty after normalising)."""
    starts = [-1] * n_words
    for position, word in reversed(list(enumerate(word_ids))):  # backwards: the last write is the first piece
        if word is not None:
            starts[word] = position
    return starts


def label_pieces(word_ids: list[int | None], word_labels: list[int], labels: Sequence[str],
                 label_all_tokens: bool) -> list[int]:
    """A label id per piece: the word's on its first piece; on later pieces -100, or with label_all_tokens
    the word's label made inside (B-X -> I-X)."""
    inside = [labels.index("I-" + label[2:]) if label.startswith("B-") else i for i, label in enumerate(labels)]
    piece_labels, previous = [], None
    for word in word_ids:
        if word is None:
            piece_labels.append(IGNORE_INDEX)
        elif word != previous:
            piece_labels.append(word_labels[word])
        else:
            piece_labels.append(inside[word_labels[word]] if label_all_tokens else IGNORE_INDEX)
        previous = word
    return piece_labels


def collate(split: EncodedSentences, positions: list[int], pad_token_id: int,
            token_types: bool = True) -> dict[str, torch.Tensor]:
    """Pad the chosen sentences to the longest of them: GLUE's inputs, plus labels (batch, longest) padded
    with -100 when the split has labels."""
    batch = collate_inputs(split.inputs, positions, pad_token_id, token_types)
    if split.labels is not None:
        labels = torch.full(batch["input_ids"].shape, IGNORE_INDEX, dtype=torch.long)
        for row, i in enumerate(positions):
            labels[row, :len(split.labels[i])] = torch.tensor(split.labels[i])
        batch["labels"] = labels
    return batch


# ------------------------------------------------------------------ predicting and scoring

def predict_pieces(model: nn.Module, split: EncodedSentences, batch_size: int, pad_token_id: int,
                   ctx: DistributedContext | None = None,
                   precision: Precision | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The most probable label of every piece and its probability: two (n, longest) tensors, in the split's
    order (padding positions hold 0)."""
    def make_batch(positions):
        batch = collate(split, positions, pad_token_id, token_types=model.config.type_vocab_size > 0)
        batch.pop("labels", None)
        return batch

    def best_tags(output) -> torch.Tensor:  # (b, seq, 2): the best label's probability and the label
        best_probability, best_label = output.logits.float().softmax(dim=-1).max(dim=-1)  # (b, seq) each
        return torch.stack([best_probability, best_label.float()], dim=-1)

    rows = predict_rows(model, split.lengths, batch_size, make_batch, best_tags, (max(split.lengths), 2), ctx,
                        precision)
    return rows[..., 1].long(), rows[..., 0]


def predict_words(model: nn.Module, split: EncodedSentences, labels: Sequence[str], batch_size: int,
                  pad_token_id: int, ctx: DistributedContext | None = None,
                  precision: Precision | None = None) -> tuple[list[list[str]], list[list[float]]]:
    """Each sentence's predicted tag per word (read off its first piece; O for a word without one) and
    that tag's probability (0.0 for a word without a piece)."""
    label_ids, probabilities = predict_pieces(model, split, batch_size, pad_token_id, ctx, precision)
    tags, scores = [], []
    for starts, piece_labels, piece_probabilities in zip(split.word_starts, label_ids.tolist(), probabilities.tolist()):
        tags.append([labels[piece_labels[s]] if s >= 0 else "O" for s in starts])
        scores.append([piece_probabilities[s] if s >= 0 else 0.0 for s in starts])
    return tags, scores


def evaluate(model: nn.Module, split: EncodedSentences, task: TokenTask, batch_size: int, pad_token_id: int,
             ctx: DistributedContext | None = None,
             precision: Precision | None = None) -> tuple[dict[str, float], list[list[str]]]:
    """Entity-level scores of the model on a tagged split (finetune/token/entities.py), and its predicted tags."""
    tags, _ = predict_words(model, split, task.labels, batch_size, pad_token_id, ctx, precision)
    return entity_scores([s.tags for s in split.sentences], tags, task.entity_types), tags


# ------------------------------------------------------------------ the family


@dataclass
class EncodedTokenTask:
    """A token task's splits as word pieces (test is None without a test split)."""

    train: EncodedSentences
    dev: EncodedSentences
    test: EncodedSentences | None


def encode_token_task(tokenizer, task: TokenTask, data: TokenTaskData, max_length: int,
                      label_all_tokens: bool) -> EncodedTokenTask:
    def encode(sentences):
        return encode_sentences(tokenizer, task.labels, sentences, max_length, label_all_tokens)

    return EncodedTokenTask(encode(data.train), encode(data.dev), encode(data.test) if data.test else None)


class TokenClassification:
    """A token task and its encoded data, for the fine-tuning engine (see finetune/sentence/family.py
    for the interface). Per seed it writes model/, dev_predictions.conll and test_predictions.conll."""

    metric_keys = ["f1", "precision", "recall"]

    def __init__(self, task: TokenTask, data: EncodedTokenTask, eval_batch_size: int, pad_token_id: int):
        self.task, self.data = task, data
        self.eval_batch_size, self.pad_token_id = eval_batch_size, pad_token_id
        self.name, self.main_metric = task.name, task.main_metric
        self.train_lengths = data.train.lengths
        self.train_pieces = sum(label != IGNORE_INDEX for row in data.train.labels or [] for label in row)

    def build_model(self, source: ModelSource) -> nn.Module:
        return build_model(source, self.task)

    def train_batch(self, positions: list[int], pad_token_id: int, token_types: bool) -> dict[str, torch.Tensor]:
        return collate(self.data.train, positions, pad_token_id, token_types)

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        return {"loss": float((batch["labels"] != IGNORE_INDEX).sum())}  # a mean over the labelled pieces

    def train_items(self) -> dict[str, float]:
        """Every labelled piece of the epoch weighs the same: a step's loss is its pieces' sum over the mean
        pieces per step, not their mean. Length-grouped batches hold 30 one-word sentences in one step and
        30 long ones in another; with a mean per step each of the first's few pieces would weigh many times
        one of the second's (CoNLL-2003, all-MiniLM-L6-v2, 2 epochs, seed 42: dev F1 0.8681 with the mean,
        0.8765 with the sum; docs/results.md)."""
        return {"loss": float(self.train_pieces)}

    def evaluate(self, model: nn.Module, ctx: DistributedContext,
                 precision: Precision) -> tuple[dict[str, float], list[list[str]]]:
        return evaluate(model, self.data.dev, self.task, self.eval_batch_size, self.pad_token_id, ctx, precision)

    def save_best(self, model: nn.Module, tokenizer, dev_tags: list[list[str]], out: Path) -> None:
        save_classifier(model, tokenizer, out / "model")
        self.write_predictions(dev_tags, out)

    def write_predictions(self, dev_tags: list[list[str]], out: Path) -> None:
        write_conll_predictions(out / "dev_predictions.conll", self.data.dev.sentences, dev_tags)

    def load_best(self, directory: Path) -> nn.Module:
        return load_head_model(directory, "TokenClassification")[0]

    def write_test(self, model: nn.Module, ctx: DistributedContext, precision: Precision,
                   out: Path) -> dict[str, float]:
        """test_predictions.conll and the test scores ("test_f1", ...), when the task has a test split."""
        if self.data.test is None:
            return {}
        metrics, tags = evaluate(model, self.data.test, self.task, self.eval_batch_size, self.pad_token_id, ctx,
                                 precision)
        if ctx.is_main:
            write_conll_predictions(out / "test_predictions.conll", self.data.test.sentences, tags)
        return {f"test_{name}": value for name, value in metrics.items()}

    def print_report(self, summary: dict, results: list, output: Path) -> None:
        """Median scores (dev, then test), one line per seed, and a few dev sentences of the best run with
        the gold and the predicted entities."""
        several = len(results) > 1
        median = " (median of %d seeds)" % len(results) if several else ""
        for split, scores in (("dev", summary["median"]), ("test", summary.get("test_median"))):
            if scores:
                print(f"\n{self.name} {split}{median}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        for row in summary["seeds"] if several else []:
            print(f"  seed {row['seed']}: dev f1 {row['f1']:.4f} (best epoch {row['best_epoch']}, "
                  f"{row['train_seconds']:.0f}s)")
        best = next(r for r in results if r.seed == summary["best_seed"])
        if best.predictions is not None:  # None for a seed finished by an earlier run (its files are on disk)
            print(f"\nsample of dev predictions ({summary['best_model']}, epoch {best.best_epoch}):")
            chosen = sorted(random.Random(0).sample(range(len(self.data.dev)), min(5, len(self.data.dev))))
            for i in chosen:
                sentence = self.data.dev.sentences[i]
                print(f"  {' '.join(sentence.words)}\n    gold:      {entity_list(sentence, sentence.tags)}\n"
                      f"    predicted: {entity_list(sentence, best.predictions[i])}")
        print(f"\nwritten to {output}/: summary.json, seed-*/ (model, dev and test predictions, metrics)")


def entity_list(sentence: Sentence, tags: list[str]) -> str:
    """"[ORG EU] [MISC German] [MISC British]", or "-" when there is none."""
    entities = [f"[{kind} {' '.join(sentence.words[start:end])}]" for kind, start, end in entity_spans(tags)]
    return " ".join(entities) or "-"
