"""One sentence (or pair) through the model: its encoding, the shape it takes from embeddings to the head's
output, every head's attention weights, the masked-LM head's guesses for each [MASK], and which kernels
F.scaled_dot_product_attention chose."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from torch import nn

from bert.errors import InputError
from bert.heads import MaskedLMOutput, PreTrainingOutput
from bert.model import Embeddings, Encoder, EncoderLayer, Pooler, SelfAttention

# --- the encoding ------------------------------------------------------------------------------------------


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
