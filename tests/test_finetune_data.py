"""Length-grouped batching and padding to the longest member of each batch."""

import torch

from finetune.data import BATCHES_PER_GROUP, EncodedSplit, collate, length_grouped_batches, sorted_batches
from finetune.sentence.tasks import Example


def test_length_grouped_batches_cover_every_example_once():
    lengths = [(i * 37) % 50 + 3 for i in range(1000)]
    batches = length_grouped_batches(lengths, 32, torch.Generator().manual_seed(0))
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(1000))
    # full batches except one per group of BATCHES_PER_GROUP * 32 examples (here: 1000 < 1600, one group)
    assert sorted(len(b) for b in batches)[1:] == [32] * (len(batches) - 1)


def test_length_grouped_batches_pad_far_less_than_random_batches():
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(5, 60, (5000,), generator=generator).tolist()

    def padded_tokens(batches):
        return sum(len(b) * max(lengths[i] for i in b) for b in batches)

    grouped = length_grouped_batches(lengths, 32, torch.Generator().manual_seed(1))
    shuffled = torch.randperm(5000, generator=torch.Generator().manual_seed(1)).tolist()
    random_batches = [shuffled[i:i + 32] for i in range(0, 5000, 32)]
    assert padded_tokens(grouped) < 0.7 * padded_tokens(random_batches)
    assert padded_tokens(grouped) < 1.05 * sum(lengths)  # nearly no padding at all


def test_length_grouped_batches_are_shuffled_and_reproducible():
    lengths = list(range(100)) * 40
    a = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(3))
    b = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(3))
    c = length_grouped_batches(lengths, 16, torch.Generator().manual_seed(4))
    assert a == b and a != c
    batch_lengths = [max(lengths[i] for i in batch) for batch in a]
    assert batch_lengths != sorted(batch_lengths, reverse=True)  # batch order is random, not longest first
    assert BATCHES_PER_GROUP * 16 < len(lengths)  # more than one group was formed


def test_sorted_batches_for_evaluation():
    assert sorted_batches([3, 9, 1, 7, 5], 2) == [[1, 3], [4, 0], [2]]


def test_collate_pads_to_the_longest_in_the_batch():
    split = EncodedSplit(
        examples=[Example("a", None, 0, "0")] * 3,
        input_ids=[[2, 10, 3], [2, 11, 12, 13, 3], [2, 3]],
        token_type_ids=[[0, 0, 0], [0, 0, 1, 1, 1], [0, 0]],
        labels=torch.tensor([0, 1, 1]),
    )
    batch = collate(split, [0, 2], pad_token_id=0)
    assert batch["input_ids"].tolist() == [[2, 10, 3], [2, 3, 0]]  # longest of these two is 3, not 5
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [0, 1]
    batch = collate(split, [1, 2], pad_token_id=0)
    assert batch["token_type_ids"].tolist() == [[0, 0, 1, 1, 1], [0, 0, 0, 0, 0]]
    # A model without segment embeddings (DistilBERT) gets no token_type_ids; the ids keep both [SEP]s.
    batch = collate(split, [1, 2], pad_token_id=0, token_types=False)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].tolist() == [[2, 11, 12, 13, 3], [2, 3, 0, 0, 0]]
