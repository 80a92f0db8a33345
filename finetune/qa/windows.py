"""From questions to model inputs: each question with its context, cut into overlapping windows.

A SQuAD context is often longer than the model's sequence (384 tokens here), so each question becomes

    window 0:  [CLS] question [SEP] context tokens 0 .. room-1               [SEP]
    window 1:  [CLS] question [SEP] context tokens step .. step+room-1       [SEP]
    ...        (room: what [CLS], the question and two [SEP] leave; step = room - doc_stride)

so every stretch of `doc_stride` context tokens is seen whole by some window. Questions are cut to
`max_query_length` tokens first (a few SQuAD questions are paragraphs pasted by mistake). Every token
keeps its character span in the original context (the `tokenizers` offsets), which is how a predicted
token span becomes the context's own text, with its spacing and case.

Training labels: a window that holds the whole answer marks its first and last token; a window that
holds none or only part of it points both at [CLS] (position 0), i.e. "not in this window".

The window is the unit of batching: batches count windows, are grouped by length and padded to their
longest member, as for GLUE (finetune.data).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm import tqdm

from bert.errors import InputError
from finetune.data import pad_inputs
from finetune.qa.squad import QuestionExample

NOT_IN_WINDOW = 0  # the label of a window without the answer: [CLS]'s position


@dataclass(frozen=True)
class Windowing:
    """How questions and contexts are cut into model inputs."""

    max_seq_length: int = 384  # tokens per window, [CLS] and both [SEP] included
    doc_stride: int = 128  # context tokens a window shares with the one before
    max_query_length: int = 64  # longer questions are cut to this many tokens

    def check(self) -> None:
        """Refuse settings that leave a window no room to move along the context."""
        for name in ("max_seq_length", "doc_stride", "max_query_length"):
            if getattr(self, name) < 1:
                raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        room = self.max_seq_length - self.max_query_length - 3
        if self.doc_stride >= room:
            raise InputError(f"--doc-stride {self.doc_stride} must be smaller than the {room} context tokens a "
                             f"window of --max-seq-length {self.max_seq_length} keeps after a question of "
                             f"--max-query-length {self.max_query_length} and [CLS]/[SEP]")


@dataclass
class Windows:
    """The windows of a list of questions, tokenised but not padded. Window i belongs to question
    `question_index[i]`; a question's windows are consecutive, in context order.

    context_offsets[i][t]: characters [start, end) of token t in its question's context, None for the
    question's tokens, [CLS] and [SEP].
    start_positions, end_positions: (n,) long token labels (see NOT_IN_WINDOW); None when unlabelled.
    """

    examples: list[QuestionExample]
    question_index: list[int]
    input_ids: list[list[int]]
    token_type_ids: list[list[int]]
    context_offsets: list[list[tuple[int, int] | None]]
    start_positions: torch.Tensor | None
    end_positions: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]


def encode_windows(tokenizer, examples: list[QuestionExample], windowing: Windowing, labelled: bool,
                   desc: str = "windows", show_progress: bool = True) -> Windows:
    """Every question as windows over its context; with `labelled`, each window's answer tokens (from the
    first gold answer, the only one in SQuAD's training set)."""
    windows = Windows(examples, [], [], [], [], None, None)
    starts, ends = [], []
    for index, example in enumerate(tqdm(examples, desc=desc, leave=False,
                                         disable=not show_progress or len(examples) < 2000)):
        for encoding in tokenizer.encode_windows(example.question, example.context, windowing.max_seq_length,
                                                 windowing.doc_stride, windowing.max_query_length):
            offsets = [span if sequence == 1 else None
                       for span, sequence in zip(encoding.offsets, encoding.sequence_ids)]
            windows.question_index.append(index)
            windows.input_ids.append(list(encoding.ids))
            windows.token_type_ids.append(list(encoding.token_type_ids))
            windows.context_offsets.append(offsets)
            if labelled:
                start, end = answer_tokens(offsets, example.answers[0].start, example.answers[0].end)
                starts.append(start)
                ends.append(end)
    if labelled:
        windows.start_positions, windows.end_positions = torch.tensor(starts), torch.tensor(ends)
    return windows


def answer_tokens(context_offsets: list[tuple[int, int] | None], start: int, end: int) -> tuple[int, int]:
    """The first and last token of the answer at characters [start, end) of the context, or
    (NOT_IN_WINDOW, NOT_IN_WINDOW) if the window's context does not hold all of it.

    The answer's first token is the first one that ends after the answer starts; its last token the last
    one that starts before the answer ends. A token that holds more than the answer ("1978," when the
    answer is "1978") still counts: the decoder then returns the whole token's text.
    """
    inside = [t for t, span in enumerate(context_offsets) if span is not None]
    if not inside or context_offsets[inside[0]][0] > start or context_offsets[inside[-1]][1] < end:
        return NOT_IN_WINDOW, NOT_IN_WINDOW
    first = next(t for t in inside if context_offsets[t][1] > start)
    last = max(t for t in inside if context_offsets[t][0] < end)
    return first, last


def collate_windows(windows: Windows, positions: list[int], pad_token_id: int,
            token_types: bool = True) -> dict[str, torch.Tensor]:
    """Pad the chosen windows to the longest of them.

    input_ids, token_type_ids, attention_mask: (batch, longest) long; start_positions, end_positions:
    (batch,) when labelled. token_types=False for a model without segment embeddings (DistilBERT).
    """
    batch = pad_inputs(windows.input_ids, windows.token_type_ids, positions, pad_token_id, token_types)
    if windows.start_positions is not None:
        batch["start_positions"] = windows.start_positions[positions]
        batch["end_positions"] = windows.end_positions[positions]
    return batch
