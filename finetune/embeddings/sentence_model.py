"""A model folder as a sentence encoder: its encoder weights, and how its folder says to pool them.

A sentence-transformers folder (all-MiniLM-L6-v2's) describes its pipeline in modules.json:

    [{"type": "sentence_transformers.models.Transformer", "path": ""},         the encoder (weights, tokenizer)
     {"type": "sentence_transformers.models.Pooling", "path": "1_Pooling"},    1_Pooling/config.json: the mode
     {"type": "sentence_transformers.models.Normalize", "path": "2_Normalize"}]  unit length (no files)

and the Transformer module's folder holds sentence_bert_config.json, whose max_seq_length cuts every text.
Any other folder (a plain BERT or DistilBERT checkpoint, a fine-tuned model) gets mean pooling without
normalisation, and texts are cut at the model's max_position_embeddings. A module this code does not
compute (Dense, a pooling mode other than mean / cls / max) is an error, never left out silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from bert import DistilBertModel
from bert.checkpoint import load_hf_state_dict, load_reports_silenced, read_state_dict
from bert.errors import InputError
from bert.model import BertModel
from bert.pooling import Pooling, SentenceEncoder
from finetune.checkpoint import ModelSource, resolve_model
from tokenizer import WordPieceTokenizer

MODULES_FILE = "modules.json"
SETTINGS_FILE = "sentence_bert_config.json"
# 1_Pooling/config.json's keys for the modes computed here (bert/pooling.py)
POOLING_KEYS = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls", "pooling_mode_max_tokens": "max"}
MODULE_KINDS = ("Transformer", "Pooling", "Normalize")  # sentence_transformers.models.<kind>


@dataclass(frozen=True)
class FolderSettings:
    """What a model folder says about making sentence vectors."""

    weights: Path  # the folder of config.json, the weights and the tokenizer
    pooling: Pooling
    max_seq_length: int | None  # None: the model's max_position_embeddings


def read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path}: not a readable JSON file ({e})") from None


def read_folder_settings(directory: Path) -> FolderSettings:
    """The pooling, normalisation and length of `directory` (see the module docstring)."""
    modules_file = directory / MODULES_FILE
    if not modules_file.is_file():
        return FolderSettings(directory, Pooling("mean", normalize=False), None)
    modules = read_json(modules_file)
    if not isinstance(modules, list) or not all(isinstance(m, dict) and isinstance(m.get("type"), str)
                                                for m in modules):
        raise InputError(f"{modules_file}: expected a list of modules, each with a \"type\"")
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    unknown = [m["type"] for m, kind in zip(modules, kinds) if kind not in MODULE_KINDS]
    if unknown:
        raise InputError(f"{modules_file}: module {unknown[0]} is not computed here (only "
                         f"{', '.join(MODULE_KINDS)})")
    if kinds.count("Transformer") != 1 or kinds.count("Pooling") != 1:
        raise InputError(f"{modules_file}: expected one Transformer and one Pooling module")
    by_kind = {kind: module for kind, module in zip(kinds, modules)}
    weights = directory / str(by_kind["Transformer"].get("path", ""))
    pooling_file = directory / str(by_kind["Pooling"].get("path", "")) / "config.json"
    pooling = read_json(pooling_file)
    if not isinstance(pooling, dict):
        raise InputError(f"{pooling_file}: expected a JSON object")
    modes = [key for key, value in pooling.items() if key.startswith("pooling_mode_") and value is True]
    if len(modes) != 1 or modes[0] not in POOLING_KEYS:
        raise InputError(f"{pooling_file}: pooling {' + '.join(modes) or 'none'} is not computed here (one of "
                         f"{', '.join(POOLING_KEYS)})")
    return FolderSettings(weights, Pooling(POOLING_KEYS[modes[0]], normalize="Normalize" in kinds),
                          read_max_seq_length(weights / SETTINGS_FILE))


def read_max_seq_length(path: Path) -> int | None:
    if not path.is_file():
        return None
    settings = read_json(path)
    length = settings.get("max_seq_length") if isinstance(settings, dict) else None
    if length is not None and (not isinstance(length, int) or length < 2):
        raise InputError(f"{path}: max_seq_length must be a whole number of at least 2, got {length!r}")
    return length


def load_encoder(source: ModelSource) -> nn.Module:
    """The bare encoder of a checkpoint of either family (BertModel without pooler, or DistilBertModel), whatever
    heads the checkpoint also has: those are left out on purpose, so loading reports nothing about them."""
    config = source.config
    if config.model_type == "distilbert":
        encoder = DistilBertModel(config)
    else:
        encoder = BertModel(config, add_pooling_layer=False)
    try:
        with load_reports_silenced():
            load_hf_state_dict(encoder, read_state_dict(source.checkpoint), source=str(source.checkpoint))
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None
    return encoder.eval()


def load_sentence_encoder(directory: Path, pooling: str | None = None, normalize: bool | None = None,
                          max_seq_length: int | None = None) -> tuple[SentenceEncoder, WordPieceTokenizer, int]:
    """The folder's sentence encoder, its tokenizer and the length texts are cut at. `pooling`, `normalize` and
    `max_seq_length` override what the folder says where given."""
    settings = read_folder_settings(directory)
    source, tokenizer = resolve_model(str(settings.weights), vocab=None)
    try:
        chosen = Pooling(pooling or settings.pooling.mode,
                         settings.pooling.normalize if normalize is None else normalize)
    except ValueError as e:
        raise InputError(str(e)) from None
    positions = source.config.max_position_embeddings
    length = max_seq_length or settings.max_seq_length or positions
    if not 2 <= length <= positions:
        raise InputError(f"--max-seq-length {length}: must be between 2 and the model's {positions} positions")
    return SentenceEncoder(load_encoder(source), chosen).eval(), tokenizer, length
