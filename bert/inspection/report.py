"""What bert-inspect shows, for one request: gathered as data (`inspect_checkpoint`), printed as tables
(`print_report`), and saved as a picture and JSON where asked for (`save_outputs`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bert.errors import InputError
from tokenizer import WordPieceTokenizer

from .architectures import load_checkpoint
from .attention_plot import attention_figure
from .flops import forward_flops
from .forward_pass import attention_weights, encode, encoding_report, mask_fillers, trace_shapes
from .parameters import module_tree, parameter_counts
from .weight_changes import weight_changes

SPECIAL_ROLES = {
    "[CLS]": "classification token: the pooler and sentence heads read its output",
    "[SEP]": "separator: ends a sentence",
    "[MASK]": "masked: the MLM head guesses the word here",
    "[UNK]": "unknown: no word piece fits",
}


@dataclass(frozen=True)
class Inspection:
    """What to look at: the checkpoint (`model`: a directory or Hub id), the sentence and its pair (None: only
    the checkpoint-wide parts), the attention picture's file (None: no picture) and the one layer and head it
    draws (None: all), the [MASK] fillers shown, the checkpoint to compare with, the JSON file to write."""

    model: str
    sentence: str | None = None
    pair: str | None = None
    attention_png: str | None = None
    layer: int | None = None
    head: int | None = None
    top_k: int = 5
    compare: str | None = None
    json_file: str | None = None


def inspect_checkpoint(request: Inspection) -> tuple[dict, nn.Module]:
    """Everything bert-inspect shows, as data (the attention weights, when asked for, as a tensor), and the
    model."""
    model, architecture, directory = load_checkpoint(request.model)
    config = model.config
    report = {"checkpoint": str(directory), "architecture": architecture.model_class.__name__,
              "config": {k: getattr(config, k) for k in ("num_hidden_layers", "hidden_size", "num_attention_heads",
                                                         "intermediate_size", "vocab_size", "max_position_embeddings")},
              "parameters": parameter_counts(model)}
    if request.layer is not None and not (0 <= request.layer < config.num_hidden_layers
                                          and 0 <= request.head < config.num_attention_heads):
        raise InputError(f"--layer {request.layer} --head {request.head}: the model has layers 0-"
                         f"{config.num_hidden_layers - 1} and heads 0-{config.num_attention_heads - 1}")
    if request.sentence is not None:
        try:
            tokenizer = WordPieceTokenizer.from_pretrained(directory)
        except (OSError, ValueError) as e:
            raise InputError(f"cannot load the checkpoint's tokenizer: {e}") from None
        encoding = encode(tokenizer, request.sentence, request.pair, config.max_position_embeddings)
        inputs = {"input_ids": torch.tensor([encoding.ids]),  # (1, seq): a batch of one
                  "attention_mask": torch.tensor([encoding.attention_mask])}
        if config.type_vocab_size > 0:  # DistilBERT has no segment embeddings: a pair is told apart by [SEP]
            inputs["token_type_ids"] = torch.tensor([encoding.token_type_ids])
        with torch.no_grad():
            shapes, output = trace_shapes(model, inputs)
            if request.attention_png is not None:
                report["attention"] = attention_weights(model, inputs)
        report["encoding"] = encoding_report(encoding, tokenizer)
        report["flops"] = forward_flops(architecture, config, len(encoding))
        report["shapes"] = shapes
        report["mask_fillers"] = mask_fillers(output, encoding, tokenizer, request.top_k)
    if request.compare is not None:
        report["compare"] = weight_changes(request.model, request.compare)
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


def save_outputs(report: dict, request: Inspection) -> None:
    """The attention picture and the JSON report, where asked for."""
    try:
        if request.attention_png is not None:
            figure = attention_figure(report["attention"], report["encoding"]["tokens"], request.layer, request.head)
            figure.savefig(request.attention_png, dpi=150)
            print(f"\nattention maps: {request.attention_png}")
        if request.json_file is not None:
            data = dict(report)
            if "attention" in data:
                data["attention"] = data["attention"].tolist()  # layers x heads x seq x seq
            Path(request.json_file).write_text(json.dumps(data))
            print(f"report as JSON: {request.json_file}")
    except ModuleNotFoundError as e:
        raise InputError(f"--attention draws with matplotlib ({e}): pip install 'bert-from-scratch[plot]'") from None
    except OSError as e:
        raise InputError(str(e)) from None
