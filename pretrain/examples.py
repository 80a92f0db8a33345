"""Pretraining examples from a tokenised corpus, as Google's `create_pretraining_data.py` builds them.

An example is `[CLS] A [SEP] B [SEP]`: A is one or more consecutive sentences of a document; half the time
B is what really follows A, half the time it is a stretch of another document (the next-sentence-
prediction task, NSP). With `--nsp-negatives swapped` the negative is instead the same two stretches
in the wrong order (ALBERT's sentence-order prediction, SOP); `both` mixes the two kinds. `--no-nsp` gives
RoBERTa-style examples instead: `[CLS] segment [SEP]`, a segment being as many whole consecutive sentences
of one document as fit.

Examples are not token lists but five numbers (a_start, a_end, b_start, b_end, is_random_next) pointing
into the corpus's token stream; A and B are contiguous ranges of it, even after truncation. The table for
a 100 MB corpus is a few MB, so it is cached and memory-mapped, and the tokens are only read when a
batch is made (`assemble`).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from bert.errors import InputError

A_START, A_END, B_START, B_END, IS_RANDOM_NEXT = range(5)  # columns of an example table (n, 5) int64

# What a negative pair ("B does not follow A") is: a stretch of another document (BERT's NSP; easy to tell
# by topic and style), A's own continuation put before it (ALBERT's SOP; same topic and style, only the
# order is wrong), or either with equal probability.
NSP_NEGATIVES = ("other-document", "swapped", "both")


@dataclass(frozen=True)
class Documents:
    """Documents as runs of sentences. Sentence i is tokens[sentence_starts[i]:sentence_starts[i + 1]];
    document j is sentences first[j] .. last[j] - 1."""

    sentence_starts: np.ndarray  # (n_sentences + 1,) int64 token offsets
    first: np.ndarray  # (n_documents,) int64 sentence index
    last: np.ndarray  # (n_documents,) int64 sentence index, exclusive

    def __len__(self) -> int:
        return len(self.first)


def cut_long_sentences(sentence_starts: np.ndarray, max_tokens: int) -> np.ndarray:
    """Sentence boundaries with every sentence longer than `max_tokens` cut into pieces of at most that.

    A run-on sentence longer than an example would otherwise fill segment A alone and be truncated,
    throwing most of it away; pieces keep every token usable. (n + 1,) -> (m + 1,) token offsets.
    """
    lengths = np.diff(sentence_starts)
    pieces = np.maximum(1, -(-lengths // max_tokens))  # ceil(length / max_tokens)
    piece_sentence_start = np.repeat(sentence_starts[:-1], pieces)
    piece_index = np.arange(len(piece_sentence_start)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    return np.append(piece_sentence_start + piece_index * max_tokens, sentence_starts[-1])


def split_held_out(sentence_starts: np.ndarray, document_starts: np.ndarray, held_out_fraction: float,
                   max_sentence_tokens: int, seed: int) -> tuple[Documents, Documents]:
    """Split the corpus into training documents and held-out documents for evaluation.

    Whole documents are held out, drawn at random (seeded), until they hold `held_out_fraction` of the
    corpus's sentences (at least one, at most half); the last one drawn is split in two, its end held out,
    so the share is exact. Random documents rather than the corpus's end: a corpus of several sources (books,
    then Wikipedia) is then evaluated on all of them, not on whichever comes last. `document_starts`
    (n_documents + 1,) are sentence indices. Sentences are first cut to at most `max_sentence_tokens` tokens.
    """
    doc_token_starts = sentence_starts[document_starts]
    starts = cut_long_sentences(sentence_starts, max_sentence_tokens)
    doc_starts = np.searchsorted(starts, doc_token_starts)  # the same documents, in the new sentence indices
    n_sentences = len(starts) - 1
    n_held_out = min(n_sentences // 2, max(1, round(held_out_fraction * n_sentences)))
    first, last = doc_starts[:-1], doc_starts[1:]
    order = np.random.default_rng(seed).permutation(len(first))
    sizes = (last - first)[order]
    before = np.cumsum(sizes) - sizes  # sentences held out before each document of the draw
    n_drawn = int((before < n_held_out).sum())  # documents with at least one held-out sentence
    split = np.zeros(len(first), dtype=bool)
    split[order[n_drawn - 1]] = True  # the last one drawn: its first sentences stay in training
    held = np.zeros(len(first), dtype=bool)
    held[order[:n_drawn]] = True
    cut = np.where(split, last - (n_held_out - before[n_drawn - 1]), first)  # where each held-out part starts
    in_train = ~held | (split & (cut > first))
    return (Documents(starts, first[in_train], np.where(held, cut, last)[in_train]),
            Documents(starts, cut[held], last[held]))


def truncated_lengths(len_a: int, len_b: int, max_total: int) -> tuple[int, int]:
    """Google's `truncate_seq_pair` in closed form: tokens are removed one at a time from whichever side
    is longer (B on a tie) until the pair fits. Returns the new (len_a, len_b)."""
    excess = len_a + len_b - max_total
    if excess <= 0:
        return len_a, len_b
    cut = min(excess, abs(len_a - len_b))  # first the longer side shrinks to the shorter one's length...
    if len_a > len_b:
        len_a -= cut
    else:
        len_b -= cut
    excess -= cut
    return len_a - excess // 2, len_b - (excess + 1) // 2  # ...then both shrink in turn, B first


def _trim(start: int, end: int, new_length: int, rng: random.Random) -> tuple[int, int]:
    """Shorten [start, end) to new_length, each removed token coming off the front or the back with
    probability 1/2 (as in Google's code, so the model does not learn that segments end at sentence ends)."""
    removed = (end - start) - new_length
    from_front = rng.getrandbits(removed).bit_count() if removed else 0  # Binomial(removed, 1/2)
    return start + from_front, end - (removed - from_front)


def _random_segment(documents: Documents, exclude: int | None, target_length: int,
                    rng: random.Random) -> tuple[int, int]:
    """A token range of about `target_length` from a random document other than `exclude`: from a random
    sentence onward, whole sentences until the target is reached or the document ends."""
    n_choices = len(documents) - (exclude is not None)
    doc = rng.randrange(n_choices)
    if exclude is not None and doc >= exclude:
        doc += 1  # skip the excluded document, keeping the draw uniform over the others
    starts = documents.sentence_starts
    first = rng.randrange(documents.first[doc], documents.last[doc])
    end = first + 1
    while end < documents.last[doc] and starts[end] - starts[first] < target_length:
        end += 1
    return int(starts[first]), int(starts[end])


def nsp_examples(documents: Documents, max_seq_length: int, short_seq_prob: float, rng: random.Random,
                 random_pool: Documents | None = None, negatives: str = "other-document") -> np.ndarray:
    """Sentence-pair examples (Google's `create_instances_from_document`, over every document) -> (n, 5).

    Sentences are gathered until they reach a target length (max_seq_length - 3, or with probability
    short_seq_prob a random shorter one, so the model also sees short inputs as at fine-tuning time);
    A is a random number of the first of them; B is the rest (is_random_next 0) or, half the time and
    always when only one sentence was gathered, a segment of a random other document (1), the unused
    sentences being put back for the next example. Finally the longer side is truncated to fit.

    `negatives` (NSP_NEGATIVES) says what a negative is; a swapped pair `[CLS] B [SEP] A [SEP]` needs two
    gathered sentences, so a single one still gets another document's stretch.
    `random_pool` supplies the random B segments (default: `documents` themselves, never the same
    document as A). Differences from Google's code: the target length is redrawn for every example rather
    than once per document, and the random document is drawn from the others directly, never A's own.
    """
    pool = random_pool if random_pool is not None else documents
    if len(pool) < 2 and pool is documents:
        raise InputError("next-sentence prediction needs at least two documents to draw random "
                         f"segments from, but there is {len(pool)}")
    max_tokens = max_seq_length - 3  # room for [CLS], [SEP], [SEP]
    starts = documents.sentence_starts
    rows: list[tuple[int, int, int, int, int]] = []
    for doc in range(len(documents)):
        first, last = int(documents.first[doc]), int(documents.last[doc])
        target = _target_length(max_tokens, short_seq_prob, rng)
        chunk_start, i = first, first
        while i < last:
            i += 1  # sentences chunk_start .. i-1 are gathered
            if i < last and starts[i] - starts[chunk_start] < target:
                continue
            n_gathered = i - chunk_start
            a_sentences = rng.randint(1, n_gathered - 1) if n_gathered >= 2 else 1
            a_start, a_end = int(starts[chunk_start]), int(starts[chunk_start + a_sentences])
            if n_gathered == 1 or rng.random() < 0.5:
                is_random = 1
                if n_gathered >= 2 and (negatives == "swapped" or (negatives == "both" and rng.random() < 0.5)):
                    a_start, a_end, b_start, b_end = a_end, int(starts[i]), a_start, a_end  # B, then A
                else:
                    b_start, b_end = _random_segment(
                        pool, doc if pool is documents else None, target - (a_end - a_start), rng)
                    i = chunk_start + a_sentences  # put the unused sentences back
            else:
                is_random = 0
                b_start, b_end = a_end, int(starts[i])
            len_a, len_b = truncated_lengths(a_end - a_start, b_end - b_start, max_tokens)
            rows.append((*_trim(a_start, a_end, len_a, rng), *_trim(b_start, b_end, len_b, rng), is_random))
            chunk_start = i
            target = _target_length(max_tokens, short_seq_prob, rng)
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def _target_length(max_tokens: int, short_seq_prob: float, rng: random.Random) -> int:
    return rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens


def segment_examples(documents: Documents, max_seq_length: int, across_documents: bool = False) -> np.ndarray:
    """Single-segment examples without NSP (RoBERTa's "doc-sentences") -> (n, 5) with an empty B.

    Each segment is as many whole consecutive sentences of one document as fit in max_seq_length - 2
    tokens (sentences are already cut to at most that). With `across_documents` (RoBERTa's "full-sentences"),
    a segment runs on into the next document where the two lie end to end in the corpus (not across a
    held-out one): a corpus of one-sentence documents then fills its examples instead of padding them.
    """
    max_tokens = max_seq_length - 2  # room for [CLS] and [SEP]
    starts = documents.sentence_starts
    firsts, lasts = documents.first, documents.last
    if across_documents and len(firsts):  # each run of adjacent documents becomes one
        breaks = np.flatnonzero(lasts[:-1] != firsts[1:]) + 1  # where a run starts, after the first
        firsts, lasts = firsts[np.r_[0, breaks]], lasts[np.r_[breaks - 1, len(lasts) - 1]]
    rows = []
    for first, last in zip(firsts.tolist(), lasts.tolist()):
        segment_start = first
        for i in range(first + 1, last + 1):
            if i == last or starts[i + 1] - starts[segment_start] > max_tokens:
                end = int(starts[i])
                rows.append((int(starts[segment_start]), end, end, end, 0))
                segment_start = i
    return np.array(rows, dtype=np.int64).reshape(-1, 5)


def build_examples(sentence_starts: np.ndarray, document_starts: np.ndarray, *, max_seq_length: int,
                   short_seq_prob: float, nsp: bool, held_out_fraction: float, seed: int,
                   nsp_negatives: str = "other-document",
                   pack_documents: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(training examples, held-out examples), each (n, 5), from a tokenised corpus; without NSP,
    `pack_documents` lets a segment run on across documents (segment_examples).

    Held-out NSP examples draw their random B from the held-out slice when it has two documents or more,
    else from the training documents (a slice inside one long book still gets negatives).
    """
    if nsp and len(document_starts) - 1 < 2:
        raise InputError("the corpus is a single document, but next-sentence prediction needs at least two "
                         "(separate documents with a blank line), or train without NSP (--no-nsp)")
    # A sentence of at most half an example leaves room for B; without NSP a segment can be one piece.
    max_sentence = (max_seq_length - 3) // 2 if nsp else max_seq_length - 2
    train, held_out = split_held_out(sentence_starts, document_starts, held_out_fraction, max_sentence, seed)
    if not nsp:
        return (segment_examples(train, max_seq_length, pack_documents),
                segment_examples(held_out, max_seq_length, pack_documents))
    if len(train) < 2:
        raise InputError("after holding out the evaluation slice, the training part is a single document; "
                         "next-sentence prediction needs two: lower --eval-fraction, add documents, or use --no-nsp")
    rng = random.Random(seed)
    train_examples = nsp_examples(train, max_seq_length, short_seq_prob, rng, negatives=nsp_negatives)
    held_out_pool = held_out if len(held_out) >= 2 else train
    return train_examples, nsp_examples(held_out, max_seq_length, short_seq_prob, rng, held_out_pool, nsp_negatives)


def assemble(example: np.ndarray, tokens: np.ndarray, cls_id: int, sep_id: int) -> tuple[np.ndarray, np.ndarray]:
    """One example row -> (input ids, token type ids), both (length,) int64:
    `[CLS] A [SEP] B [SEP]` with types 0 for [CLS] A [SEP] and 1 for B [SEP]; `[CLS] A [SEP]` without B."""
    a = tokens[example[A_START]:example[A_END]].astype(np.int64)
    b = tokens[example[B_START]:example[B_END]].astype(np.int64)
    pieces = [[cls_id], a, [sep_id]] + ([b, [sep_id]] if len(b) else [])
    input_ids = np.concatenate(pieces).astype(np.int64)
    token_types = np.zeros(len(input_ids), dtype=np.int64)
    token_types[len(a) + 2:] = 1
    return input_ids, token_types
