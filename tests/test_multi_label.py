"""bert-finetune --multi-label on the user's own files: any number of labels per row (CSV/TSV cells split at
--label-separator, JSON lists in JSON lines); micro F1, macro F1 and exact match equal scikit-learn's on the
written predictions; config.json says multi_label_classification, so transformers loads the model and gives
bert-predict's probabilities; bert-predict prints every label over the threshold."""

import csv
import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune import cli, predict_cli
from finetune.sentence.metrics import exact_match, micro_f1, multi_label_macro_f1

sklearn_metrics = pytest.importorskip("sklearn.metrics", reason="pip install scikit-learn (in the dev extra)")
from sklearn.preprocessing import MultiLabelBinarizer  # noqa: E402

TOPICS = {"sports": ["match", "goal", "team"], "politics": ["vote", "election", "senate"],
          "tech": ["software", "chip", "robot"]}
FILLER = ["the", "a", "today", "news", "about", "big"]


def rows(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """Texts with the words of 0 to 3 topics; the topics are the row's labels."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        topics = sorted(rng.sample(list(TOPICS), rng.choice([0, 1, 1, 2, 2, 3])))
        words = [rng.choice(FILLER) for _ in range(3)] + [rng.choice(TOPICS[t]) for t in topics for _ in range(2)]
        rng.shuffle(words)
        out.append((" ".join(words), topics))
    return out


def write_csv(path: Path, data, separator: str) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "topics"])
        writer.writerows([text, separator.join(topics)] for text, topics in data)
    return path


def write_jsonl(path: Path, data) -> Path:
    path.write_text("".join(json.dumps({"text": text, "topics": topics}) + "\n" for text, topics in data))
    return path


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    words = sorted(set(FILLER) | {w for ws in TOPICS.values() for w in ws})
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    return path


def train_args(vocab: Path, train: Path, dev: Path, output: Path, *extra: str) -> list[str]:
    return ["--train-file", str(train), "--validation-file", str(dev), "--text-columns", "text", "--label-column",
            "topics", "--multi-label", "--model", "tiny", "--vocab", str(vocab), "--output", str(output),
            "--epochs", "8", "--lr", "3e-3", "--seeds", "1", *extra]


@pytest.fixture(scope="module")
def csv_run(vocab, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("multi-label")
    train, dev = write_csv(root / "train.csv", rows(120, 1), "|"), write_csv(root / "dev.csv", rows(40, 2), "|")
    assert cli.main(train_args(vocab, train, dev, root / "run", "--label-separator", "|")) == 0
    return root / "run"


def written_labels(path: Path, separator: str) -> tuple[list[list[str]], list[list[str]]]:
    """The gold and predicted labels of a dev_predictions.tsv, per row."""
    lines = [line.split("\t") for line in path.read_text().splitlines()]
    header = lines[0]
    cells = lambda row, name: [x for x in row[header.index(name)].split(separator) if x]  # noqa: E731
    return [cells(r, "label") for r in lines[1:]], [cells(r, "prediction") for r in lines[1:]]


def test_scores_equal_scikit_learns_on_the_written_predictions(csv_run):
    summary = json.loads((csv_run / "summary.json").read_text())
    gold, predicted = written_labels(csv_run / "seed-1" / "dev_predictions.tsv", "|")
    assert len(gold) == 40 and any(len(g) > 1 for g in gold) and any(not g for g in gold)
    binarizer = MultiLabelBinarizer().fit(gold + predicted)
    y, p = binarizer.transform(gold), binarizer.transform(predicted)
    scores = summary["median"]
    assert list(scores) == ["micro_f1", "macro_f1", "exact_match"]
    assert scores["micro_f1"] == pytest.approx(sklearn_metrics.f1_score(y, p, average="micro"), abs=1e-12)
    assert scores["macro_f1"] == pytest.approx(sklearn_metrics.f1_score(y, p, average="macro"), abs=1e-12)
    assert scores["exact_match"] == pytest.approx(sklearn_metrics.accuracy_score(y, p), abs=1e-12)
    assert 0 < scores["exact_match"] < 1  # some rows right and some wrong: the comparison means something
    config = json.loads((csv_run / "seed-1" / "model" / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert list(config["id2label"].values()) == ["politics", "sports", "tech"]
    assert summary["multi_label"] == {"threshold": 0.5, "label_separator": "|"}


def test_metrics_equal_scikit_learns_on_random_rows():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y, p = rng.integers(0, 2, (30, 5)), rng.integers(0, 2, (30, 5))
        y[:, 4] = p[:, 4] = 0  # a label neither true nor predicted: left out of the macro mean by both
        keep = [0, 1, 2, 3]
        assert micro_f1(p, y) == pytest.approx(sklearn_metrics.f1_score(y, p, average="micro"), abs=1e-12)
        assert multi_label_macro_f1(p, y) == pytest.approx(
            sklearn_metrics.f1_score(y[:, keep], p[:, keep], average="macro"), abs=1e-12)
        assert exact_match(p, y) == pytest.approx(sklearn_metrics.accuracy_score(y, p), abs=1e-12)


def test_transformers_gives_bert_predicts_probabilities(csv_run, tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    texts = ["the big election and a goal", "robot chip news", "about the weather today"]
    (tmp_path / "texts.tsv").write_text("".join(t + "\n" for t in texts))
    output = tmp_path / "out.jsonl"
    assert predict_cli.main(["--model", str(csv_run), "--input", str(tmp_path / "texts.tsv"), "--output",
                             str(output), "--precision", "fp32"]) == 0
    ours = [json.loads(line) for line in output.read_text().splitlines()]
    model_dir = csv_run / "seed-1" / "model"
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    assert model.config.problem_type == "multi_label_classification"
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        theirs = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.sigmoid()
    for row, probabilities in zip(ours, theirs):
        for i, p in enumerate(probabilities.tolist()):
            assert row["probabilities"][model.config.id2label[i]] == pytest.approx(p, abs=1e-5)
        assert row["labels"] == sorted((model.config.id2label[i] for i, p in enumerate(probabilities) if p > 0.5),
                                       key=lambda name: -row["probabilities"][name])
    # pipeline() reads the problem type too: a sigmoid per label, as bert-predict's
    pipe = transformers.pipeline("text-classification", model=str(model_dir), top_k=None)
    for row, answer in zip(ours, pipe(texts)):
        assert {a["label"]: a["score"] for a in answer} == pytest.approx(row["probabilities"], abs=1e-5)
    capsys.readouterr()
    assert predict_cli.main(["--model", str(csv_run), texts[0], "--precision", "fp32"]) == 0  # as above: on a
    first = capsys.readouterr().out.splitlines()[0]  # CPU with native bf16, auto would pick bf16 here
    expected = ", ".join(f"{name} ({ours[0]['probabilities'][name]:.4f})" for name in ours[0]["labels"])
    assert first == (expected or "no label over the threshold")


def test_json_lines_with_label_lists_and_a_threshold(vocab, tmp_path):
    train, dev = write_jsonl(tmp_path / "train.jsonl", rows(120, 1)), write_jsonl(tmp_path / "dev.jsonl", rows(40, 2))
    assert cli.main(train_args(vocab, train, dev, tmp_path / "run", "--threshold", "0.3")) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["multi_label"]["threshold"] == 0.3
    gold, predicted = written_labels(tmp_path / "run" / "seed-1" / "dev_predictions.tsv", ",")
    assert gold == [topics for _, topics in rows(40, 2)]
    probabilities = [line.split("\t")[-1] for line in (tmp_path / "run" / "seed-1" / "dev_predictions.tsv")
                     .read_text().splitlines()[1:]]
    assert all(float(p) > 0.3 for cell in probabilities for p in cell.split(",") if p)


@pytest.mark.parametrize("extra,message", [
    (["--threshold", "0.7"], "error: --threshold is for --multi-label (several labels per example)"),
    (["--multi-label", "--threshold", "1.5"], "error: --threshold must be between 0 and 1, got 1.5"),
    (["--multi-label", "--task-type", "regression"],
     "error: --multi-label is classification, with no positive class: leave out --task-type regression"),
    (["--multi-label", "--label-separator", ";"],
     "error: {train}: the training labels name 1 label (politics|sports|tech); --multi-label needs at least two "
     "(is --label-separator ';' the one the file uses?)"),
])
def test_bad_multi_label_options_are_one_line(extra, message, vocab, tmp_path, capsys):
    train = tmp_path / "train.csv"
    train.write_text("text,topics\nthe vote,politics|sports|tech\na goal,politics|sports|tech\n")
    args = ["--train-file", str(train), "--validation-file", str(train), "--text-columns", "text", "--label-column",
            "topics", "--model", "tiny", "--vocab", str(vocab), "--output", str(tmp_path / "out"), *extra]
    assert cli.main(args) == 2
    assert capsys.readouterr().err.strip() == message.format(train=train)
    assert not (tmp_path / "out").exists()


def test_multi_label_is_for_your_own_files(vocab, tmp_path, capsys):
    assert cli.main(["--task", "cola", "--multi-label", "--model", "tiny", "--vocab", str(vocab), "--output",
                     str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == ("error: --multi-label describes your own files; --task cola has "
                                               "columns of its own (leave --task out to fine-tune on your files)")


def test_bert_predicts_tsv_joins_labels_with_the_runs_separator(csv_run, tmp_path):
    texts = ["the big election and a goal", "robot chip news vote match"]
    (tmp_path / "texts.tsv").write_text("".join(t + "\n" for t in texts))
    for suffix in ("tsv", "jsonl"):
        assert predict_cli.main(["--model", str(csv_run), "--input", str(tmp_path / "texts.tsv"), "--output",
                                 str(tmp_path / f"out.{suffix}"), "--precision", "fp32"]) == 0
    as_json = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0] == "text\tlabels\tprobabilities"
    assert any(len(row["labels"]) > 1 for row in as_json)  # a row whose labels are joined
    for line, row in zip(lines[1:], as_json):
        assert line.split("\t")[1:] == ["|".join(row["labels"]),
                                        "|".join(f"{row['probabilities'][n]:.4f}" for n in row["labels"])]
