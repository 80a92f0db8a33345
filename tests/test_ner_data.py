"""CoNLL-2003 NER without training: reading files (IOB1 -> IOB2), words to pieces, and the entity scores,
checked on hand-worked cases and against `seqeval` (the scorer most NER papers' code uses)."""

import random
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bert.config import BertConfig
from finetune.token.conll import (CONLL2003, Sentence, find_task_folder, load_token_task_data, read_conll_file,
                            read_hub_split, to_iob2)
from finetune.token.entities import entity_scores, entity_spans
from bert.errors import InputError
from finetune.token.family import collate, encode_sentences, evaluate
from tokenizer import WordPieceTokenizer

FIXTURES = Path(__file__).parent / "fixtures" / "ner"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = CONLL2003.labels  # O, B-PER, I-PER, B-ORG, I-ORG, B-LOC, I-LOC, B-MISC, I-MISC


def write_ner_vocab(path: Path) -> Path:
    """Every fixture word as a whole word (lowercased), except Schwarzenegger: schwarz ##ene ##gger."""
    words = set()
    for file in (FIXTURES / "conll2003").glob("*.txt"):
        for line in file.read_text().splitlines():
            if line.split():
                words |= set(re.findall(r"\w+|[^\w\s]", line.split()[0].lower()))
    words -= {"schwarzenegger"}
    path.write_text("\n".join(SPECIAL + sorted(words) + ["schwarz", "##ene", "##gger"]) + "\n")
    return path


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory) -> WordPieceTokenizer:
    return WordPieceTokenizer.from_pretrained(write_ner_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt"))


# ------------------------------------------------------------------ files

@pytest.mark.parametrize("iob1, iob2", [
    (["I-PER", "I-PER", "O", "I-LOC"], ["B-PER", "I-PER", "O", "B-LOC"]),
    (["I-ORG", "B-ORG", "I-ORG", "O"], ["B-ORG", "B-ORG", "I-ORG", "O"]),  # two ORGs side by side
    (["I-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),  # a new type starts a new entity
    (["B-MISC", "I-MISC", "O", "O"], ["B-MISC", "I-MISC", "O", "O"]),  # IOB2 already: unchanged
    ([], []),
])
def test_iob1_to_iob2(iob1, iob2):
    assert to_iob2(iob1) == iob2
    assert entity_spans(iob1) == entity_spans(iob2)  # the same entities in either scheme


def test_reading_the_fixture_train_file():
    sentences = read_conll_file(FIXTURES / "conll2003" / "train.txt", CONLL2003)
    assert len(sentences) == 16  # three -DOCSTART- lines and the blank lines are not sentences
    assert sentences[0] == Sentence(["Schwarzenegger", "visited", "Vienna", "on", "Monday", "."],
                                    ["B-PER", "O", "B-LOC", "O", "O", "O"])
    assert sentences[2] == Sentence(["Ajax", "PSV", "2", "1"], ["B-ORG", "B-ORG", "O", "O"])  # IOB1 B-: kept
    assert sentences[11].tags[:4] == ["B-PER", "I-PER", "B-PER", "I-PER"]  # Boris Yeltsin, Viktor Chernomyrdin
    assert all(tag in LABELS for s in sentences for tag in s.tags)


def test_data_dir_is_the_task_folder_or_the_one_above_it(tmp_path):
    assert find_task_folder(CONLL2003, FIXTURES) == FIXTURES / "conll2003"
    assert find_task_folder(CONLL2003, FIXTURES / "conll2003") == FIXTURES / "conll2003"
    data = load_token_task_data(CONLL2003, FIXTURES)
    assert (len(data.train), len(data.dev), len(data.test)) == (16, 4, 3)
    for name in ("train.txt", "dev.txt"):  # no test.txt: test is left out, not an error
        (tmp_path / name).write_text((FIXTURES / "conll2003" / name).read_text())
    assert load_token_task_data(CONLL2003, tmp_path).test is None
    with pytest.raises(InputError, match=r"no train.txt in it or in .*conll2003"):
        find_task_folder(CONLL2003, tmp_path / "nowhere")


@pytest.mark.parametrize("content, message", [
    ("EU NNP I-NP I-ORG\nrejects VBZ I-VP\n", r"bad.txt:2: expected 4 space-separated fields \(word POS chunk NER\), found 3"),
    ("-DOCSTART- -X- -X- O\n\nEU NNP I-NP I-ORG\n\nPeter NNP I-NP I-PERSON\n",
     r"bad.txt:5: tag 'I-PERSON' is not one of conll2003's tags \(O, B-PER, .*\)"),
    ("", r"bad.txt: no sentences in the file"),
    ("-DOCSTART- -X- -X- O\n\n", r"bad.txt: no sentences in the file"),
    (b"caf\xe9 NN I-NP O\n", r"bad.txt: not UTF-8 text"),
])
def test_bad_files_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(InputError, match=message):
        read_conll_file(path, CONLL2003)


def test_hub_split_is_mapped_through_its_own_tag_names(monkeypatch):
    datasets = pytest.importorskip("datasets")
    names = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    rows = datasets.Dataset.from_dict({"tokens": [["-DOCSTART-"], ["EU", "rejects", "German", "call"], []],
                                       "ner_tags": [[0], [4, 0, 8, 0], []]}, features=features)  # IOB1 ids
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: asked.append((name, split)) or rows)
    assert read_hub_split(CONLL2003, "dev") == [Sentence(["EU", "rejects", "German", "call"],
                                                         ["B-ORG", "O", "B-MISC", "O"])]
    assert asked == [("eriktks/conll2003", "validation")]


# ------------------------------------------------------------------ words to pieces

def test_first_piece_carries_the_label(tokenizer):
    sentence = Sentence(["Schwarzenegger", "visited", "Vienna"], ["B-PER", "O", "B-LOC"])
    split = encode_sentences(tokenizer, LABELS, [sentence], max_length=128)
    pieces = [tokenizer.id_to_token(i) for i in split.inputs.input_ids[0]]
    assert pieces == ["[CLS]", "schwarz", "##ene", "##gger", "visited", "vienna", "[SEP]"]
    assert split.labels == [[-100, 1, -100, -100, 0, 5, -100]]
    assert split.word_starts == [[1, 4, 5]]
    all_pieces = encode_sentences(tokenizer, LABELS, [sentence], max_length=128, label_all_tokens=True)
    assert all_pieces.labels == [[-100, 1, 2, 2, 0, 5, -100]]  # later pieces of a B-PER word are I-PER


def test_words_cut_off_have_no_piece_and_no_label(tokenizer):
    sentence = Sentence(["Schwarzenegger", "visited", "Vienna"], ["B-PER", "O", "B-LOC"])
    split = encode_sentences(tokenizer, LABELS, [sentence], max_length=4)
    assert [tokenizer.id_to_token(i) for i in split.inputs.input_ids[0]] == ["[CLS]", "schwarz", "##ene", "[SEP]"]
    assert split.labels == [[-100, 1, -100, -100]]
    assert split.word_starts == [[1, -1, -1]]


def test_a_word_normalised_away_has_no_piece(tokenizer):
    """A control character is a CoNLL word but no BERT piece: it gets no label, and no first piece (-1)."""
    split = encode_sentences(tokenizer, LABELS, [Sentence(["Vienna", "\x07", "visited"], ["B-LOC", "O", "O"])], 128)
    assert split.labels == [[-100, 5, 0, -100]] and split.word_starts == [[1, -1, 2]]


def test_raw_text_words_keep_their_character_offsets(tokenizer):
    assert tokenizer.split_words("Zürich's café.") == [
        ("Zürich", (0, 6)), ("'", (6, 7)), ("s", (7, 8)), ("café", (9, 13)), (".", (13, 14))]
    words = [word for word, _ in tokenizer.split_words("Angela Merkel met Jacques Chirac in Paris.")]
    as_words = tokenizer.encode_words([words])[0]
    as_text = tokenizer.encode("Angela Merkel met Jacques Chirac in Paris.")
    assert (as_words.ids, as_words.word_ids) == (as_text.ids, as_text.word_ids)  # the same encoding either way


def test_collate_pads_labels_with_ignore(tokenizer):
    sentences = [Sentence(["Vienna"], ["B-LOC"]), Sentence(["Angela", "Merkel", "met"], ["B-PER", "I-PER", "O"])]
    split = encode_sentences(tokenizer, LABELS, sentences, max_length=128)
    batch = collate(split, [1, 0], tokenizer.pad_token_id)
    assert batch["labels"].tolist() == [[-100, 1, 2, 0, -100], [-100, 5, -100, -100, -100]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert set(batch) == {"input_ids", "token_type_ids", "attention_mask", "labels"}


class PieceOracle(nn.Module):
    """A stand-in model that labels each piece by its vocabulary id alone (a lookup table of logits)."""

    def __init__(self, tokenizer, labels_of: dict[str, str]):
        super().__init__()
        self.config = BertConfig(vocab_size=tokenizer.vocab_size, num_labels=len(LABELS))
        table = torch.zeros(tokenizer.vocab_size, len(LABELS))
        table[:, 0] = 1.0  # O
        for piece, label in labels_of.items():
            table[tokenizer.token_to_id(piece)] = torch.eye(len(LABELS))[LABELS.index(label)] * 5
        self.table = nn.Parameter(table)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        return SimpleNamespace(logits=self.table[input_ids])  # (batch, seq, labels)


def test_a_word_cut_off_is_predicted_o_and_still_scored(tokenizer):
    """Vienna (a gold LOC) does not fit in 4 pieces: it is predicted O and costs recall; nothing is dropped."""
    oracle = PieceOracle(tokenizer, {"schwarz": "B-PER", "vienna": "B-LOC"})
    sentence = Sentence(["Schwarzenegger", "visited", "Vienna"], ["B-PER", "O", "B-LOC"])
    whole = encode_sentences(tokenizer, LABELS, [sentence], max_length=128)
    cut = encode_sentences(tokenizer, LABELS, [sentence], max_length=4)
    scores, tags = evaluate(oracle, whole, CONLL2003, 8, tokenizer.pad_token_id)
    assert tags == [["B-PER", "O", "B-LOC"]] and scores["f1"] == 1.0
    scores, tags = evaluate(oracle, cut, CONLL2003, 8, tokenizer.pad_token_id)
    assert tags == [["B-PER", "O", "O"]]
    assert (scores["precision"], scores["recall"], scores["accuracy"]) == (1.0, 0.5, 2 / 3)
    assert scores["f1_LOC"] == 0.0 and scores["f1_PER"] == 1.0


# ------------------------------------------------------------------ the entity metric

def test_entity_spans_read_tags_as_conlleval_does():
    assert entity_spans(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 2), ("LOC", 3, 4)]
    assert entity_spans(["O", "I-LOC", "I-LOC"]) == [("LOC", 1, 3)]  # I- after O begins an entity
    assert entity_spans(["B-PER", "B-PER", "I-PER"]) == [("PER", 0, 1), ("PER", 1, 3)]  # adjacent, one type
    assert entity_spans(["B-PER", "I-LOC", "I-PER"]) == [("PER", 0, 1), ("LOC", 1, 2), ("PER", 2, 3)]
    assert entity_spans(["I-ORG"]) == [("ORG", 0, 1)] and entity_spans(["O", "O"]) == []


# Hand-worked: 6 gold entities, 5 predicted, 2 of them right.
HAND_GOLD = [
    ["B-PER", "I-PER", "O", "B-LOC"],  # Angela Merkel visited Paris
    ["B-ORG", "I-ORG", "O"],  # European Commission said
    ["B-PER", "B-PER", "O"],  # two adjacent PER entities
    ["O", "B-LOC", "I-LOC"],  # ... New York
]
HAND_PREDICTED = [
    ["B-PER", "I-PER", "O", "B-ORG"],  # right; wrong type (a miss and a false alarm)
    ["O", "B-ORG", "O"],  # wrong boundary: Commission alone
    ["B-PER", "I-PER", "O"],  # the two merged into one: two misses, one false alarm
    ["O", "I-LOC", "I-LOC"],  # I- after O begins the entity: right
]


def test_entity_scores_on_hand_worked_cases():
    scores = entity_scores(HAND_GOLD, HAND_PREDICTED, CONLL2003.entity_types)
    assert scores["precision"] == pytest.approx(2 / 5)  # predicted: PER, ORG, ORG, PER, LOC
    assert scores["recall"] == pytest.approx(2 / 6)  # gold: PER, LOC, ORG, PER, PER, LOC
    assert scores["f1"] == pytest.approx(2 * (2 / 5) * (1 / 3) / (2 / 5 + 1 / 3))
    assert scores["accuracy"] == pytest.approx(8 / 13)  # words whose tag is exactly right
    # PER: 1 right of 2 predicted, 3 gold; LOC: 1 of 1, 2; ORG: 0 of 2; MISC: none anywhere
    assert scores["f1_PER"] == pytest.approx(2 * 0.5 * (1 / 3) / (0.5 + 1 / 3))
    assert scores["f1_LOC"] == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert scores["f1_ORG"] == 0.0 and scores["f1_MISC"] == 0.0
    assert entity_scores(HAND_GOLD, HAND_GOLD, CONLL2003.entity_types)["f1"] == 1.0


def seqeval_scores(gold, predicted) -> dict[str, float]:
    metrics = pytest.importorskip("seqeval.metrics")
    report = metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    scores = {"f1": metrics.f1_score(gold, predicted, zero_division=0),
              "precision": metrics.precision_score(gold, predicted, zero_division=0),
              "recall": metrics.recall_score(gold, predicted, zero_division=0),
              "accuracy": metrics.accuracy_score(gold, predicted)}
    scores.update({f"f1_{kind}": report[kind]["f1-score"] for kind in CONLL2003.entity_types if kind in report})
    return scores


def random_tags(rng: random.Random, n_sentences: int) -> list[list[str]]:
    """Tag sequences of every shape, ill-formed ones included (I- after O, type changes inside a run)."""
    return [[rng.choice(LABELS) for _ in range(rng.randint(1, 12))] for _ in range(n_sentences)]


def test_entity_scores_equal_seqeval_on_hand_cases():
    ours = entity_scores(HAND_GOLD, HAND_PREDICTED, CONLL2003.entity_types)
    theirs = seqeval_scores(HAND_GOLD, HAND_PREDICTED)
    assert {k: ours[k] for k in theirs} == pytest.approx(theirs, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_entity_scores_equal_seqeval_on_random_tags(seed):
    rng = random.Random(seed)
    gold = random_tags(rng, 200)
    predicted = [[tag if rng.random() < 0.7 else rng.choice(LABELS) for tag in tags] for tags in gold]
    ours = entity_scores(gold, predicted, CONLL2003.entity_types)
    theirs = seqeval_scores(gold, predicted)
    assert len(theirs) == 8 and 0.2 < ours["f1"] < 0.9  # every type present; neither trivial nor perfect
    assert {k: ours[k] for k in theirs} == pytest.approx(theirs, abs=1e-12)
