"""Batches of masked examples, as a pure function of (seed, step): the key to exact resumption.

The training examples form an endless stream: epoch e visits them in the order of a permutation drawn from
(seed, e), and stream position g is example `permutation_{g // n}[g % n]`. Optimizer step s consumes the
global batch of positions [s * G, (s + 1) * G), G = batch_size x grad_accum x world_size, and each process
takes its own micro-batches of it. The mask of the example at position g is drawn from a generator seeded
with (seed, g). Nothing depends on what ran before, so a resumed run, or the same global batch split over
a different number of processes, sees exactly the same data and masks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from bert.errors import InputError

from .examples import IS_RANDOM_NEXT, assemble
from .masking import IGNORE_INDEX, MaskingScheme, mask_example

TRAIN_STREAM, HELD_OUT_STREAM = 0, 1  # keep training and evaluation masks from sharing random numbers


@dataclass
class SpecialIds:
    cls: int
    sep: int
    pad: int


class ExampleStream:
    """Stream position -> example index, one seeded permutation of the examples per epoch."""

    def __init__(self, n_examples: int, seed: int):
        if n_examples == 0:
            raise InputError("the corpus gives no training examples; it is too small")
        self.n_examples = n_examples
        self.seed = seed
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def example_indices(self, positions: np.ndarray) -> np.ndarray:
        """(n,) stream positions -> (n,) example indices."""
        return np.array([self._order_for(int(p) // self.n_examples)[int(p) % self.n_examples] for p in positions],
                        dtype=np.int64)

    def _order_for(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:  # one permutation is kept; a batch spans at most two epochs
            self._epoch, self._order = epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n_examples)
        return self._order


def micro_batch_positions(step: int, micro: int, rank: int, batch_size: int, grad_accum: int,
                          world_size: int) -> np.ndarray:
    """The stream positions of one process's micro-batch: (batch_size,) int64.

    Within step s's global batch, micro-batch m of rank r is slot m * world_size + r, so micro-batch m of
    every rank together is one contiguous run of positions (1 process x 2 accumulation steps takes the
    same examples, in the same groups, as 2 processes x 1 step).
    """
    global_batch = batch_size * grad_accum * world_size
    first = step * global_batch + (micro * world_size + rank) * batch_size
    return np.arange(first, first + batch_size, dtype=np.int64)


def collate(examples: np.ndarray, mask_rngs: list[np.random.Generator], tokens: np.ndarray,
            scheme: MaskingScheme, special: SpecialIds, nsp: bool,
            pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Example rows (n, 5) -> the model's inputs, each (n, length) int64 (next_sentence_label (n,)).

    Each example is masked with its own generator. The batch is padded to its longest example rounded up
    to a multiple of 8 (tensor-core friendly; short batches cost less), or to `pad_to` when given (fixed
    shapes, which torch.compile wants).
    """
    assembled = [assemble(row, tokens, special.cls, special.sep) for row in examples]
    longest = max(len(ids) for ids, _ in assembled)
    length = pad_to if pad_to is not None else -(-longest // 8) * 8
    input_ids = np.full((len(examples), length), special.pad, dtype=np.int64)
    token_type_ids = np.zeros((len(examples), length), dtype=np.int64)
    attention_mask = np.zeros((len(examples), length), dtype=np.int64)
    labels = np.full((len(examples), length), IGNORE_INDEX, dtype=np.int64)
    for i, ((ids, types), rng) in enumerate(zip(assembled, mask_rngs)):
        n = len(ids)
        input_ids[i, :n], labels[i, :n] = mask_example(ids, scheme, rng)
        token_type_ids[i, :n] = types
        attention_mask[i, :n] = 1
    batch = {"input_ids": input_ids, "token_type_ids": token_type_ids, "attention_mask": attention_mask,
             "labels": labels}
    if nsp:
        batch["next_sentence_label"] = examples[:, IS_RANDOM_NEXT]
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in batch.items()}


class PretrainingBatches:
    """Training micro-batches by (step, micro, rank) and fixed held-out batches for evaluation."""

    def __init__(self, tokens: np.ndarray, train_examples: np.ndarray, held_out_examples: np.ndarray,
                 scheme: MaskingScheme, special: SpecialIds, *, nsp: bool, seed: int, batch_size: int,
                 grad_accum: int, world_size: int, eval_examples: int, pad_to: int | None = None):
        self.tokens, self.train_examples, self.scheme, self.special = tokens, train_examples, scheme, special
        self.nsp, self.seed, self.pad_to = nsp, seed, pad_to
        self.batch_size, self.grad_accum, self.world_size = batch_size, grad_accum, world_size
        self.stream = ExampleStream(len(train_examples), seed)
        # A fixed sample of the held-out examples, with fixed masks, so evaluations are comparable.
        order = np.random.default_rng([seed, HELD_OUT_STREAM]).permutation(len(held_out_examples))
        chosen = np.sort(order[:eval_examples])
        self.held_out_examples = np.asarray(held_out_examples[chosen])
        self.held_out_ids = chosen  # their indices in the held-out table, which seed their masks

    @property
    def global_batch_size(self) -> int:
        return self.batch_size * self.grad_accum * self.world_size

    def train_batch(self, step: int, micro: int, rank: int) -> dict[str, torch.Tensor]:
        positions = micro_batch_positions(step, micro, rank, self.batch_size, self.grad_accum, self.world_size)
        rows = np.asarray(self.train_examples[self.stream.example_indices(positions)])
        rngs = [np.random.default_rng([self.seed, TRAIN_STREAM, int(p)]) for p in positions]
        return collate(rows, rngs, self.tokens, self.scheme, self.special, self.nsp, self.pad_to)

    def held_out_batches(self, rank: int, world_size: int, batch_size: int):
        """This process's share of the evaluation sample (a contiguous slice), in batches."""
        share = np.array_split(np.arange(len(self.held_out_examples)), world_size)[rank]
        for start in range(0, len(share), batch_size):
            index = share[start:start + batch_size]
            rngs = [np.random.default_rng([self.seed, HELD_OUT_STREAM, int(self.held_out_ids[i])]) for i in index]
            yield collate(self.held_out_examples[index], rngs, self.tokens, self.scheme, self.special, self.nsp,
                          self.pad_to)

    def epoch_of(self, step: int) -> float:
        """How many passes over the training examples `step` optimizer steps make."""
        return step * self.global_batch_size / self.stream.n_examples
