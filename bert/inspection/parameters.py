"""The module tree of a model with the parameters each module holds."""

from __future__ import annotations

from torch import nn


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
