"""The one inference loop of every task family: a model over a split in batches of similar length.

Under DDP each process runs a share of the batches and writes its outputs into its rows of a zero table;
summing that table over processes gives every process the outputs of the whole split, so metrics are always
computed on all of it. The families differ only in how a batch is built and which outputs make a row:
a classifier's logits (n, labels), a tagger's (n, longest, 2) best tag and its probability per piece, a
question answerer's (n, longest, 2) start and end logits.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from finetune.data import sorted_batches
from training import DistributedContext, Precision


@torch.no_grad()
def predict_rows(model: nn.Module, lengths: list[int], batch_size: int, make_batch: Callable[[list[int]], dict],
                 read_rows: Callable[[object], torch.Tensor], row_shape: tuple[int, ...],
                 ctx: DistributedContext | None = None, precision: Precision | None = None) -> torch.Tensor:
    """A float32 (n, *row_shape) table of `read_rows(model output)` for every example, in the split's order.

    make_batch(positions) gives the model's inputs for those examples (no labels); read_rows(output) gives a
    (batch, ...) tensor that may be shorter than row_shape along the sequence axes (a batch is padded only to
    its longest example): the rest of the row stays 0. fp32 unless `precision` says otherwise.
    """
    ctx = ctx or DistributedContext()
    precision = precision or Precision("fp32", ctx.device.type, "default")
    was_training = model.training
    model.eval()
    table = torch.zeros(len(lengths), *row_shape, device=ctx.device)
    for positions in sorted_batches(lengths, batch_size)[ctx.rank::ctx.world_size]:
        with precision.autocast():
            output = model(**{k: v.to(ctx.device) for k, v in make_batch(positions).items()})
        rows = read_rows(output).float()  # (batch, ...)
        table[(positions, *(slice(0, size) for size in rows.shape[1:]))] = rows
    ctx.all_reduce_sum(table)  # each row was filled by exactly one process
    model.train(was_training)
    return table.cpu()
