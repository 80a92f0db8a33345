"""bert-finetune --eval-only: a model fine-tuned earlier, scored again on the validation (and labelled test)
data, gives exactly the scores its run reported and the same prediction files, for every family, with or
without the training file; the model's folder is left as it was; bad uses are one-line errors."""

import json
import shutil
from pathlib import Path

import pytest

from finetune import cli
from conftest import SQUAD_FIXTURES
from test_finetune_cli import FIXTURES as GLUE_FIXTURES, snapshot, write_vocab
from test_ner_data import FIXTURES as NER_FIXTURES, write_ner_vocab


def summary(output: Path) -> dict:
    return json.loads((output / "summary.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory, squad_vocab) -> dict[str, tuple[Path, list[str]]]:
    """One short run per family: its output folder and the data flags it was given."""
    root = tmp_path_factory.mktemp("eval-only")
    (root / "glue" / "CoLA").mkdir(parents=True)
    for source, name in (("train.tsv", "train.tsv"), ("train.tsv", "dev.tsv"), ("test.tsv", "test.tsv")):
        shutil.copy(GLUE_FIXTURES / "CoLA" / source, root / "glue" / "CoLA" / name)  # dev = train: learnable
    (root / "ner").mkdir()
    for source, name in (("train.txt", "train.txt"), ("train.txt", "dev.txt"), ("test.txt", "test.txt")):
        shutil.copy(NER_FIXTURES / "conll2003" / source, root / "ner" / name)
    (root / "own-data").mkdir()
    train_rows = (GLUE_FIXTURES / "SST-2" / "train.tsv").read_text().splitlines()
    (root / "own-data" / "train.tsv").write_text("\n".join(train_rows) + "\n")
    (root / "own-data" / "dev.tsv").write_text("\n".join(train_rows[:1] + train_rows[1:12]) + "\n")
    data = {
        "cola": ["--task", "cola", "--data-dir", str(root / "glue"), "--vocab", str(write_vocab(root / "v.txt"))],
        "own": ["--train-file", str(root / "own-data" / "train.tsv"), "--validation-file", str(root / "own-data" / "dev.tsv"),
                "--text-columns", "sentence", "--label-column", "label", "--vocab", str(root / "v.txt")],
        "conll2003": ["--task", "conll2003", "--data-dir", str(root / "ner"),
                      "--vocab", str(write_ner_vocab(root / "ner.txt"))],
        "squad": ["--task", "squad", "--train-file", str(SQUAD_FIXTURES / "train.json"), "--validation-file",
                  str(SQUAD_FIXTURES / "dev.json"), "--vocab", str(squad_vocab), "--doc-stride", "16",
                  "--max-query-length", "16"],
    }
    training = {"cola": ["--epochs", "12", "--lr", "2e-3"], "own": ["--epochs", "12", "--lr", "2e-3"],
                "conll2003": ["--epochs", "8", "--lr", "3e-3"],
                "squad": ["--epochs", "2", "--batch-size", "8", "--max-seq-length", "64"]}
    for name, flags in data.items():
        assert cli.main(["--model", "tiny", "--output", str(root / name), "--seeds", "3", *flags,
                         *training[name]]) == 0
    return {name: (root / name, flags) for name, flags in data.items()}


PREDICTION_FILES = {"cola": ["dev_predictions.tsv"], "own": ["dev_predictions.tsv"],
                    "conll2003": ["dev_predictions.conll", "test_predictions.conll"],
                    "squad": ["predictions.json", "nbest_predictions.json"]}


@pytest.mark.parametrize("family", list(PREDICTION_FILES))
def test_eval_only_gives_the_runs_own_scores_and_files(family, runs, tmp_path):
    run, flags = runs[family]
    before = snapshot(run)
    output = tmp_path / "scored"
    assert cli.main(["--eval-only", "--model", str(run), "--output", str(output), *flags]) == 0
    trained, scored = summary(run), summary(output)
    assert scored["median"] == trained["median"]  # exactly: the same model, cut and batched the same way
    assert 0 < trained["median"][trained["main_metric"]]  # a model that learned something: a real comparison
    assert scored.get("test_median") == trained.get("test_median")
    assert scored["eval_only"] is True and Path(scored["best_model"]) == (run / trained["best_model"]).resolve()
    for name in PREDICTION_FILES[family]:
        assert (output / name).read_text() == (run / "seed-3" / name).read_text(), name
    row = json.loads((output / "metrics.jsonl").read_text())
    assert {k: row[k] for k in trained["median"]} == trained["median"]
    assert snapshot(run) == before  # the model and its run are only read
    if family == "squad":  # --max-seq-length came from the run (64), not the family's default (384)
        assert scored["recipe"]["max_seq_length"] == 64


def test_eval_only_of_a_model_folder_without_the_training_file(runs, tmp_path):
    """Your own files: the classes come from the model's config.json when --train-file is left out."""
    run, flags = runs["own"]
    without_train = flags[2:]  # drop --train-file FILE
    assert "--train-file" not in without_train
    output = tmp_path / "scored"
    assert cli.main(["--eval-only", "--model", str(run / "seed-3" / "model"), "--output", str(output),
                     *without_train]) == 0
    assert summary(output)["median"] == summary(run)["median"]
    assert (output / "dev_predictions.tsv").read_text() == (run / "seed-3" / "dev_predictions.tsv").read_text()


def test_eval_only_bad_uses_are_one_line(runs, tmp_path, capsys):
    run, flags = runs["cola"]
    ner_run, _ = runs["conll2003"]
    model = run / "seed-3" / "model"
    cases = [
        (["--model", str(run), "--output", str(run)],
         f"error: --output {run} and the model's folder {model} overlap: --eval-only writes elsewhere, leaving "
         "the model's folder as it is"),
        (["--model", str(run), "--output", str(model / "scores")],
         f"error: --output {model / 'scores'} and the model's folder {model} overlap: --eval-only writes "
         "elsewhere, leaving the model's folder as it is"),
        (["--model", str(ner_run), "--output", str(tmp_path / "x")],
         f"error: --eval-only --model {ner_run}: {ner_run / 'seed-3' / 'model'} holds a TokenClassification model; "
         "cola needs a SequenceClassification model"),
        (["--model", str(run), "--output", str(tmp_path / "x"), "--resume"],
         "error: --eval-only trains nothing, so there is no run to --resume"),
    ]
    before = snapshot(run)
    for args, message in cases:
        assert cli.main(["--eval-only", *args, *flags]) == 2
        assert capsys.readouterr().err.strip() == message
    assert snapshot(run) == before and not (tmp_path / "x").exists()


def test_eval_only_reads_a_tagger_by_its_own_label_order(runs, tmp_path, capsys):
    """A tagger fine-tuned elsewhere may number the same tags otherwise (HF NER checkpoints do): the same
    model with its head's rows and id2label permuted together scores exactly as before; a tagger of other
    entity types is refused."""
    from safetensors.torch import load_file, save_file

    run, flags = runs["conll2003"]
    permuted = tmp_path / "permuted"
    shutil.copytree(run / "seed-3" / "model", permuted)
    config = json.loads((permuted / "config.json").read_text())
    labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))]
    order = [0, *range(len(labels) - 1, 0, -1)]  # "O" first, the other rows reversed
    weights = load_file(permuted / "model.safetensors")
    for name in ("classifier.weight", "classifier.bias"):
        weights[name] = weights[name][order].contiguous()
    save_file(weights, permuted / "model.safetensors", metadata={"format": "pt"})
    config["id2label"] = {str(i): labels[j] for i, j in enumerate(order)}
    config["label2id"] = {label: i for i, label in config["id2label"].items()}
    (permuted / "config.json").write_text(json.dumps(config))
    output = tmp_path / "scored"
    assert cli.main(["--eval-only", "--model", str(permuted), "--output", str(output), *flags]) == 0
    assert summary(output)["median"] == summary(run)["median"]
    assert (output / "dev_predictions.conll").read_text() == (run / "seed-3" / "dev_predictions.conll").read_text()

    config["id2label"] = {**config["id2label"], "1": "B-DATE"}
    config["label2id"] = {label: int(i) for i, label in config["id2label"].items()}
    (permuted / "config.json").write_text(json.dumps(config))
    assert cli.main(["--eval-only", "--model", str(permuted), "--output", str(tmp_path / "other"), *flags]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: the model's labels (O, B-DATE, ")
