"""The forward FLOPs of one sequence, by formula: the matmuls of every encoder layer, the pooler and the head."""

from __future__ import annotations

from bert.config import BertConfig

from .architectures import Architecture


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
