"""BertConfig: every size and probability that defines a BERT, with HF's field names.

The field names are exactly those of HF's `config.json`, so a config file written by `transformers` loads
here and ours loads there (`BertConfig.from_json_file` / `to_json_file`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

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
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
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
        positive = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                    "max_position_embeddings", "type_vocab_size", "num_labels")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                             f"num_attention_heads ({self.num_attention_heads})")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {getattr(self, name)!r}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"BertConfig.layer_norm_eps must be positive, got {self.layer_norm_eps!r}")
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(f"BertConfig.hidden_act must be one of {ACTIVATIONS}, got {self.hidden_act!r}")
        if not 0 <= self.pad_token_id < self.vocab_size:
            raise ValueError(f"BertConfig.pad_token_id ({self.pad_token_id}) must be a valid id below "
                             f"vocab_size ({self.vocab_size})")
        if self.problem_type not in (None, "regression", "single_label_classification",
                                     "multi_label_classification"):
            raise ValueError(f"BertConfig.problem_type {self.problem_type!r} is not a known problem type")

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
            raise ValueError(f"unknown BertConfig field(s): {', '.join(sorted(unknown))}")
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
        d["model_type"] = "bert"
        d["position_embedding_type"] = "absolute"
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BertConfig":
        """Read HF's config.json fields; fields that do not change BERT's computation are ignored."""
        if d.get("model_type", "bert") != "bert":
            raise ValueError(f"config model_type is {d['model_type']!r}, not 'bert'")
        if d.get("position_embedding_type", "absolute") != "absolute":
            raise ValueError(f"position_embedding_type {d['position_embedding_type']!r} is not supported "
                             "(only 'absolute', as in the BERT paper)")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_json_file(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json_file(cls, path: str | os.PathLike) -> "BertConfig":
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
        return cls.from_dict(d)
