"""bert-finetune --task conll2003 and bert-predict with its model, end to end on fixture files with a tiny
randomly initialised model.

One real fine-tune (a `tiny` preset memorising the 16 fixture training sentences, a few seconds) is shared
by most tests: it must reach F1 1.0, its prediction files must give the reported scores to an independent
scorer, its model must load in transformers, and bert-predict must find the entities it learned.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from finetune import cli, predict_cli
from finetune.token.conll import CONLL2003, read_conll_file
from finetune.token.entities import entity_scores
from test_finetune_cli import snapshot
from test_ner_data import FIXTURES, write_ner_vocab

CONLL = FIXTURES / "conll2003"



@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """vocab.txt, and overfit/: the 16 fixture training sentences as both train and dev, the fixture test."""
    root = tmp_path_factory.mktemp("ner")
    write_ner_vocab(root / "vocab.txt")
    (root / "overfit").mkdir()
    for source, name in (("train.txt", "train.txt"), ("train.txt", "dev.txt"), ("test.txt", "test.txt")):
        shutil.copy(CONLL / source, root / "overfit" / name)
    return root


def finetune_args(workspace: Path, output: Path, *extra: str) -> list[str]:
    return ["--task", "conll2003", "--model", "tiny", "--vocab", str(workspace / "vocab.txt"),
            "--output", str(output), "--data-dir", str(workspace / "overfit"), *extra]


@pytest.fixture(scope="module")
def overfit_run(workspace) -> Path:
    output = workspace / "ner-run"
    assert cli.main(finetune_args(workspace, output, "--epochs", "25", "--lr", "2e-3", "--batch-size", "16",
                                  "--seeds", "1")) == 0
    return output


def read_predictions(path: Path) -> list[list[list[str]]]:
    """A `word gold predicted` file as sentences of [word, gold, predicted] rows."""
    sentences = [[line.split(" ") for line in block.splitlines()] for block in path.read_text().split("\n\n")]
    return [s for s in sentences if s]


def independent_scores(path: Path) -> dict[str, float]:
    """seqeval's entity scores of a prediction file (ours if seqeval is not installed)."""
    sentences = read_predictions(path)
    gold = [[row[1] for row in s] for s in sentences]
    predicted = [[row[2] for row in s] for s in sentences]
    try:
        from seqeval.metrics import f1_score, precision_score, recall_score
    except ImportError:
        return {k: v for k, v in entity_scores(gold, predicted, CONLL2003.entity_types).items()
                if k in ("f1", "precision", "recall")}
    return {"f1": f1_score(gold, predicted), "precision": precision_score(gold, predicted),
            "recall": recall_score(gold, predicted)}


# ------------------------------------------------------------------ training

def test_tiny_model_learns_16_sentences(overfit_run):
    summary = json.loads((overfit_run / "summary.json").read_text())
    assert summary["task"] == "conll2003" and summary["main_metric"] == "f1"
    assert summary["median"] == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "accuracy": 1.0,
                                 "f1_PER": 1.0, "f1_ORG": 1.0, "f1_LOC": 1.0, "f1_MISC": 1.0}
    row = summary["seeds"][0]
    assert (row["seed"], row["f1"], row["precision"], row["recall"]) == (1, 1.0, 1.0, 1.0)
    assert summary["best_model"] == "seed-1/model"
    test = {key.removeprefix("test_"): value for key, value in row.items() if key.startswith("test_")}
    assert set(test) == set(summary["median"]) and summary["test_median"] == {f"test_{k}": v for k, v in test.items()}
    epochs = [r for r in map(json.loads, (overfit_run / "seed-1" / "metrics.jsonl").open()) if "train_loss" in r]
    assert [r["epoch"] for r in epochs] == list(range(1, 26))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 5
    assert max(r["f1"] for r in epochs) == 1.0 == epochs[row["best_epoch"] - 1]["f1"]


def test_prediction_files_are_conlleval_layout_and_give_the_reported_scores(overfit_run):
    summary = json.loads((overfit_run / "summary.json").read_text())
    for split, source, reported in (("dev", "train.txt", summary["seeds"][0]),
                                    ("test", "test.txt", {key.removeprefix("test_"): value
                                                          for key, value in summary["seeds"][0].items()})):
        path = overfit_run / "seed-1" / f"{split}_predictions.conll"
        text = path.read_text()
        assert "-DOCSTART-" not in text and "\t" not in text and "\n\n\n" not in text and text.endswith(" O\n\n")
        sentences = read_predictions(path)
        expected = read_conll_file(CONLL / source, CONLL2003)
        assert [[row[0] for row in s] for s in sentences] == [s.words for s in expected]
        assert [[row[1] for row in s] for s in sentences] == [s.tags for s in expected]  # gold in IOB2
        assert all(len(row) == 3 and row[2] in CONLL2003.labels for s in sentences for row in s)
        scores = independent_scores(path)
        assert scores == pytest.approx({k: reported[k] for k in scores}, abs=1e-9)
    dev = read_predictions(overfit_run / "seed-1" / "dev_predictions.conll")
    assert all(row[1] == row[2] for s in dev for row in s)  # every dev word right


def test_saved_model_loads_in_transformers_with_its_labels(overfit_run):
    transformers = pytest.importorskip("transformers")
    from finetune.checkpoint import load_head_model

    model_dir = overfit_run / "seed-1" / "model"
    theirs = transformers.BertForTokenClassification.from_pretrained(model_dir).eval()
    assert theirs.config.id2label == dict(enumerate(CONLL2003.labels))
    assert theirs.config.label2id == {label: i for i, label in enumerate(CONLL2003.labels)}
    ours, tokenizer = load_head_model(model_dir, "TokenClassification")
    batch = tokenizer(["Angela Merkel met Jacques Chirac in Paris .", "Schwarzenegger visited Vienna"])
    with torch.no_grad():
        diff = (ours(**batch).logits - theirs(**batch).logits).abs().max().item()
    assert diff < 1e-4


def test_words_past_max_seq_length_are_predicted_o_not_dropped(workspace, tmp_path):
    """With 6 pieces ([CLS] + 4 + [SEP]) the later words of every sentence are cut: they are still in the
    prediction file, as O, and the summary's score is the file's score."""
    assert cli.main(finetune_args(workspace, tmp_path, "--epochs", "2", "--max-seq-length", "6",
                                  "--label-all-tokens", "--seeds", "3")) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert json.loads((tmp_path / "run.json").read_text())["label_all_tokens"] is True
    assert summary["recipe"]["max_seq_length"] == 6
    sentences = read_predictions(tmp_path / "seed-3" / "dev_predictions.conll")
    assert sum(len(s) for s in sentences) == sum(len(s.words) for s in read_conll_file(CONLL / "train.txt", CONLL2003))
    cut = [row for s in sentences for row in s[5:]]  # the Schwarzenegger sentence has fewer words than pieces
    assert len(cut) > 20 and all(row[2] == "O" for row in cut)
    assert independent_scores(tmp_path / "seed-3" / "dev_predictions.conll") == pytest.approx(
        {k: summary["seeds"][0][k] for k in ("f1", "precision", "recall")}, abs=1e-9)


# ------------------------------------------------------------------ bad input

def write_bad_data(root: Path, name: str, content: str) -> Path:
    """The fixture files with one of them replaced by `content`."""
    shutil.copytree(CONLL, root / "bad")
    (root / "bad" / name).write_text(content)
    return root / "bad"


BAD_FILES = {
    "wrong number of fields": ("dev.txt", (CONLL / "dev.txt").read_text().replace("Kohl NNP I-NP I-PER", "Kohl I-PER"),
                               r"error: .*bad/dev.txt:4: expected 4 space-separated fields \(word POS chunk NER\), found 2"),
    "tag outside the label set": ("train.txt", (CONLL / "train.txt").read_text().replace("Vienna NNP B-NP I-LOC",
                                                                                        "Vienna NNP B-NP I-CITY"),
                                  r"error: .*bad/train.txt:5: tag 'I-CITY' is not one of conll2003's tags \(O, .*\)"),
    "empty file": ("test.txt", "", r"error: .*bad/test.txt: no sentences in the file"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_is_one_line_and_overwrites_nothing(overfit_run, workspace, tmp_path, capsys, case):
    name, content, message = BAD_FILES[case]
    output = tmp_path / "out"
    shutil.copytree(overfit_run, output)  # an earlier run, which a failed one must leave alone
    before = snapshot(output)
    args = finetune_args(workspace, output, "--overwrite", "--seeds", "1")
    args[args.index("--data-dir") + 1] = str(write_bad_data(tmp_path, name, content))
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(message + "\n", err), err
    assert snapshot(output) == before


def test_missing_data_dir(workspace, tmp_path, capsys):
    args = finetune_args(workspace, tmp_path / "out")
    args[args.index("--data-dir") + 1] = str(tmp_path)
    assert cli.main(args) == 2
    assert re.fullmatch(r"error: .*: no train.txt in it or in .*conll2003 .*\n", capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ bert-predict

def predicted_rows(output: str) -> list[list[str]]:
    lines = output.splitlines()
    return [line.split("\t") for line in lines[1:]]


def test_predict_prints_entities_as_spans_of_the_text(overfit_run, capsys):
    text = "Angela Merkel met Jacques Chirac in Paris."
    assert predict_cli.main(["--model", str(overfit_run), text]) == 0
    output = capsys.readouterr().out
    assert output.splitlines()[0] == "start\tend\ttype\tscore\tentity"
    rows = predicted_rows(output)
    assert [(int(start), int(end), kind, entity) for start, end, kind, _, entity in rows] == [
        (0, 13, "PER", "Angela Merkel"), (18, 32, "PER", "Jacques Chirac"), (36, 41, "LOC", "Paris")]
    assert all(text[int(row[0]):int(row[1])] == row[4] for row in rows)
    assert all(0.5 < float(row[3]) <= 1.0 for row in rows)


def test_predict_file_finds_the_dev_entities(overfit_run, tmp_path):
    texts = ["Schwarzenegger visited Vienna on Monday.", "Prices fell sharply on Wall Street.", "He said nothing."]
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    assert predict_cli.main(["--model", str(overfit_run / "seed-1" / "model"), "--input", str(tmp_path / "in.txt"),
                         "--output", str(tmp_path / "out.tsv")]) == 0
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0] == "index\tstart\tend\ttype\tscore\tentity"
    assert [(row[0], row[1], row[2], row[3], row[5]) for row in (line.split("\t") for line in lines[1:])] == [
        ("0", "0", "14", "PER", "Schwarzenegger"), ("0", "23", "29", "LOC", "Vienna"),
        ("1", "23", "34", "LOC", "Wall Street")]  # the third text has no entity, so no row

    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in texts))
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "in.jsonl"),
                         "--output", str(tmp_path / "out.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    assert [r["text"] for r in records] == texts
    assert [[(e["start"], e["end"], e["type"], e["text"]) for e in r["entities"]] for r in records] == [
        [(0, 14, "PER", "Schwarzenegger"), (23, 29, "LOC", "Vienna")], [(23, 34, "LOC", "Wall Street")], []]


def test_predict_refuses_a_pair_for_a_token_classifier(overfit_run, capsys):
    assert predict_cli.main(["--model", str(overfit_run), "Angela Merkel", "Paris"]) == 2
    assert re.fullmatch(r"error: a token-classification model tags single texts, not sentence pairs .*\n",
                        capsys.readouterr().err)


def test_a_distilbert_checkpoint_learns_the_16_sentences(workspace, tmp_path):
    """A tiny random DistilBERT written by transformers (no real one installs offline): fine-tuned as
    DistilBertForTokenClassification, without token_type_ids, and loadable by transformers."""
    transformers = pytest.importorskip("transformers")
    checkpoint = tmp_path / "distilbert"
    vocab_size = len((workspace / "vocab.txt").read_text().splitlines())
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
        vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128,
    )).save_pretrained(checkpoint)
    shutil.copy(workspace / "vocab.txt", checkpoint / "vocab.txt")
    args = finetune_args(workspace, tmp_path / "run", "--epochs", "40", "--lr", "5e-3", "--batch-size", "16",
                         "--seeds", "1")
    args[args.index("--model") + 1] = str(checkpoint)
    del args[args.index("--vocab"):args.index("--vocab") + 2]
    assert cli.main(args) == 0
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["median"]["f1"] == 1.0
    theirs = transformers.DistilBertForTokenClassification.from_pretrained(tmp_path / "run" / "seed-1" / "model")
    assert theirs.config.id2label == dict(enumerate(CONLL2003.labels))
