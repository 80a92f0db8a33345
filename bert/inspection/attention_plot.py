"""Attention weights as heat maps (matplotlib, loaded only when a picture is asked for)."""

from __future__ import annotations

import torch


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
