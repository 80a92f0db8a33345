"""From examples to batches: tokenise once, then group by length and pad each batch to its longest member.

Why length grouping: GLUE sentences are short and vary a lot (CoLA: median ~9 tokens, longest ~47).
Padding every example to a fixed 128 tokens, as older tutorials do, spends most of the compute on
[PAD]. Padding each batch only to its longest member helps; also putting examples of similar length in
the same batch helps much more. Randomness is kept where it matters for SGD: which examples meet in a
"group" and the order of the batches are shuffled every epoch.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from finetune.sentence.tasks import Example, GlueTask

# Examples are shuffled, cut into groups of this many batches, and sorted by length inside each group
# (HF's LengthGroupedSampler uses the same "mega-batch" factor). Larger groups pad less but are less random.
BATCHES_PER_GROUP = 50


@dataclass
class EncodedSplit:
    """One split, tokenised: variable-length id lists (not yet padded) and the labels.

    labels: (n,) long for classification, float for regression; None for unlabelled test data.
    """

    examples: list[Example]
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    labels: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def encode_split(tokenizer, task: GlueTask, examples: list[Example], max_length: int,
                 desc: str = "tokenising", show_progress: bool = True) -> EncodedSplit:
    """Tokenise every example as [CLS] a [SEP] (b [SEP]), truncated to `max_length` tokens."""
    input_ids, token_type_ids = [], []
    for example in tqdm(examples, desc=desc, disable=not show_progress or len(examples) < 5000, leave=False):
        encoding = tokenizer.encode(example.text_a, example.text_b, max_length=max_length)
        input_ids.append(list(encoding.ids))
        token_type_ids.append(list(encoding.token_type_ids))
    return EncodedSplit(examples, input_ids, token_type_ids, label_tensor(task, examples))


def label_tensor(task: GlueTask, examples: list[Example]) -> torch.Tensor | None:
    """(n,) labels: float32 scores for regression, int64 class ids otherwise; (n, labels) 0/1 float32 for a
    multi-label task (binary cross-entropy's targets); None if unlabelled."""
    if not examples or examples[0].label is None:
        return None
    if task.multi_label:
        targets = torch.zeros(len(examples), task.num_labels)
        for row, example in enumerate(examples):
            targets[row, list(example.label)] = 1.0
        return targets
    dtype = torch.float32 if task.is_regression else torch.long
    return torch.tensor([example.label for example in examples], dtype=dtype)


def length_grouped_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Shuffled training batches of similar-length examples (lists of example positions).

    1. shuffle all positions; 2. cut into groups of BATCHES_PER_GROUP * batch_size and sort each group by
    length, longest first; 3. cut into batches; 4. shuffle the order of the batches.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    group_size = batch_size * BATCHES_PER_GROUP
    batches = []
    for start in range(0, len(order), group_size):
        group = sorted(order[start:start + group_size], key=lambda i: lengths[i], reverse=True)
        batches += [group[i:i + batch_size] for i in range(0, len(group), batch_size)]
    batch_order = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in batch_order]


def random_batches(lengths: list[int], batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """Training batches of a plain shuffle (lists of example positions): each batch is padded to its longest
    member later, so it costs more padding than length grouping but mixes every kind of example in a batch
    (length grouping often puts the windows of one SQuAD context into the same batch)."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


BATCHINGS = {"length-grouped": length_grouped_batches, "random": random_batches}


def epoch_batches(lengths: list[int], batch_size: int, seed: int, epoch: int,
                  batching: str = "length-grouped") -> list[list[int]]:
    """The training batches of epoch `epoch` (0-based), made by `batching` (a name in BATCHINGS) in an order
    drawn from (seed, epoch) alone: the same on every process and in a resumed run."""
    order_seed = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    return BATCHINGS[batching](lengths, batch_size, torch.Generator().manual_seed(order_seed))


def sorted_batches(lengths: list[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches: all examples sorted by length, so almost nothing is padded. Deterministic."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def collate(split: EncodedSplit, positions: list[int], pad_token_id: int,
            token_types: bool = True) -> dict[str, torch.Tensor]:
    """Pad the chosen examples to the longest of them (see pad_inputs), with labels: (batch,) when the split
    is labelled."""
    batch = pad_inputs(split.input_ids, split.token_type_ids, positions, pad_token_id, token_types)
    if split.labels is not None:
        batch["labels"] = split.labels[positions]
    return batch


def pad_inputs(input_ids: list[list[int]], token_type_ids: list[list[int]], positions: list[int], pad_token_id: int,
               token_types: bool = True) -> dict[str, torch.Tensor]:
    """The chosen rows padded to the longest of them: input_ids, token_type_ids, attention_mask, each
    (batch, longest) long. The attention mask is 1 on real tokens and 0 on padding. With token_types=False
    (a model without segment embeddings: DistilBERT) there are no token_type_ids; a pair is still
    [CLS] a [SEP] b [SEP]."""
    longest = max(len(input_ids[i]) for i in positions)
    padded_ids = torch.full((len(positions), longest), pad_token_id, dtype=torch.long)
    padded_types = torch.zeros((len(positions), longest), dtype=torch.long)
    attention_mask = torch.zeros((len(positions), longest), dtype=torch.long)
    for row, i in enumerate(positions):
        n = len(input_ids[i])
        padded_ids[row, :n] = torch.tensor(input_ids[i])
        padded_types[row, :n] = torch.tensor(token_type_ids[i])
        attention_mask[row, :n] = 1
    batch = {"input_ids": padded_ids, "attention_mask": attention_mask}
    if token_types:
        batch["token_type_ids"] = padded_types
    return batch


def subsample(data, n: int | None) -> None:
    """Keep a random n of `data.train` (the same subset every time), in their original order."""
    if n is not None and n < len(data.train):
        keep = sorted(random.Random(0).sample(range(len(data.train)), n))
        data.train = [data.train[i] for i in keep]
