"""Checkpoint I/O in HuggingFace's layout: `config.json` + `model.safetensors` (or `pytorch_model.bin`).

Our module names are chosen to read well (`attention_norm`, `feed_forward.up`); HF's are historical
(`attention.output.LayerNorm`, `intermediate.dense`). HF_NAMES below is the one table that translates
between them for BERT, DISTILBERT_NAMES the one for DistilBERT (`sa_layer_norm`, `ffn.lin1`); every other
name (word_embeddings, pooler.dense, classifier, ...) is the same in ours and theirs. A Layout gathers what
else differs between the two families: the encoder's key prefix, the keys to skip, the optional heads.
"""

from __future__ import annotations

import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .config import PRESETS, BertConfig
from .files import atomic_write

logger = logging.getLogger("bert")

# our module name -> HF module name ({i} = layer index). Parameters (.weight / .bias) keep their names.
HF_NAMES = {
    "embeddings.norm": "embeddings.LayerNorm",
    "encoder.layers.{i}.attention.query": "encoder.layer.{i}.attention.self.query",
    "encoder.layers.{i}.attention.key": "encoder.layer.{i}.attention.self.key",
    "encoder.layers.{i}.attention.value": "encoder.layer.{i}.attention.self.value",
    "encoder.layers.{i}.attention.output": "encoder.layer.{i}.attention.output.dense",
    "encoder.layers.{i}.attention_norm": "encoder.layer.{i}.attention.output.LayerNorm",
    "encoder.layers.{i}.feed_forward.up": "encoder.layer.{i}.intermediate.dense",
    "encoder.layers.{i}.feed_forward.down": "encoder.layer.{i}.output.dense",
    "encoder.layers.{i}.feed_forward_norm": "encoder.layer.{i}.output.LayerNorm",
    "mlm_head.transform": "cls.predictions.transform.dense",
    "mlm_head.norm": "cls.predictions.transform.LayerNorm",
    "mlm_head": "cls.predictions",  # the vocabulary bias: mlm_head.bias <-> cls.predictions.bias
    "nsp_head": "cls.seq_relationship",
}

# Keys a checkpoint may carry that hold nothing to load: position-id buffers, and the MLM decoder, which
# is tied to the word embeddings (its bias is cls.predictions.bias under another name).
IGNORED_KEYS = re.compile(r"(^|\.)embeddings\.(position_ids|token_type_ids)$|^cls\.predictions\.decoder\.weight$")
DECODER_BIAS_ALIAS = ("cls.predictions.decoder.bias", "cls.predictions.bias")

# Modules that some BERT classes have and others lack. A checkpoint may carry them for a class without
# them (a pretraining checkpoint loaded for classification), and a class may find them missing (a fresh
# classifier): both are normal, and reported, not errors.
HEAD_PREFIXES = ("cls.", "classifier.", "qa_outputs.", "pooler.")  # after the "bert." prefix, if any

# DistilBERT: our module name -> HF module name, as HF_NAMES is for BERT. Its MLM head is our MaskedLMHead
# under other names; its output matrix (vocab_projector.weight) is the word-embedding matrix.
DISTILBERT_NAMES = {
    "embeddings.norm": "embeddings.LayerNorm",
    "encoder.layers.{i}.attention.query": "transformer.layer.{i}.attention.q_lin",
    "encoder.layers.{i}.attention.key": "transformer.layer.{i}.attention.k_lin",
    "encoder.layers.{i}.attention.value": "transformer.layer.{i}.attention.v_lin",
    "encoder.layers.{i}.attention.output": "transformer.layer.{i}.attention.out_lin",
    "encoder.layers.{i}.attention_norm": "transformer.layer.{i}.sa_layer_norm",
    "encoder.layers.{i}.feed_forward.up": "transformer.layer.{i}.ffn.lin1",
    "encoder.layers.{i}.feed_forward.down": "transformer.layer.{i}.ffn.lin2",
    "encoder.layers.{i}.feed_forward_norm": "transformer.layer.{i}.output_layer_norm",
    "mlm_head.transform": "vocab_transform",
    "mlm_head.norm": "vocab_layer_norm",
    "mlm_head": "vocab_projector",  # the vocabulary bias: mlm_head.bias <-> vocab_projector.bias
}

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# What is fetched of a Hub model: the config, the weights (either format) and the vocabulary.
HUB_FILES = ("config.json", *WEIGHT_FILES, "vocab.txt", "tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class Layout:
    """How one model family's checkpoints name and group their weights."""

    prefix: str  # the encoder's attribute in a task model, and so its keys' prefix: "bert" -> "bert.embeddings..."
    names: dict[str, str]  # our module name -> HF module name ({i} = layer index)
    ignored: re.Pattern  # keys that hold nothing to load
    head_prefixes: tuple[str, ...]  # modules that some classes of the family have and others lack
    aliases: dict[str, str] = field(default_factory=dict)  # another name a key may have -> its name here


BERT_LAYOUT = Layout("bert", HF_NAMES, IGNORED_KEYS, HEAD_PREFIXES, dict([DECODER_BIAS_ALIAS]))
DISTILBERT_LAYOUT = Layout(
    "distilbert", DISTILBERT_NAMES,
    ignored=re.compile(r"(^|\.)embeddings\.position_ids$|^vocab_projector\.weight$"),  # a buffer; tied
    head_prefixes=("vocab_transform.", "vocab_layer_norm.", "vocab_projector.", "pre_classifier.", "classifier.",
                   "qa_outputs."))


def hf_name(our_key: str, layout: Layout = BERT_LAYOUT) -> str:
    """'bert.encoder.layers.3.feed_forward.up.weight' -> 'bert.encoder.layer.3.intermediate.dense.weight'"""
    prefix = f"{layout.prefix}." if our_key.startswith(f"{layout.prefix}.") else ""
    module, param = our_key[len(prefix):].rsplit(".", 1)
    template = re.sub(r"\.\d+\.", ".{i}.", module, count=1)
    layer = re.search(r"\.(\d+)\.", module)
    if template in layout.names:
        module = layout.names[template].format(i=layer.group(1) if layer else "")
    return f"{prefix}{module}.{param}"


def normalise_legacy_name(key: str) -> str:
    """Old TF-converted checkpoints call LayerNorm's parameters gamma and beta."""
    return re.sub(r"LayerNorm\.gamma$", "LayerNorm.weight", re.sub(r"LayerNorm\.beta$", "LayerNorm.bias", key))


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """The checkpoint directory a model name stands for: a local directory if there is one, else a Hugging
    Face Hub model id ('bert-base-uncased', 'google/bert_uncased_L-4_H-256_A-4').

    A Hub model is downloaded once into the usual HF cache ($HF_HUB_CACHE, by default
    ~/.cache/huggingface/hub) and read from there afterwards, with the network off too (HF_HUB_OFFLINE=1).
    A preset name (`tiny`, `mini`, ...) stands for random weights of that size, not for a checkpoint: the
    commands that take presets look for one first (a local directory of the same name still wins).
    Every way of failing is a FileNotFoundError of one line.
    """
    local = Path(path)
    if local.is_dir():
        return local
    name = str(path)
    if name in PRESETS:
        raise FileNotFoundError(f"{name}: a preset name (random weights of that size), not a checkpoint")
    looks_like_hub_id = re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name) and not name.startswith(".")
    if local.exists() or not looks_like_hub_id:
        what = "a file" if local.exists() else "no such directory, and not a Hugging Face Hub model id"
        raise FileNotFoundError(f"{name}: not a checkpoint directory ({what})")
    return download_from_hub(name)


def download_from_hub(model_id: str) -> Path:
    """The snapshot directory of a Hub model in the HF cache, fetching only the files a checkpoint needs."""
    from huggingface_hub import constants, snapshot_download  # imported here: local checkpoints never need it
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model_id, allow_patterns=list(HUB_FILES)))
    except LocalEntryNotFoundError:
        if not constants.HF_HUB_OFFLINE:
            raise FileNotFoundError(f"{model_id}: no such local directory; as a Hugging Face Hub model id it is "
                                    f"not in the cache ({constants.HF_HUB_CACHE}) and the Hub could not be "
                                    "reached") from None
        raise FileNotFoundError(f"{model_id}: no such local directory; as a Hugging Face Hub model id it is not "
                                f"in the cache ({constants.HF_HUB_CACHE}), and HF_HUB_OFFLINE is set: download "
                                "it once with the network on") from None
    except Exception as e:  # unknown repository, gated, authentication, a broken cache: one clear line
        reason = str(e).splitlines()[0] if str(e) else ""
        raise FileNotFoundError(f"{model_id}: no such local directory, and fetching it from the Hugging Face "
                                f"Hub failed ({type(e).__name__}: {reason})") from None


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHT_FILES:
        file = directory / name
        if file.exists():
            if name.endswith(".safetensors"):
                return load_file(file)
            return torch.load(file, map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{directory}: no {' or '.join(WEIGHT_FILES)} in the checkpoint directory")


class PretrainedMixin:
    """Weight initialisation, `from_pretrained` and `save_pretrained` for every BERT class; a DistilBERT class
    sets `config_class` and `layout` to DistilBERT's."""

    config: BertConfig
    config_class: type[BertConfig] = BertConfig
    layout: Layout = BERT_LAYOUT

    def init_weights(self) -> None:
        """BERT's initialisation (as in Google's code and HF): N(0, 0.02) weights, zero biases, LayerNorm
        as the identity, and a zero vector for [PAD] so padding starts out contributing nothing."""
        std = self.config.initializer_range
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=std)
                if module.padding_idx is not None:
                    nn.init.zeros_(module.weight[module.padding_idx])
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike, **config_overrides):
        """Load a checkpoint of the class's family in HF layout (a directory, or a Hub id); `config_overrides`
        change the config first, e.g. `num_labels=3` for a fresh 3-way classifier."""
        directory = resolve_checkpoint_dir(path)
        if not (directory / "config.json").exists():
            raise FileNotFoundError(f"{directory}: no config.json in the checkpoint directory")
        config = cls.config_class.from_json_file(directory / "config.json").with_overrides(**config_overrides)
        model = cls(config)
        load_hf_state_dict(model, read_state_dict(directory), source=str(directory))
        return model.eval()

    def save_pretrained(self, path: str | os.PathLike) -> None:
        """Write config.json + model.safetensors in HF layout, each file atomically."""
        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        config = self.config.with_overrides(architectures=[type(self).__name__])
        state = {hf_name(k, self.layout): v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        atomic_write(directory / "model.safetensors", lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))
        atomic_write(directory / "config.json", config.to_json_file)


@contextmanager
def load_reports_silenced():
    """Inside it, loading a checkpoint reports no heads newly initialised or not used: for loading one that
    has been loaded and reported once already (fine-tuning builds its model anew for every seed)."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def load_hf_state_dict(model: PretrainedMixin, checkpoint: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Copy a HF-named state dict into `model`, key by key, asserting every shape; names per `model.layout`.

    Accepts keys with or without the encoder's prefix (`bert.`, `distilbert.`) and legacy gamma/beta names.
    Heads the checkpoint lacks are left freshly initialised and reported; heads the model lacks are skipped
    and reported. Anything else that does not fit (an unknown key, a wrong shape, a missing encoder weight)
    is an error naming the key.
    """
    layout, prefix = model.layout, f"{model.layout.prefix}."
    params = model.state_dict()
    wanted = {hf_name(k, layout): k for k in params}  # HF key -> our key
    checkpoint = {normalise_legacy_name(k): v for k, v in checkpoint.items() if not layout.ignored.search(k)}
    for alias, canonical in layout.aliases.items():
        if alias in checkpoint:
            checkpoint.setdefault(canonical, checkpoint[alias])
            del checkpoint[alias]

    loaded, unused = set(), []
    for key, tensor in checkpoint.items():
        hf_key = next((k for k in (key, f"{prefix}{key}", key.removeprefix(prefix)) if k in wanted), None)
        if hf_key is None:
            if key.removeprefix(prefix).startswith(layout.head_prefixes):
                unused.append(key)
                continue
            raise ValueError(f"{source}: unexpected key {key!r} (not a {layout.prefix} weight "
                             f"{type(model).__name__} knows)")
        target = params[wanted[hf_key]]
        if tensor.shape != target.shape:
            detail = ""
            if hf_key.endswith("word_embeddings.weight"):
                detail = f" (the checkpoint has {tensor.shape[0]} words; config.vocab_size is {target.shape[0]})"
            raise ValueError(f"{source}: {key!r} has shape {tuple(tensor.shape)}, the model expects "
                             f"{tuple(target.shape)}{detail}")
        with torch.no_grad():
            target.copy_(tensor)
        loaded.add(hf_key)

    missing = [k for k in wanted if k not in loaded]
    missing_body = [k for k in missing if not k.removeprefix(prefix).startswith(layout.head_prefixes)]
    if missing_body:
        raise ValueError(f"{source}: missing weight(s) {', '.join(missing_body[:5])}"
                         f"{' ...' if len(missing_body) > 5 else ''}")
    if missing:
        logger.warning("%s: newly initialised (not in the checkpoint): %s", source, ", ".join(missing))
    if unused:
        logger.warning("%s: not used by %s: %s", source, type(model).__name__, ", ".join(unused))
