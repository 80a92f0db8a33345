"""BertConfig: every size and probability that defines a BERT, with HF's field names.

The field names are exactly those of HF's `config.json`, so a config file written by `transformers` loads
here and ours loads there (`BertConfig.from_json_file` / `to_json_file`).

DistilBertConfig is the same dataclass (the modules read `hidden_size`, `num_hidden_layers`, ... whatever the
family) read from and written to DistilBERT's `config.json`, whose names differ (`dim`, `n_layers`, ...):
DISTILBERT_CONFIG_NAMES is the one table between the two. `read_config` picks the class from `model_type`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import ClassVar

# Activations BERT checkpoints use. "gelu" is the exact erf form of the paper's code; "gelu_new" is the
# tanh approximation some checkpoints were trained with.
ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "silu")

# Named sizes. tiny..medium follow Turc et al. 2019 ("Well-Read Students Learn Better"), base and large the
# original paper. Every preset keeps 64 dimensions per head and a 4x wide feed-forward layer.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=128, num_attention_heads=2, intermediate_size=512),
    "mini": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "small": dict(num_hidden_layers=4, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "medium": dict(num_hidden_layers=8, hidden_size=512, num_attention_heads=8, intermediate_size=2048),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096),
}


def default_label_names(num_labels: int) -> dict[int, str]:
    return {i: f"LABEL_{i}" for i in range(num_labels)}


@dataclass
class BertConfig:
    model_type: ClassVar[str] = "bert"  # config.json's model_type: which checkpoint family this describes
    # Fields that must be positive integers. type_vocab_size is one for BERT; DistilBERT has no token types.
    positive_fields: ClassVar[tuple[str, ...]] = (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
        "max_position_embeddings", "type_vocab_size", "num_labels")

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2  # segments (sentence A / B); 0 = no segment embeddings (DistilBERT)
    # BERT's LayerNorm eps is 1e-12, not PyTorch's 1e-5: the TF original used it, and every released
    # checkpoint was trained with it, so outputs only match with the same value.
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    pad_token_id: int = 0
    # Task heads. `num_labels == 1` means regression (STS-B); HF derives num_labels from id2label.
    num_labels: int = 2
    id2label: dict[int, str] | None = None
    problem_type: str | None = None  # None: inferred from num_labels and the labels' dtype, as HF does
    classifier_dropout: float | None = None  # None: use hidden_dropout_prob
    architectures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.id2label is not None:
            self.id2label = {int(k): v for k, v in self.id2label.items()}
            self.num_labels = len(self.id2label)
            if self.id2label == default_label_names(self.num_labels):
                self.id2label = None  # HF's placeholder names carry no information
        self._validate()

    def _validate(self) -> None:
        name_of = type(self).__name__  # BertConfig or DistilBertConfig, in every message
        for name in self.positive_fields:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name_of}.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(f"{name_of}.hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name_of}.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"{name_of}.layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"{name_of}.hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"{name_of}.pad_token_id ({self.pad_token_id}) must be a valid id below "
                             f"vocab_size ({self.vocab_size})")
        if self.problem_type not in (None, "regression", "single_label_classification",
                                     "multi_label_classification"):
            raise ValueError(f"{name_of}.problem_type {self.problem_type!r} is not a known problem type")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "BertConfig":
        """A named size (tiny, mini, small, medium, base, large), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def with_overrides(self, **overrides) -> "BertConfig":
        """A copy with fields changed; `num_labels=3` replaces the label names too."""
        unknown = set(overrides) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown {type(self).__name__} field(s): {', '.join(sorted(unknown))}")
        if "num_labels" in overrides and "id2label" not in overrides:
            overrides["id2label"] = None
        return replace(self, **overrides)

    # --- JSON, in HF's config.json format -------------------------------------------------------------

    def to_dict(self) -> dict:
        d = asdict(self)
        # HF stores the label names, not num_labels; writing both keeps either reader happy.
        id2label = self.id2label or default_label_names(self.num_labels)
        d["id2label"] = {str(i): label for i, label in id2label.items()}
        d["label2id"] = {label: i for i, label in id2label.items()}
        d["model_type"] = self.model_type
        d["position_embedding_type"] = "absolute"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        """Read HF's config.json fields; fields that do not change BERT's computation are ignored."""
        if d.get("model_type", "bert") != "bert":
            raise ValueError(f"config model_type is {d['model_type']!r}, not 'bert'"
                             f"{' (use the DistilBert* classes)' if d['model_type'] == 'distilbert' else ''}")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type {d['position_embedding_type']!r} is not supported "
                             "(only 'absolute', as in the BERT paper)")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json_file(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BertConfig":
        return cls.from_dict(read_json(path))


# DistilBERT's config.json names for the fields it shares with BERT: ours -> theirs. vocab_size,
# max_position_embeddings, initializer_range, pad_token_id and the label fields have the same name in both.
DISTILBERT_CONFIG_NAMES = {
    "hidden_size": "dim",
    "num_hidden_layers": "n_layers",
    "num_attention_heads": "n_heads",
    "intermediate_size": "hidden_dim",
    "hidden_act": "activation",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
}


@dataclass
class DistilBertConfig(BertConfig):
    """DistilBERT (Sanh et al. 2019, "DistilBERT, a distilled version of BERT"): BERT's encoder with half the
    layers, no segment embeddings and no pooler. Defaults are distilbert-base-uncased's.

    BertConfig's fields DistilBERT does not have are fixed (FIXED below); its own are the dropouts of its
    sequence-classification and QA heads, and whether the position embeddings start as sinusoids.
    """

    model_type: ClassVar[str] = "distilbert"
    positive_fields: ClassVar[tuple[str, ...]] = tuple(
        name for name in BertConfig.positive_fields if name != "type_vocab_size")
    # No segment embeddings; LayerNorm eps is a constant in HF's DistilBERT code; its heads' dropouts are
    # seq_classif_dropout and qa_dropout, not classifier_dropout.
    FIXED: ClassVar[dict] = {"type_vocab_size": 0, "layer_norm_eps": 1e-12, "classifier_dropout": None}

    num_hidden_layers: int = 6
    type_vocab_size: int = 0
    sinusoidal_pos_embds: bool = False  # position embeddings start as the Transformer's sinusoids
    seq_classif_dropout: float = 0.2  # between pre_classifier and classifier (sequence classification)
    qa_dropout: float = 0.1  # before qa_outputs (question answering)

    def _validate(self) -> None:
        super()._validate()
        for name, value in self.FIXED.items():
            if getattr(self, name) != value:
                raise ValueError(f"DistilBertConfig.{name} must be {value!r} (DistilBERT has no other), "
                                 f"got {getattr(self, name)!r}")
        for name in ("seq_classif_dropout", "qa_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"DistilBertConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        d = super().to_dict()
        for name in self.FIXED:
            del d[name]
        del d["position_embedding_type"]
        for ours, theirs in DISTILBERT_CONFIG_NAMES.items():
            d[theirs] = d.pop(ours)
        # The MLM head's output matrix is the word-embedding matrix (as in every released DistilBERT).
        d["tie_word_embeddings"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DistilBertConfig":
        """Read DistilBERT's config.json; fields that do not change its computation are ignored."""
        if d.get("model_type") != "distilbert":
            raise ValueError(f"config model_type is {d.get('model_type')!r}, not 'distilbert'")
        if not d.get("tie_word_embeddings", True):
            raise ValueError("tie_word_embeddings is false: an MLM output matrix apart from the word "
                             "embeddings is not supported")
        theirs_to_ours = {theirs: ours for ours, theirs in DISTILBERT_CONFIG_NAMES.items()}
        renamed = {theirs_to_ours.get(k, k): v for k, v in d.items()}
        known = {f.name for f in fields(cls)} - set(cls.FIXED)
        return cls(**{k: v for k, v in renamed.items() if k in known})


CONFIG_CLASSES = {cls.model_type: cls for cls in (BertConfig, DistilBertConfig)}


def read_json(path: str | os.PathLike) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None


def read_config(path: str | os.PathLike) -> BertConfig:
    """A config.json of either family, as the class its `model_type` names (BertConfig when it names none)."""
    d = read_json(path)
    model_type = d.get("model_type", "bert")
    if model_type not in CONFIG_CLASSES:
        raise ValueError(f"config model_type is {model_type!r}; supported: {', '.join(CONFIG_CLASSES)}")
    return CONFIG_CLASSES[model_type].from_dict(d)
