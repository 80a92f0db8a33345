"""Question + context -> windows: overlap, offsets back to the original characters, answer labels at window
edges, question cutting, padding. A vocabulary of whole fixture words (conftest.squad_vocab) keeps token
counts easy to reason about: one token per word or punctuation mark."""

import pytest
import torch

from bert.errors import InputError
from finetune.qa.squad import Answer, QuestionExample, read_squad_file
from finetune.qa.windows import NOT_IN_WINDOW, Windowing, answer_tokens, collate_windows, encode_windows
from tokenizer import WordPieceTokenizer

from conftest import SQUAD_FIXTURES

RHINE = read_squad_file(SQUAD_FIXTURES / "train.json")[12]  # "Where does the Rhine rise?", 90 context tokens


@pytest.fixture(scope="module")
def tokenizer(squad_vocab) -> WordPieceTokenizer:
    return WordPieceTokenizer.from_pretrained(squad_vocab)


def test_windows_overlap_by_the_stride_and_cover_the_context(tokenizer):
    """93 context tokens, a 6-token question: windows of 40 hold 31 context tokens and, sharing 10, start
    21 apart: tokens 0-30, 21-51, 42-72, 63-92."""
    context = tokenizer.encode(RHINE.context).tokens[1:-1]
    question = tokenizer.encode(RHINE.question).tokens[1:-1]
    assert (len(context), len(question)) == (93, 6)
    windows = tokenizer.encode_windows(RHINE.question, RHINE.context, max_length=40, stride=10)
    assert [len(w) for w in windows] == [40, 40, 40, 39]
    for k, window in enumerate(windows):
        assert window.tokens[:8] == ["[CLS]", *question, "[SEP]"] and window.tokens[-1] == "[SEP]"
        assert window.token_type_ids == [0] * 8 + [1] * (len(window) - 8)
        assert window.sequence_ids == [None] + [0] * 6 + [None] + [1] * (len(window) - 9) + [None]
        assert window.tokens[8:-1] == context[21 * k:21 * k + 31]


def test_offsets_point_into_the_original_context(tokenizer):
    """Two spaces, a tab, accents, curly quotes, an em dash and an emoji ([UNK]): every context token's
    offsets give back its own characters of the context as written."""
    context = "Café  Müller\twas performed —  by “Pina Bausch” 🚋 in São Paulo."
    windows = tokenizer.encode_windows("Who performed it?", context, max_length=12, stride=2)
    pieces = [(token, context[span[0]:span[1]]) for w in windows
              for token, span, s in zip(w.tokens, w.offsets, w.sequence_ids) if s == 1]
    assert list(dict.fromkeys(pieces)) == [
        ("cafe", "Café"), ("muller", "Müller"), ("was", "was"), ("performed", "performed"), ("—", "—"), ("by", "by"),
        ("“", "“"), ("pina", "Pina"), ("bausch", "Bausch"), ("”", "”"), ("[UNK]", "🚋"), ("in", "in"),
        ("sao", "São"), ("paulo", "Paulo"), (".", ".")]


def test_an_answer_across_a_window_edge_is_labelled_only_where_it_is_whole(tokenizer):
    """"the Rhine Gorge" is context tokens 57-59 (of 93). The question has 10 tokens, so windows of 43 hold
    30 context tokens and, sharing 2, start 28 apart: 0-29, 28-57, 56-85, 84-92. Window 1 ends on "the":
    it holds part of the answer and must point at [CLS]; window 2 holds all of it."""
    answer = Answer("the Rhine Gorge", RHINE.context.index("the Rhine Gorge"))
    example = QuestionExample("gorge", "What is the valley between Bingen and Bonn called?", RHINE.context, (answer,))
    windows = encode_windows(tokenizer, [example], Windowing(max_seq_length=43, doc_stride=2, max_query_length=64),
                             labelled=True)
    assert len(windows) == 4
    last_of_window_1 = windows.context_offsets[1][-2]
    assert RHINE.context[last_of_window_1[0]:last_of_window_1[1]] == "the"  # the edge cuts the answer
    first_context_token = 1 + 10 + 1
    assert windows.start_positions.tolist() == [0, 0, first_context_token + 57 - 56, 0]
    assert windows.end_positions.tolist() == [0, 0, first_context_token + 59 - 56, 0]
    offsets = windows.context_offsets[2]
    assert RHINE.context[offsets[13][0]:offsets[15][1]] == "the Rhine Gorge"


def test_answer_tokens_rules():
    offsets = [None, None, None, (0, 4), (5, 10), (10, 11), (12, 20), None]  # [CLS] q [SEP] "Pina Bausch, dancers" [SEP]
    assert answer_tokens(offsets, 0, 11) == (3, 5)
    assert answer_tokens(offsets, 5, 10) == (4, 4)
    assert answer_tokens(offsets, 6, 9) == (4, 4)  # inside one token: the whole token
    assert answer_tokens(offsets, 12, 25) == (NOT_IN_WINDOW, NOT_IN_WINDOW)  # runs past the window
    assert answer_tokens([None, (30, 34), (35, 40), None], 25, 34) == (NOT_IN_WINDOW, NOT_IN_WINDOW)  # began before


def test_every_fixture_answer_is_labelled_in_some_window(tokenizer):
    examples = read_squad_file(SQUAD_FIXTURES / "train.json")
    windows = encode_windows(tokenizer, examples, Windowing(max_seq_length=40, doc_stride=8, max_query_length=16),
                             labelled=True)
    assert len(windows) > len(examples)  # some contexts need several windows
    labelled = set()
    for i, question in enumerate(windows.question_index):
        start, end = windows.start_positions[i].item(), windows.end_positions[i].item()
        if start != NOT_IN_WINDOW:
            offsets, answer = windows.context_offsets[i], examples[question].answers[0]
            assert examples[question].context[offsets[start][0]:offsets[end][1]] == answer.text
            labelled.add(question)
    assert labelled == set(range(len(examples)))
    assert windows.question_index == sorted(windows.question_index)  # a question's windows are consecutive


def test_a_long_question_is_cut_to_max_query_length(tokenizer):
    question = " ".join(["Where does the Rhine rise"] * 30) + "?"  # 151 tokens
    windows = encode_windows(tokenizer, [QuestionExample("long", question, RHINE.context, ())],
                             Windowing(max_seq_length=64, doc_stride=8, max_query_length=20), labelled=False)
    for ids, types in zip(windows.input_ids, windows.token_type_ids):
        assert types.index(1) == 1 + 20 + 1  # [CLS], 20 question tokens, [SEP]
        assert tokenizer.decode(ids[1:21]) == " ".join(["where does the rhine rise"] * 4)
    assert windows.start_positions is None


def test_collate_pads_to_the_longest_window(tokenizer):
    examples = read_squad_file(SQUAD_FIXTURES / "train.json")[:2]
    windows = encode_windows(tokenizer, examples, Windowing(32, 4, 16), labelled=True)
    positions = [len(windows) - 1, 0]  # the short last window of question 2, a full one
    batch = collate_windows(windows, positions, pad_token_id=0)
    n_last = len(windows.input_ids[-1])
    assert n_last < 32 and batch["input_ids"].shape == (2, 32)
    assert batch["attention_mask"][0].tolist() == [1] * n_last + [0] * (32 - n_last)
    assert batch["input_ids"][0, n_last:].eq(0).all() and batch["token_type_ids"][0, n_last:].eq(0).all()
    assert torch.equal(batch["start_positions"], windows.start_positions[positions])
    assert "token_type_ids" not in collate_windows(windows, positions, 0, token_types=False)


@pytest.mark.parametrize("windowing, message", [
    (Windowing(384, 317, 64), "--doc-stride 317 must be smaller than the 317 context tokens"),
    (Windowing(64, 16, 64), "--doc-stride 16 must be smaller than the -3 context tokens"),
    (Windowing(384, 0, 64), "--doc-stride must be at least 1"),
])
def test_windowing_that_cannot_move_is_refused(windowing, message):
    with pytest.raises(InputError, match=message):
        windowing.check()


def test_windows_match_transformers_overflowing_tokens(minilm_path):
    """MiniLM's real vocabulary (word pieces, accents): the same windows, ids and offsets as the
    transformers fast tokenizer with truncation="only_second", stride and overflowing tokens (run_qa's call)."""
    transformers = pytest.importorskip("transformers")
    ours = WordPieceTokenizer.from_pretrained(minilm_path)
    theirs = transformers.AutoTokenizer.from_pretrained(minilm_path)
    context = RHINE.context.replace("Düsseldorf", "Düsseldorf  (Landeshauptstadt)\t")
    for max_length, stride in [(48, 8), (64, 30), (384, 128)]:
        windows = ours.encode_windows(RHINE.question, context, max_length, stride)
        expected = theirs(RHINE.question, context, truncation="only_second", max_length=max_length, stride=stride,
                          return_overflowing_tokens=True, return_offsets_mapping=True)
        assert [w.ids for w in windows] == expected["input_ids"]
        assert [w.token_type_ids for w in windows] == expected["token_type_ids"]
        assert [w.offsets for w in windows] == [[tuple(span) for span in spans] for spans in expected["offset_mapping"]]
        assert [w.sequence_ids for w in windows] == [expected.sequence_ids(i) for i in range(len(windows))]
