"""Where a classifier comes from and where it goes.

`--model` is, in this order: a checkpoint directory in HF layout (one of ours from `bert-pretrain`, a
fine-tuned one, or any HF BERT or DistilBERT directory); a preset name (`mini`, `base`, ...) for random BERT
weights, the no-pretraining baseline; or a Hugging Face Hub model id (`bert-base-uncased`), fetched into the
HF cache by bert.checkpoint.resolve_checkpoint_dir, the one resolver of every command. The tokenizer is the
checkpoint's own vocabulary (its vocab.txt) unless `--vocab` names another; a preset has no vocabulary, so it
needs `--vocab`.

The checkpoint's config.json says which model type it is (`model_type`), and HEAD_MODELS which class puts a
task family's head on it (a sentence classifier, a token classifier, a question answerer). A fine-tuned model
is saved as config.json + model.safetensors + the tokenizer's files in that type's layout, so both
`bert-predict` and `transformers` (BertForSequenceClassification, DistilBertForTokenClassification, ...) load
the directory; config.json's `architectures` names the head, which is how a folder's family is recognised.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bert import (PRESETS, BertConfig, BertForQuestionAnswering, BertForSequenceClassification,
                  BertForTokenClassification, DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                  DistilBertForTokenClassification, read_config)
from bert.checkpoint import resolve_checkpoint_dir
from bert.errors import InputError
from finetune.sentence.tasks import GlueTask
from tokenizer import WordPieceTokenizer


# config.json's model_type -> head -> the class with that head on that model type's encoder. A head is named
# as the class names end (BertFor<Head>), so config.json's architectures says which head a folder has.
HEADS = ("SequenceClassification", "TokenClassification", "QuestionAnswering")
HEAD_MODELS: dict[str, dict[str, type[nn.Module]]] = {
    "bert": {"SequenceClassification": BertForSequenceClassification,
             "TokenClassification": BertForTokenClassification,
             "QuestionAnswering": BertForQuestionAnswering},
    "distilbert": {"SequenceClassification": DistilBertForSequenceClassification,
                   "TokenClassification": DistilBertForTokenClassification,
                   "QuestionAnswering": DistilBertForQuestionAnswering},
}


@dataclass
class ModelSource:
    """What `--model` named: a checkpoint directory, or a preset's config for random initialisation."""

    name: str
    checkpoint: Path | None
    config: BertConfig


def load_tokenizer(path: str | Path) -> WordPieceTokenizer:
    """The tokenizer saved in a directory (vocab.txt / tokenizer.json), or a bare vocab.txt."""
    try:
        return WordPieceTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        hint = " (pass --vocab PATH to name the vocabulary)" if Path(path).is_dir() else ""
        raise InputError(f"cannot load a tokenizer: {e}{hint}") from None


def resolve_model(model: str, vocab: str | None) -> tuple[ModelSource, WordPieceTokenizer]:
    """Check `--model` and `--vocab` and return the model's source and its tokenizer.

    Everything that can be wrong is caught here, before anything is written: a name that is neither a
    checkpoint directory, a preset nor a Hub model (cached, or downloadable), a checkpoint without a
    vocabulary, a vocabulary whose size differs from the checkpoint's embedding table.
    """
    if model in PRESETS and not Path(model).is_dir():  # a local directory of that name wins
        if vocab is None:
            raise InputError(f"--model {model} is a preset with random weights and no vocabulary: pass --vocab "
                             "PATH (a vocab.txt, or a directory holding one, e.g. from bert-tokenizer)")
        tokenizer = load_tokenizer(vocab)
        config = BertConfig.from_preset(model, vocab_size=tokenizer.vocab_size, pad_token_id=tokenizer.pad_token_id)
        source = ModelSource(model, None, config)
    else:
        path = find_checkpoint(model)
        source = ModelSource(model, path, _read_checkpoint_config(path))
        tokenizer = load_tokenizer(vocab if vocab is not None else path)
    if source.config.vocab_size != tokenizer.vocab_size:
        raise InputError(f"{model}: the checkpoint has {source.config.vocab_size} word embeddings but the "
                         f"vocabulary has {tokenizer.vocab_size} entries: they must come from the same vocabulary")
    return source, tokenizer


def find_checkpoint(model: str) -> Path:
    """--model as a checkpoint directory: a local one, or a Hugging Face Hub id fetched into the HF cache."""
    try:
        return resolve_checkpoint_dir(model)
    except FileNotFoundError as e:
        raise InputError(f"--model {e}") from None


def _read_checkpoint_config(directory: Path) -> BertConfig:
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise InputError(f"{directory}: no config.json (not a checkpoint directory in HF layout)")
    if not any((directory / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise InputError(f"{directory}: no model.safetensors or pytorch_model.bin in the checkpoint directory")
    try:
        return read_config(config_file)
    except (ValueError, TypeError) as e:
        raise InputError(f"{config_file}: {e}") from None


def label_config(task: GlueTask) -> dict:
    """Config fields that shape the classifier for `task` (HF names, so transformers reads them too)."""
    if task.is_regression:
        return {"num_labels": 1, "problem_type": "regression"}
    problem = "multi_label_classification" if task.multi_label else "single_label_classification"
    return {"id2label": dict(enumerate(task.label_names)), "problem_type": problem}


def build_head_model(source: ModelSource, head: str, **config_overrides) -> nn.Module:
    """The checkpoint's encoder (its pretraining or other heads dropped) with a fresh `head`, its config
    changed by `config_overrides` (labels), or a randomly initialised model for a preset. Call set_seed
    first: the fresh weights come from torch's global generator."""
    model_class = HEAD_MODELS[source.config.model_type][head]
    if source.checkpoint is None:
        return model_class(source.config.with_overrides(**config_overrides))
    try:
        return model_class.from_pretrained(source.checkpoint, **config_overrides)
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None


def build_classifier(source: ModelSource, task: GlueTask) -> nn.Module:
    """A sentence(-pair) classifier for `task` (build_head_model)."""
    return build_head_model(source, "SequenceClassification", **label_config(task))


def save_classifier(model: nn.Module, tokenizer: WordPieceTokenizer, directory: Path) -> None:
    """Write the model and its vocabulary to `directory`, replacing it as a whole.

    Files go to a temporary sibling first, which is then renamed into place, so a crash leaves either
    the previous best model or the new one, never a mix.
    """
    tmp, old = directory.with_name(f".{directory.name}.tmp"), directory.with_name(f".{directory.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save(tmp)
    if directory.exists():
        directory.rename(old)
    tmp.rename(directory)
    shutil.rmtree(old, ignore_errors=True)


def head_of(directory: Path) -> str | None:
    """The head config.json's architectures names (HEADS), or None: a bare encoder, a pretraining checkpoint,
    or no readable config."""
    try:
        architectures = read_config(Path(directory) / "config.json").architectures
    except (OSError, ValueError, TypeError):
        return None
    return next((head for name in architectures for head in HEADS if name.endswith(f"For{head}")), None)


def load_head_model(directory: str | Path, head: str) -> tuple[nn.Module, WordPieceTokenizer]:
    """A fine-tuned model with `head` (HEADS) and its tokenizer, for prediction, in eval mode."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such model directory")
    config = _read_checkpoint_config(directory)
    tokenizer = load_tokenizer(directory)
    if config.vocab_size != tokenizer.vocab_size:
        raise InputError(f"{directory}: config.json has vocab_size {config.vocab_size} but vocab.txt has "
                         f"{tokenizer.vocab_size} entries")
    try:
        model = HEAD_MODELS[config.model_type][head].from_pretrained(directory)
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None
    return model.eval(), tokenizer
