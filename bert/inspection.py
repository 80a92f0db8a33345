"""bert-inspect: look inside a BERT checkpoint with your own sentence.

    bert-inspect CHECKPOINT "The cat sat on the mat." ["A second sentence."]
        [--attention map.png [--layer L --head H]] [--compare OTHER_CHECKPOINT] [--json report.json]

For the sentence (or pair) it shows the encoding ([CLS]/[SEP], segment ids, attention mask), the module tree
with parameter counts, the forward FLOPs at this length, the shape the input takes from embeddings to the
head's output, the masked-LM head's guesses for each [MASK], and with `--attention` every head's attention as
heat maps. `--compare` measures how far each module's weights moved between two checkpoints: does fine-tuning
change the encoder? Without a sentence, only the checkpoint-wide parts (modules, comparison) are shown.

(Named `inspection`, not `inspect`: a module called `inspect` would shadow the standard library's.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bert.errors import InputError
from tokenizer import WordPieceTokenizer

from .checkpoint import IGNORED_KEYS, normalise_legacy_name, read_state_dict, resolve_checkpoint_dir
from .config import BertConfig
from .distilbert import (
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DistilBertModel,
)
from .heads import (
    BertForMaskedLM,
    BertForNextSentencePrediction,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    MaskedLMOutput,
    PreTrainingOutput,
)
from .model import BertModel, Embeddings, Encoder, EncoderLayer, Pooler, SelfAttention

# --- which class a checkpoint is ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Architecture:
    """What bert-inspect knows about a model class besides its code: the work its head does after the
    encoder, in multiply-adds at n tokens, and whether its last layer computes [CLS] alone (`cls_only`)."""

    model_class: type[nn.Module]
    head_macs: Callable[[BertConfig, int], int]
    cls_only: bool = False


def pooler_macs(c: BertConfig) -> int:
    return c.hidden_size * c.hidden_size  # dense on the [CLS] vector


def mlm_head_macs(c: BertConfig, n: int) -> int:
    return n * c.hidden_size * (c.hidden_size + c.vocab_size)  # dense, then the projection onto the vocabulary


# config.json's `architectures` names the class. Another model family plugs in by adding its classes here;
# the rest finds its parts by type (Embeddings, EncoderLayer, Encoder, Pooler, SelfAttention) and reads its
# sizes by BertConfig's field names.
ARCHITECTURES = {a.model_class.__name__: a for a in [
    Architecture(BertModel, lambda c, n: pooler_macs(c)),
    Architecture(BertForPreTraining, lambda c, n: pooler_macs(c) + c.hidden_size * 2 + mlm_head_macs(c, n)),
    Architecture(BertForMaskedLM, mlm_head_macs),
    Architecture(BertForNextSentencePrediction, lambda c, n: pooler_macs(c) + c.hidden_size * 2, cls_only=True),
    Architecture(BertForSequenceClassification, lambda c, n: pooler_macs(c) + c.hidden_size * c.num_labels,
                 cls_only=True),
    Architecture(BertForTokenClassification, lambda c, n: n * c.hidden_size * c.num_labels),
    Architecture(BertForQuestionAnswering, lambda c, n: n * c.hidden_size * 2),  # a start and an end score
    # DistilBERT: no pooler; its classifier reads [CLS] through pre_classifier (dense) then classifier
    Architecture(DistilBertModel, lambda c, n: 0),
    Architecture(DistilBertForMaskedLM, mlm_head_macs),
    Architecture(DistilBertForSequenceClassification,
                 lambda c, n: c.hidden_size * c.hidden_size + c.hidden_size * c.num_labels, cls_only=True),
    Architecture(DistilBertForTokenClassification, lambda c, n: n * c.hidden_size * c.num_labels),
    Architecture(DistilBertForQuestionAnswering, lambda c, n: n * c.hidden_size * 2),
]}


def read_architecture(directory: Path) -> Architecture:
    """The class config.json's `architectures` names (BertModel when it names none)."""
    try:
        names = json.loads((directory / "config.json").read_text()).get("architectures") or ["BertModel"]
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{directory}: cannot read config.json ({e})") from None
    known = [name for name in names if name in ARCHITECTURES]
    if not known:
        raise InputError(f"{directory}: config.json's architectures {names} names no class bert-inspect knows "
                           f"({', '.join(ARCHITECTURES)})")
    return ARCHITECTURES[known[0]]


def load(path: str) -> tuple[nn.Module, Architecture, Path]:
    try:
        directory = resolve_checkpoint_dir(path)
        architecture = read_architecture(directory)
        return architecture.model_class.from_pretrained(directory), architecture, directory
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None


# --- the encoding ------------------------------------------------------------------------------------------

SPECIAL_ROLES = {
    "[CLS]": "classification token: the pooler and sentence heads read its output",
    "[SEP]": "separator: ends a sentence",
    "[MASK]": "masked: the MLM head guesses the word here",
    "[UNK]": "unknown: no word piece fits",
}


def encode(tokenizer, text: str, pair: str | None, max_positions: int):
    """[CLS] text [SEP] (pair [SEP]), never truncated: a text the model cannot take is an error."""
    try:
        encoding = tokenizer.encode(text, pair=pair)
    except ValueError as e:
        raise InputError(str(e)) from None
    if len(encoding) > max_positions:
        raise InputError(f"the text is {len(encoding)} tokens long with [CLS] and [SEP]; the model has "
                           f"{max_positions} positions")
    return encoding


def encoding_report(encoding, tokenizer) -> dict:
    return {
        "tokens": encoding.tokens,
        "ids": encoding.ids,
        "token_type_ids": encoding.token_type_ids,
        "attention_mask": encoding.attention_mask,
        "special": [i in tokenizer.special_ids for i in encoding.ids],
    }


# --- parameters --------------------------------------------------------------------------------------------


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())  # a shared (tied) parameter counts once


def parameter_counts(model: nn.Module) -> dict:
    return {"total": count(model),
            "modules": {name: count(m) for name, m in model.named_modules() if name and count(m)}}


def describe(module: nn.Module) -> str:
    if isinstance(module, nn.Linear):
        return f"Linear {module.in_features} -> {module.out_features}"
    if isinstance(module, nn.Embedding):
        return f"Embedding {module.num_embeddings} x {module.embedding_dim}"
    if isinstance(module, nn.LayerNorm):
        return f"LayerNorm {module.normalized_shape[0]}"
    return type(module).__name__


def module_tree(module: nn.Module, name: str = "", depth: int = 0) -> list[tuple[str, int]]:
    """(indented name and kind, parameter count) per module that holds parameters. A stack of identical
    layers is folded as print(model) folds it: `0-5 (6 x EncoderLayer), each`, then the first one's insides."""
    label = f"{name} ({describe(module)})" if name else f"{describe(module)}, in all"
    rows = [("  " * depth + label, count(module))]
    children = [(n, c) for n, c in module.named_children() if count(c)]
    shapes = {tuple((n, p.shape) for n, p in c.named_parameters()) for _, c in children}
    if isinstance(module, nn.ModuleList) and len(children) > 1 and len(shapes) == 1:
        first = children[0][1]
        rows.append(("  " * (depth + 1) + f"0-{len(children) - 1} ({len(children)} x {describe(first)}), each",
                     count(first)))
        for child_name, child in first.named_children():
            if count(child):
                rows += module_tree(child, child_name, depth + 2)
        return rows
    for child_name, child in children:
        rows += module_tree(child, child_name, depth + 1)
    return rows


# --- FLOPs -------------------------------------------------------------------------------------------------


def forward_flops(architecture: Architecture, config: BertConfig, n: int) -> dict:
    """Forward FLOPs of one sequence of n tokens, counting 2 FLOPs per multiply-add of every matmul.

    Counted: in each encoder layer the Q, K, V and output projections, the attention scores Q K^T and the
    weighted sum of V, and the feed-forward's two layers; then the pooler and the task head. Not counted:
    embeddings (a lookup), biases, LayerNorm, softmax, GELU, dropout: O(n * hidden) each, against
    O(n * hidden^2) for the matmuls. With hidden h and feed-forward width f, a layer costs

        8 n h^2 (projections) + 4 n^2 h (attention) + 4 n h f (feed-forward)

    so ~24 n h^2 for f = 4h: about 2 FLOPs per parameter per token, plus the n^2 attention term, which
    overtakes the projections only past n = 2h tokens. A classifier's last layer (cls_only) asks with
    [CLS] alone: its Q, output, attention and feed-forward work is for 1 query instead of n.
    """
    h, f = config.hidden_size, config.intermediate_size

    def layer(q: int) -> dict:  # q tokens ask (queries); all n are attended (keys, values)
        parts = {
            "projections": 2 * (2 * q * h * h + 2 * n * h * h),  # Q and output: q rows; K and V: n rows
            "attention": 2 * (2 * q * n * h),  # scores and weighted sum: q x n x d per head, summed over heads
            "feed_forward": 2 * (2 * q * h * f),  # hidden -> f -> hidden
        }
        return {**parts, "total": sum(parts.values())}

    every, last = layer(n), layer(1 if architecture.cls_only else n)
    encoder = (config.num_hidden_layers - 1) * every["total"] + last["total"]
    head = 2 * architecture.head_macs(config, n)
    return {"tokens": n, "layer": every, "last_layer": last, "layers": config.num_hidden_layers,
            "encoder": encoder, "head": head, "total": encoder + head, "per_token": (encoder + head) / n}


# --- attention kernels -------------------------------------------------------------------------------------

# The aten op each kernel of F.scaled_dot_product_attention runs as -> its name in reports.
SDPA_KERNELS = {
    "aten::_scaled_dot_product_flash_attention": "flash",
    "aten::_scaled_dot_product_efficient_attention": "memory-efficient",
    "aten::_scaled_dot_product_cudnn_attention": "cuDNN",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "fused CPU",
    "aten::_scaled_dot_product_attention_math": "math (unfused)",
}


def attention_kernels(run: Callable[[], object]) -> list[str]:
    """The kernels F.scaled_dot_product_attention chose while `run()` ran, by SDPA_KERNELS' names. SDPA picks
    one by device, dtype, head size, mask and dropout, and says nothing; the profiler's op names tell. An empty
    list: no SDPA call at all (SelfAttention spelled the formula out: CPU training, or `keep_weights`)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiler:
        run()
    ran = {event.name for event in profiler.events()}
    return [name for op, name in SDPA_KERNELS.items() if op in ran]


# --- running the sentence through ---------------------------------------------------------------------------


def trace_shapes(model: nn.Module, inputs: dict[str, torch.Tensor]) -> tuple[dict[str, list[int]], object]:
    """Run the model's own forward once, recording the shape of what leaves the embeddings, each encoder
    layer, the encoder ([CLS] is its output at position 0) and the pooler, in that order; then the output's
    fields. Returns ({what: shape}, the model's output)."""
    shapes = {"input_ids": list(inputs["input_ids"].shape)}

    def record(name: str, pick=lambda t: t):
        return lambda module, args, output: shapes.update({name: list(pick(output).shape)})

    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, (Embeddings, EncoderLayer, Pooler)):
            hooks.append(module.register_forward_hook(record(name)))
        elif isinstance(module, Encoder):
            hooks.append(module.register_forward_hook(record("[CLS] (encoder output, position 0)", lambda t: t[:, 0])))
    try:
        output = model(**inputs)
    finally:
        for hook in hooks:
            hook.remove()
    for field in dataclasses.fields(output):
        value = getattr(output, field.name)
        if isinstance(value, torch.Tensor):
            shapes[f"output.{field.name}"] = list(value.shape)
    return shapes, output


def attention_weights(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d) + mask) of every layer and head, as each SelfAttention computes it:
    (layers, heads, seq, seq), query (row) x key (column). Run through the bare encoder so that a
    classifier's last layer, which otherwise asks with [CLS] alone, gives every token's row."""
    # task models hold the encoder as .bert (bert/heads.py) or .distilbert (bert/distilbert.py)
    encoder = getattr(model, "bert", None) or getattr(model, "distilbert", None) or model
    attentions = [m for m in encoder.modules() if isinstance(m, SelfAttention)]
    for m in attentions:
        m.keep_weights = True
    try:
        encoder(**inputs)
        return torch.stack([m.weights[0] for m in attentions])
    finally:
        for m in attentions:
            m.keep_weights, m.weights = False, None


def mask_fillers(output, encoding, tokenizer, top_k: int) -> list[dict] | None:
    """The MLM head's top-k words, with probabilities, for each [MASK]; None for a model without the head."""
    if isinstance(output, PreTrainingOutput):
        logits = output.prediction_logits[0]  # (seq, vocab)
    elif isinstance(output, MaskedLMOutput):
        logits = output.logits[0]
    else:
        return None
    fillers = []
    for position, token_id in enumerate(encoding.ids):
        if token_id == tokenizer.mask_token_id:
            probs, ids = logits[position].softmax(dim=-1).topk(top_k)
            fillers.append({"position": position, "candidates": [
                {"token": tokenizer.id_to_token(i), "id": i, "probability": p}
                for p, i in zip(probs.tolist(), ids.tolist())]})
    return fillers


# --- comparing two checkpoints ------------------------------------------------------------------------------


def natural_key(name: str) -> list:
    """'encoder.layer.10' after 'encoder.layer.9'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def checkpoint_modules(path: str) -> dict[str, torch.Tensor]:
    """A checkpoint's weights by module, named as in the file without the `bert.` prefix (so a bare
    BertModel and a task model match): module name -> its parameters flattened into one vector."""
    try:
        state = read_state_dict(resolve_checkpoint_dir(path))
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None
    params: dict[str, list[torch.Tensor]] = {}
    for key in sorted(state):
        if IGNORED_KEYS.search(key):
            continue
        module = normalise_legacy_name(key).removeprefix("bert.").rsplit(".", 1)[0]
        params.setdefault(module, []).append(state[key].float().flatten())
    return {module: torch.cat(tensors) for module, tensors in params.items()}


def weight_changes(path: str, other: str) -> dict:
    """||a - b|| / ||a|| per module (a from `path`, b from `other`), over all its parameters: exactly 0 for
    a module training left alone (frozen), about 1.4 (sqrt 2) between two independent random draws."""
    a, b = checkpoint_modules(path), checkpoint_modules(other)
    changes, shape_differs = {}, []
    for name in sorted(a.keys() & b.keys(), key=natural_key):
        if a[name].shape != b[name].shape:
            shape_differs.append(name)
            continue
        norm, diff = a[name].norm().item(), (a[name] - b[name]).norm().item()
        changes[name] = diff / norm if norm > 0 else (0.0 if diff == 0 else None)  # None: from all-zero weights
    return {"other": other, "relative_change": changes, "shape_differs": shape_differs,
            "only_in_checkpoint": sorted(a.keys() - b.keys(), key=natural_key),
            "only_in_other": sorted(b.keys() - a.keys(), key=natural_key)}


# --- the attention picture -----------------------------------------------------------------------------------


def attention_figure(weights: torch.Tensor, tokens: list[str], layer: int | None = None, head: int | None = None):
    """Heat maps of attention weights (layers, heads, seq, seq): one panel per layer (row) and head
    (column), or one large map for `layer` and `head`. Row = the token asking, column = the token it
    attends to; colour 0 (white) to 1 (dark blue), the same scale in every panel."""
    from matplotlib.figure import Figure  # only when a picture is asked for; Figure needs no display

    weights = weights.numpy()  # matplotlib reads numpy arrays
    n_layers, n_heads, seq, _ = weights.shape
    if layer is not None:
        fig = Figure(figsize=(2 + seq * 0.35, 1.5 + seq * 0.35), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(weights[layer, head], cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(seq), tokens, rotation=90)
        ax.set_yticks(range(seq), tokens)
        ax.set_xlabel("attended to (key)")
        ax.set_ylabel("attending (query)")
        ax.set_title(f"layer {layer}, head {head}")
        fig.colorbar(image, ax=ax, shrink=0.8)
        return fig
    size = max(1.2, seq * 0.12)  # inches per panel
    fig = Figure(figsize=(1.5 + n_heads * size, 1.5 + n_layers * size), layout="constrained")
    axes = fig.subplots(n_layers, n_heads, squeeze=False, sharex=True, sharey=True)
    for l in range(n_layers):
        for h in range(n_heads):
            ax = axes[l, h]
            ax.imshow(weights[l, h], cmap="Blues", vmin=0, vmax=1)
            ax.set_title(f"L{l} H{h}", fontsize=7)
            ax.tick_params(labelsize=4, length=0)
    for ax in axes[-1]:  # tokens on the outer axes only; the panels share them
        ax.set_xticks(range(seq), tokens, rotation=90)
    for ax in axes[:, 0]:
        ax.set_yticks(range(seq), tokens)
    fig.suptitle("attention weights: row = token attending (query), column = token attended to (key); "
                 "white 0, dark 1")
    return fig


# --- the command ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bert-inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a checkpoint directory in HF layout (ours, fine-tuned, any HF BERT)")
    parser.add_argument("sentence", nargs="?", help="the text to run through the model")
    parser.add_argument("pair", nargs="?", help="a second sentence, for a sentence pair")
    parser.add_argument("--attention", metavar="PNG", help="draw every layer's and head's attention here")
    parser.add_argument("--layer", type=int, help="with --head: draw this layer's map alone (0-based)")
    parser.add_argument("--head", type=int, help="with --layer: draw this head's map alone (0-based)")
    parser.add_argument("--top-k", type=int, default=5, help="fillers shown for each [MASK] (default 5)")
    parser.add_argument("--compare", metavar="OTHER", help="how far each module's weights moved in OTHER")
    parser.add_argument("--json", metavar="FILE", help="write everything shown (and attention weights) as JSON")
    return parser


def check_args(args: argparse.Namespace) -> None:
    if (args.layer is None) != (args.head is None):
        raise InputError("--layer and --head go together")
    if args.layer is not None and args.attention is None:
        raise InputError("--layer/--head choose the map --attention draws: add --attention FILE.png")
    if args.sentence is None and args.attention is not None:
        raise InputError("--attention needs a sentence")
    for name, text in (("sentence", args.sentence), ("second sentence", args.pair)):
        if text is not None and not text.strip():
            raise InputError(f"the {name} is empty")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")


def inspect_checkpoint(args: argparse.Namespace) -> tuple[dict, nn.Module]:
    """Everything bert-inspect shows, as data (the attention weights, when asked for, as a tensor), and the
    model."""
    model, architecture, directory = load(args.checkpoint)
    config = model.config
    report = {"checkpoint": str(directory), "architecture": architecture.model_class.__name__,
              "config": {k: getattr(config, k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                         "intermediate_size", "vocab_size", "max_position_embeddings")},
              "parameters": parameter_counts(model)}
    if args.layer is not None and not (0 <= args.layer < config.num_hidden_layers
                                       and 0 <= args.head < config.num_attention_heads):
        raise InputError(f"--layer {args.layer} --head {args.head}: the model has layers 0-"
                           f"{config.num_hidden_layers - 1} and heads 0-{config.num_attention_heads - 1}")
    if args.sentence is not None:
        try:
            tokenizer = WordPieceTokenizer.from_pretrained(directory)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot load the checkpoint's tokenizer: {e}") from None
        encoding = encode(tokenizer, args.sentence, args.pair, config.max_position_embeddings)
        inputs = {"input_ids": torch.tensor([encoding.ids]),  # (1, seq): a batch of one
                  "attention_mask": torch.tensor([encoding.attention_mask])}
        if config.type_vocab_size > 0:  # DistilBERT has no segment embeddings: a pair is told apart by [SEP]
            inputs["token_type_ids"] = torch.tensor([encoding.token_type_ids])
        with torch.no_grad():
            shapes, output = trace_shapes(model, inputs)
            if args.attention is not None:
                report["attention"] = attention_weights(model, inputs)
        report["encoding"] = encoding_report(encoding, tokenizer)
        report["flops"] = forward_flops(architecture, config, len(encoding))
        report["shapes"] = shapes
        report["mask_fillers"] = mask_fillers(output, encoding, tokenizer, args.top_k)
    if args.compare is not None:
        report["compare"] = weight_changes(args.checkpoint, args.compare)
    return report, model


def print_report(report: dict, model: nn.Module) -> None:
    c = report["config"]
    print(f"{report['checkpoint']}: {report['architecture']}, {c['num_hidden_layers']} layers, hidden "
          f"{c['hidden_size']}, {c['num_attention_heads']} heads, feed-forward {c['intermediate_size']}, "
          f"vocabulary {c['vocab_size']}, {c['max_position_embeddings']} positions")

    if "encoding" in report:
        e = report["encoding"]
        print(f"\nEncoding: {len(e['ids'])} tokens")
        print(f"  {'pos':>3}  {'token':<14} {'id':>6}  segment  mask")
        for i, (token, token_id, segment, mask, special) in enumerate(zip(
                e["tokens"], e["ids"], e["token_type_ids"], e["attention_mask"], e["special"])):
            role = f"  <- {SPECIAL_ROLES.get(token, 'special token')}" if special else ""
            print(f"  {i:>3}  {token:<14} {token_id:>6}  {segment:>7}  {mask:>4}{role}")

    print("\nModules and parameters")
    rows = module_tree(model)
    width = max(len(name) for name, _ in rows)
    for name, n in rows:
        print(f"  {name:<{width}}  {n:>12,}")

    if "flops" in report:
        f, every, last = report["flops"], report["flops"]["layer"], report["flops"]["last_layer"]
        print(f"\nForward FLOPs at {f['tokens']} tokens (matmuls only, 2 per multiply-add)")
        print(f"  each encoder layer  {every['total']:>15,}  = Q/K/V/output {every['projections']:,} + attention "
              f"{every['attention']:,} + feed-forward {every['feed_forward']:,}")
        if last != every:
            print(f"  last layer, [CLS] only  {last['total']:>11,}  (the head reads [CLS] alone)")
        print(f"  encoder, {f['layers']} layers   {f['encoder']:>15,}")
        print(f"  pooler and head     {f['head']:>15,}")
        print(f"  total               {f['total']:>15,}  = {f['per_token']:,.0f} per token")

    if "shapes" in report:
        print("\nShapes, batch first")
        width = max(len(name) for name in report["shapes"])
        for name, shape in report["shapes"].items():
            print(f"  {name:<{width}}  {tuple(shape)}")

    fillers = report.get("mask_fillers")
    if fillers is None and "[MASK]" in report.get("encoding", {}).get("tokens", []):
        print(f"\n[MASK]: {report['architecture']} has no masked-LM head to fill it")
    for filler in fillers or []:
        guesses = ", ".join(f"{c['token']} {c['probability']:.3f}" for c in filler["candidates"])
        print(f"\n[MASK] at position {filler['position']}: {guesses}")

    if "compare" in report:
        cmp = report["compare"]
        print(f"\nWeight change to {cmp['other']}: ||a - b|| / ||a|| per module")
        width = max((len(name) for name in cmp["relative_change"]), default=0)
        for name, change in cmp["relative_change"].items():
            print(f"  {name:<{width}}  {'from zero' if change is None else f'{change:.3g}'}")
        for key, what in (("shape_differs", "shapes differ"), ("only_in_checkpoint", "only in this checkpoint"),
                          ("only_in_other", f"only in {cmp['other']}")):
            if cmp[key]:
                print(f"  {what}: {', '.join(cmp[key])}")


def save_outputs(report: dict, args: argparse.Namespace) -> None:
    """The attention picture and the JSON report, where asked for."""
    try:
        if args.attention is not None:
            tokens = report["encoding"]["tokens"]
            attention_figure(report["attention"], tokens, args.layer, args.head).savefig(args.attention, dpi=150)
            print(f"\nattention maps: {args.attention}")
        if args.json is not None:
            data = dict(report)
            if "attention" in data:
                data["attention"] = data["attention"].tolist()  # layers x heads x seq x seq
            Path(args.json).write_text(json.dumps(data))
            print(f"report as JSON: {args.json}")
    except ModuleNotFoundError as e:
        raise InputError(f"--attention draws with matplotlib ({e}): pip install 'bert-from-scratch[plot]'") from None
    except OSError as e:
        raise InputError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_args(args)
        report, model = inspect_checkpoint(args)
        print_report(report, model)
        save_outputs(report, args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
