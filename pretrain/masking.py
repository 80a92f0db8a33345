"""Masked-language-model masking, applied when a batch is made ("dynamic masking", as in RoBERTa).

BERT's recipe: choose 15% of the tokens as prediction targets; replace 80% of those with [MASK], 10% with
a random token and leave 10% unchanged. The unchanged and random ones keep the model from learning that
only [MASK] positions matter, since at fine-tuning time there are no [MASK] tokens at all.

The caller passes a random generator per example, derived from (seed, position in the sample stream):
each epoch therefore sees new masks, and a resumed run, or a run split over several processes, draws
exactly the same ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IGNORE_INDEX = -100  # label of a position that is not predicted (PyTorch's cross-entropy default)


@dataclass(frozen=True)
class MaskingScheme:
    """What to mask and how.

    mask_id:         the [MASK] token id
    never_mask:      (vocab,) bool, True for ids never chosen as targets ([CLS], [SEP], [PAD], other specials)
    random_ids:      ids a "random token" replacement is drawn from (the vocabulary without specials)
    continues_word:  (vocab,) bool, True for "##" word pieces; whole-word masking needs it
    """

    mask_id: int
    never_mask: np.ndarray
    random_ids: np.ndarray
    continues_word: np.ndarray
    mask_prob: float = 0.15
    replace_with_mask: float = 0.8
    replace_with_random: float = 0.1
    whole_word: bool = False

    def __post_init__(self) -> None:
        if not 0.0 < self.mask_prob < 1.0:
            raise ValueError(f"mask probability must be between 0 and 1, got {self.mask_prob}")
        if self.replace_with_mask + self.replace_with_random > 1.0:
            raise ValueError("replace_with_mask + replace_with_random must not exceed 1")

    @classmethod
    def for_vocabulary(cls, tokens: list[str], special_ids: list[int], mask_id: int, **options) -> "MaskingScheme":
        """Build the id tables from the vocabulary (tokens in id order) and its special ids."""
        vocab_size = len(tokens)
        never_mask = np.zeros(vocab_size, dtype=bool)
        never_mask[list(special_ids)] = True
        continues_word = np.array([t.startswith("##") for t in tokens], dtype=bool)
        random_ids = np.flatnonzero(~never_mask)
        return cls(mask_id, never_mask, random_ids, continues_word, **options)


def choose_targets(input_ids: np.ndarray, scheme: MaskingScheme, rng: np.random.Generator) -> np.ndarray:
    """(seq,) ids -> (seq,) bool: the positions to predict.

    Each maskable token is chosen with probability mask_prob. With whole-word masking the draw is made
    once per word (a word = a token plus the "##" pieces after it), so a word is masked entirely or
    not at all: predicting "##ing" when "runn" is visible is too easy to teach much.
    """
    maskable = ~scheme.never_mask[input_ids]
    if not scheme.whole_word:
        return maskable & (rng.random(len(input_ids)) < scheme.mask_prob)
    starts_word = ~scheme.continues_word[input_ids] | ~maskable
    word_of_token = np.cumsum(starts_word) - 1  # (seq,) index of the word each token belongs to
    word_chosen = rng.random(word_of_token[-1] + 1) < scheme.mask_prob
    return maskable & word_chosen[word_of_token]


def mask_example(input_ids: np.ndarray, scheme: MaskingScheme,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(seq,) ids -> (masked ids (seq,), labels (seq,)): labels hold the original id at chosen positions
    and IGNORE_INDEX elsewhere; the chosen positions get [MASK] / a random id / stay, 80/10/10."""
    targets = choose_targets(input_ids, scheme, rng)
    action = rng.random(len(input_ids))  # one draw per position decides what a target becomes
    random_tokens = scheme.random_ids[rng.integers(len(scheme.random_ids), size=len(input_ids))]

    labels = np.where(targets, input_ids, IGNORE_INDEX)
    masked = input_ids.copy()
    to_mask = targets & (action < scheme.replace_with_mask)
    to_random = targets & (action >= scheme.replace_with_mask) & (
        action < scheme.replace_with_mask + scheme.replace_with_random)
    masked[to_mask] = scheme.mask_id
    masked[to_random] = random_tokens[to_random]
    return masked, labels
