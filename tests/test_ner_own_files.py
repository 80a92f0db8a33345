"""bert-finetune --task ner on the user's own tagged files: labels other than CoNLL-2003's, JSON lines or CoNLL
columns, IOB1 / IOB2 / BIOES tags; entity F1 equal to seqeval's on the written predictions; bert-predict
prints the file's labels; unknown, mixed and unseen tags are one-line errors naming file, line and tag."""

import json
import random
from pathlib import Path

import pytest

from finetune import cli, predict_cli
from finetune.token.entities import entity_spans
from finetune.token.tagged_files import (check_scheme, detect_scheme, iob2_tags, load_tagged_files,
                                         read_tagged_file)
from bert.errors import InputError

seqeval_metrics = pytest.importorskip("seqeval.metrics", reason="pip install seqeval (in the dev extra)")
from seqeval.metrics.sequence_labeling import get_entities  # noqa: E402

DRUGS = ["aspirin", "ibuprofen", "paracetamol", "warfarin", "metformin", "insulin"]
SYMPTOMS = ["headache", "fever", "nausea", "back pain", "sore throat", "joint pain"]
DOSES = ["twice a day", "daily", "at night"]


def tagged_sentences(n: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """Sentences with DRUG, SYMPTOM and DOSE entities (one to three words), in IOB2."""
    rng = random.Random(seed)
    sentences = []
    for _ in range(n):
        words, tags = [], []
        for chunk, kind in ((["patients", "took"], None), (rng.choice(DRUGS).split(), "DRUG"), (["for"], None),
                            (rng.choice(SYMPTOMS).split(), "SYMPTOM"), (rng.choice(DOSES).split(), "DOSE")):
            words += chunk
            tags += ["O"] * len(chunk) if kind is None else [f"B-{kind}"] + [f"I-{kind}"] * (len(chunk) - 1)
        sentences.append((words, tags))
    return sentences


def in_scheme(tags: list[str], scheme: str) -> list[str]:
    """IOB2 tags rewritten in `scheme` (the same entities)."""
    out = list(tags)
    for kind, start, end in entity_spans(tags):
        if scheme == "iob1":
            out[start] = f"I-{kind}" if start == 0 or tags[start - 1][2:] != kind else f"B-{kind}"
        elif scheme == "bioes":
            out[start:end] = [f"S-{kind}"] if end - start == 1 else \
                [f"B-{kind}"] + [f"I-{kind}"] * (end - start - 2) + [f"E-{kind}"]
    return out


def write_file(path: Path, sentences, scheme: str) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"tokens": w, "tags": in_scheme(t, scheme)}) + "\n" for w, t in sentences))
    else:  # CoNLL columns, with a POS column in between and a -DOCSTART- line
        blocks = ["-DOCSTART- -X- O\n"] + ["".join(f"{w} NN {t}\n" for w, t in zip(words, in_scheme(tags, scheme)))
                                            for words, tags in sentences]
        path.write_text("\n".join(blocks))
    return path


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    words = sorted({w for text in ["patients took for", *DRUGS, *SYMPTOMS, *DOSES] for w in text.split()})
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    return path


def read_predictions(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """A `word gold predicted` file's gold and predicted tags, per sentence."""
    sentences = [[line.split(" ") for line in block.splitlines()] for block in path.read_text().split("\n\n")]
    sentences = [s for s in sentences if s]
    return [[row[1] for row in s] for s in sentences], [[row[2] for row in s] for s in sentences]


@pytest.mark.parametrize("suffix,scheme", [(".jsonl", "iob2"), (".txt", "bioes"), (".jsonl", "iob1")])
def test_own_tagged_files_train_and_score_as_seqeval(suffix, scheme, vocab, tmp_path, capsys):
    """Two epochs: far from perfect, so the F1 that summary.json reports is a real check against seqeval's
    on the written predictions; the scheme is read off the training file."""
    files = {name: write_file(tmp_path / f"{name}{suffix}", tagged_sentences(n, seed), scheme)
             for name, n, seed in (("train", 48, 1), ("dev", 24, 2), ("test", 12, 3))}
    output = tmp_path / "run"
    assert cli.main(["--task", "ner", "--model", "tiny", "--vocab", str(vocab), "--output", str(output),
                     "--train-file", str(files["train"]), "--validation-file", str(files["dev"]),
                     "--test-file", str(files["test"]), "--epochs", "2", "--lr", "1e-3", "--seeds", "1"]) == 0
    assert f"tags {scheme.upper()}; types DOSE, DRUG, SYMPTOM" in capsys.readouterr().out
    summary = json.loads((output / "summary.json").read_text())
    assert 0 < summary["median"]["f1"] < 1  # some entities right and some wrong: the comparison means something
    for split, scores in (("dev", summary["median"]), ("test", summary["test_median"])):
        gold, predicted = read_predictions(output / "seed-1" / f"{split}_predictions.conll")
        prefix = "" if split == "dev" else "test_"
        assert scores[f"{prefix}f1"] == pytest.approx(seqeval_metrics.f1_score(gold, predicted), abs=1e-9)
        assert scores[f"{prefix}precision"] == pytest.approx(seqeval_metrics.precision_score(gold, predicted), abs=1e-9)
        assert sorted(k for k in scores if k.startswith(f"{prefix}f1_")) == [
            f"{prefix}f1_{kind}" for kind in ("DOSE", "DRUG", "SYMPTOM")]
        # the written gold is the file's own entities, whatever scheme the file used
        source = read_tagged_file(files[split])
        assert [get_entities(t) for t in gold] == [get_entities(s.tags) for s in source]
    config = json.loads((output / "seed-1" / "model" / "config.json").read_text())
    assert list(config["id2label"].values()) == ["O", "B-DOSE", "I-DOSE", "B-DRUG", "I-DRUG", "B-SYMPTOM",
                                                 "I-SYMPTOM"]


def test_bert_predict_prints_the_files_labels(vocab, tmp_path, capsys):
    files = {name: write_file(tmp_path / f"{name}.jsonl", tagged_sentences(n, seed), "iob2")
             for name, n, seed in (("train", 48, 1), ("dev", 16, 2))}
    output = tmp_path / "run"
    assert cli.main(["--task", "ner", "--model", "tiny", "--vocab", str(vocab), "--output", str(output),
                     "--train-file", str(files["train"]), "--validation-file", str(files["dev"]),
                     "--epochs", "20", "--lr", "2e-3", "--seeds", "1"]) == 0
    capsys.readouterr()
    assert predict_cli.main(["--model", str(output), "patients took insulin for sore throat daily"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]
    assert [(r[2], r[4]) for r in rows] == [("DRUG", "insulin"), ("SYMPTOM", "sore throat"), ("DOSE", "daily")]


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bioes"])
def test_each_scheme_is_detected_and_converted_to_the_same_entities(scheme, tmp_path):
    sentences = tagged_sentences(30, 4)
    for suffix in (".jsonl", ".conll"):
        path = write_file(tmp_path / f"f{suffix}", sentences, scheme)
        read = read_tagged_file(path)
        assert detect_scheme(path, read) == scheme
        for raw, (_, tags) in zip(read, sentences):
            check_scheme(path, raw, scheme)
            assert iob2_tags(raw.tags, scheme) == tags
            assert get_entities(raw.tags) == get_entities(tags)  # seqeval reads the file's scheme the same


def error_of(tmp_path: Path, train: str, dev: str, scheme: str = "auto", suffix: str = ".txt") -> str:
    (tmp_path / f"train{suffix}").write_text(train)
    (tmp_path / f"dev{suffix}").write_text(dev)
    with pytest.raises(InputError) as e:
        load_tagged_files(tmp_path / f"train{suffix}", tmp_path / f"dev{suffix}", None, scheme)
    return str(e.value)


def test_unknown_mixed_and_unseen_tags_are_one_line_errors(tmp_path):
    good = "Aspirin B-DRUG\nhelps O\n"
    t = tmp_path
    assert error_of(t, "Aspirin DRUG\n", good) == f"{t}/train.txt:1: tag 'DRUG' is neither O nor B-TYPE, I-TYPE, " \
                                                  "E-TYPE, S-TYPE"
    assert error_of(t, good, "x O\nAspirin U-DRUG\n") == (
        f"{t}/dev.txt:2: tag 'U-DRUG' is neither O nor B-TYPE, I-TYPE (the training file's tags read as iob2; "
        "--tag-scheme names another)")
    assert error_of(t, "a O\nb I-DRUG\n\nc O\nd B-DRUG\n", good) == (
        f"{t}/train.txt:5: tag 'B-DRUG' follows no entity of its type, but in IOB1 B- only separates two of one "
        "type (an entity begins with I-): IOB1 and IOB2 mixed (the training file's tags read as iob1; --tag-scheme "
        "names another)")
    assert error_of(t, "a S-DRUG\nb I-DRUG\n", good) == (
        f"{t}/train.txt:2: tag 'I-DRUG' continues no entity of type DRUG (BIOES begins one with B-) (the training "
        "file's tags read as bioes; --tag-scheme names another)")
    assert error_of(t, good, "x O\nIbuprofen B-DOSE\n") == (
        f"{t}/dev.txt:2: tag 'B-DOSE' was never seen in training: the training file {t}/train.txt has no DOSE "
        "entity (its types: DRUG)")
    assert error_of(t, good, "x O\ny I-DRUG\n", scheme="iob2") == (
        f"{t}/dev.txt:2: tag 'I-DRUG' begins an entity, but in IOB2 every entity begins with B- (--tag-scheme iob2)")
    assert error_of(t, good, "x S-DRUG\n", scheme="iob2") == (
        f"{t}/dev.txt:1: tag 'S-DRUG' is neither O nor B-TYPE, I-TYPE (--tag-scheme iob2)")
    assert error_of(t, "a O\nb O\n", good) == f"{t}/train.txt: every tag is O, so there are no entity types to learn"
    assert error_of(t, "lonely\n", good) == (
        f"{t}/train.txt:1: expected a word and its tag (the word first, the tag last), found 'lonely'")


def test_json_lines_errors_name_the_line(tmp_path):
    t = tmp_path
    row = json.dumps({"tokens": ["Aspirin"], "tags": ["B-DRUG"]}) + "\n"
    assert error_of(t, row + "{oops\n", row, suffix=".jsonl").startswith(f"{t}/train.jsonl:2: not a JSON object")
    assert error_of(t, row + json.dumps({"words": ["a"]}) + "\n", row, suffix=".jsonl") == (
        f"{t}/train.jsonl:2: expected an object with \"tokens\" and \"tags\" lists")
    assert error_of(t, row + json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n", row, suffix=".jsonl") == (
        f"{t}/train.jsonl:2: 2 tokens but 1 tags")
    assert error_of(t, json.dumps({"tokens": ["a"], "ner_tags": [3]}) + "\n", row, suffix=".jsonl") == (
        f"{t}/train.jsonl:1: \"tags\" must be a list of strings (tag names, not ids)")
    # a .json file holding one list of objects is read as well
    (t / "list.json").write_text(json.dumps([{"tokens": ["Aspirin", "helps"], "tags": ["B-DRUG", "O"]}]))
    assert [(s.words, s.tags) for s in read_tagged_file(t / "list.json")] == [(["Aspirin", "helps"], ["B-DRUG", "O"])]


def test_option_errors_name_the_flag(vocab, tmp_path, capsys):
    train = write_file(tmp_path / "train.jsonl", tagged_sentences(4, 1), "iob2")
    base = ["--model", "tiny", "--vocab", str(vocab), "--output", str(tmp_path / "out")]
    cases = [
        (["--task", "ner", "--train-file", str(train)],
         "error: --task ner trains on your own tagged files: give --train-file and --validation-file (JSON lines "
         "with tokens and tags, or CoNLL columns)"),
        (["--task", "conll2003", "--train-file", str(train)],
         "error: --task conll2003 reads its own files (--data-dir); for --train-file, a tagged file of your own, "
         "use --task ner"),
        (["--task", "conll2003", "--tag-scheme", "bioes"],
         "error: --tag-scheme is for your own tagged files (--task ner); conll2003's scheme is known"),
        (["--task", "cola", "--tag-scheme", "iob1"], "error: --tag-scheme is for --task ner (your own tagged files)"),
    ]
    for args, message in cases:
        assert cli.main(base + args) == 2
        assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "out").exists()
