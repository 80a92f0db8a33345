"""bert-finetune and bert-predict end to end, on fixture data with a tiny randomly initialised model.

One real fine-tune (a `tiny` preset memorising 32 CoLA sentences, ~3 s) is shared by most tests: it
must reach 100%, its saved best model must reproduce the reported score (here and in transformers),
and bert-predict must give the same answers.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from finetune import cli, predict_cli
from finetune.sentence import predict as sentence_predict
from finetune.checkpoint import load_head_model
from finetune.data import encode_split
from finetune.sentence.evaluate import predict_logits
from finetune.sentence.metrics import matthews_corrcoef
from finetune.sentence.tasks import get_task, load_task_data
from training import Precision

FIXTURES = Path(__file__).parent / "fixtures" / "glue"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def write_vocab(path: Path, extra: list[str] = ()) -> Path:
    """A whole-word vocabulary of every fixture word (so no [UNK]), lowercased like BERT uncased."""
    words = set()
    for tsv in FIXTURES.rglob("*.tsv"):
        words |= set(re.findall(r"\w+|[^\w\s]", tsv.read_text(encoding="utf-8-sig").lower()))
    path.write_text("\n".join(SPECIAL + sorted(words) + list(extra)) + "\n")
    return path



@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """vocab.txt, and overfit/CoLA: the 32 fixture training sentences as both train and dev."""
    root = tmp_path_factory.mktemp("finetune")
    write_vocab(root / "vocab.txt")
    cola = root / "overfit" / "CoLA"
    cola.mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        shutil.copy(FIXTURES / "CoLA" / name, cola / name)
    shutil.copy(FIXTURES / "CoLA" / "train.tsv", cola / "dev.tsv")
    return root


def finetune_args(workspace: Path, output: Path, *extra: str) -> list[str]:
    return ["--task", "cola", "--model", "tiny", "--vocab", str(workspace / "vocab.txt"), "--output", str(output),
            "--data-dir", str(workspace / "overfit"), *extra]


@pytest.fixture(scope="module")
def overfit_run(workspace) -> Path:
    output = workspace / "cola-run"
    args = finetune_args(workspace, output, "--epochs", "40", "--lr", "2e-3", "--batch-size", "32", "--seeds", "1")
    assert cli.main(args) == 0
    return output


# ------------------------------------------------------------------ training

def test_tiny_model_memorises_32_examples(overfit_run):
    summary = json.loads((overfit_run / "summary.json").read_text())
    assert summary["task"] == "cola" and summary["median"] == {"mcc": 1.0}
    assert summary["seeds"][0]["seed"] == 1 and summary["seeds"][0]["mcc"] == 1.0
    assert summary["best_model"] == "seed-1/model" and summary["train_seconds"] > 0
    rows = [line.split("\t") for line in (overfit_run / "seed-1" / "dev_predictions.tsv").read_text().splitlines()]
    assert rows[0] == ["index", "sentence", "label", "prediction", "probability"]
    assert len(rows) == 33 and all(row[2] == row[3] for row in rows[1:])  # 100% correct
    epochs = [r for r in map(json.loads, (overfit_run / "seed-1" / "metrics.jsonl").open()) if "train_loss" in r]
    assert [r["epoch"] for r in epochs] == list(range(1, 41))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 5  # the loss fell


def test_outputs_on_disk(overfit_run):
    seed_dir = overfit_run / "seed-1"
    assert {"config.json", "model.safetensors", "vocab.txt"} <= {p.name for p in (seed_dir / "model").iterdir()}
    submission = (seed_dir / "submission" / "CoLA.tsv").read_text().splitlines()
    assert submission[0] == "index\tprediction"
    assert [line.split("\t")[0] for line in submission[1:]] == ["0", "1", "2"]
    assert all(line.split("\t")[1] in ("0", "1") for line in submission[1:])
    assert (seed_dir / "metrics.png").stat().st_size > 0


def test_best_model_reload_reproduces_reported_score(overfit_run, workspace):
    summary = json.loads((overfit_run / "summary.json").read_text())
    model, tokenizer = load_head_model(overfit_run / summary["best_model"], "SequenceClassification")
    task = get_task("cola")
    dev = encode_split(tokenizer, task, load_task_data(task, workspace / "overfit").dev["dev"], 128)
    logits = predict_logits(model, dev, 16, tokenizer.pad_token_id, precision=Precision(summary["recipe"]["precision"], "cpu", "as trained"))
    score = matthews_corrcoef(logits.argmax(-1).tolist(), dev.labels.tolist())
    assert score == summary["seeds"][0]["mcc"]


def test_saved_model_loads_in_transformers(overfit_run):
    transformers = pytest.importorskip("transformers")
    model_dir = overfit_run / "seed-1" / "model"
    ours, tokenizer = load_head_model(model_dir, "SequenceClassification")
    theirs = transformers.BertForSequenceClassification.from_pretrained(model_dir).eval()
    assert theirs.config.id2label == {0: "unacceptable", 1: "acceptable"}
    batch = tokenizer(["The sailors rode the breeze clear of the rocks.", "Him and me went home."])
    hf_batch = transformers.AutoTokenizer.from_pretrained(model_dir)(
        ["The sailors rode the breeze clear of the rocks.", "Him and me went home."], padding=True, return_tensors="pt")
    assert torch.equal(batch["input_ids"], hf_batch["input_ids"])
    with torch.no_grad():
        diff = (ours(**batch).logits - theirs(**batch).logits).abs().max().item()
    assert diff < 1e-4


@pytest.mark.parametrize("task, metrics, files", [
    ("stsb", {"pearson", "spearman"}, ["dev_predictions.tsv", "submission/STS-B.tsv"]),
    ("mnli", {"accuracy", "accuracy_mismatched"},
     ["dev_matched_predictions.tsv", "dev_mismatched_predictions.tsv", "submission/MNLI-m.tsv",
      "submission/MNLI-mm.tsv"]),
])
def test_regression_and_two_dev_splits(workspace, tmp_path, task, metrics, files):
    args = ["--task", task, "--model", "tiny", "--vocab", str(workspace / "vocab.txt"), "--output", str(tmp_path),
            "--data-dir", str(FIXTURES), "--epochs", "1", "--overwrite"]
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["median"]) == metrics
    for name in files:
        assert (tmp_path / "seed-42" / name).is_file(), name
    if task == "stsb":
        scores = [float(line.split("\t")[1]) for line in (tmp_path / "seed-42/submission/STS-B.tsv").open() if line[0] != "i"]
        assert scores and all(0.0 <= s <= 5.0 for s in scores)


def test_pretraining_checkpoint_loses_its_heads_and_gains_a_classifier(workspace, tmp_path):
    from bert import BertConfig, BertForPreTraining
    from finetune.checkpoint import build_classifier, load_tokenizer, resolve_model

    tokenizer = load_tokenizer(workspace / "vocab.txt")
    pretrained = BertForPreTraining(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size))
    pretrained.save_pretrained(tmp_path / "pretrained")
    tokenizer.save(tmp_path / "pretrained")
    source, _ = resolve_model(str(tmp_path / "pretrained"), vocab=None)
    classifier = build_classifier(source, get_task("mnli"))
    assert torch.equal(classifier.bert.encoder.layers[1].feed_forward.up.weight,
                       pretrained.bert.encoder.layers[1].feed_forward.up.weight)
    assert not any(name.startswith(("mlm_head", "nsp_head")) for name in classifier.state_dict())
    assert classifier.classifier.weight.shape == (3, 128)
    assert classifier.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}


# ------------------------------------------------------------------ bad input

@pytest.fixture
def previous_run(tmp_path) -> Path:
    """An output directory holding an earlier run's files, which a failed run must leave alone."""
    output = tmp_path / "out"
    (output / "seed-42").mkdir(parents=True)
    (output / "summary.json").write_text('{"task": "cola", "median": {"mcc": 0.5}}\n')
    (output / "seed-42" / "metrics.jsonl").write_text("{}\n")
    return output


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def bad_label_data(root: Path) -> Path:
    shutil.copytree(FIXTURES / "CoLA", root / "bad" / "CoLA")
    dev = root / "bad" / "CoLA" / "dev.tsv"
    dev.write_text(dev.read_text().replace("clc95\t0\t*\tHim", "clc95\t7\t*\tHim"))
    return root / "bad"


def set_option(args: list[str], name: str, value: str) -> None:
    args[args.index(name) + 1] = value


def drop_option(args: list[str], name: str) -> None:
    del args[args.index(name):args.index(name) + 2]


def mismatched_vocab(args, workspace, tmp):
    """Our fine-tuned tiny model with a vocabulary two words longer than the one it was trained with."""
    set_option(args, "--model", str(workspace / "cola-run" / "seed-1" / "model"))
    set_option(args, "--vocab", str(write_vocab(tmp / "big.txt", ["extra1", "extra2"])))


BAD_INPUTS = {
    "unknown task": (lambda args, ws, tmp: set_option(args, "--task", "colaa"),
                     r"error: unknown task 'colaa'; known tasks: cola, sst2, .*"),
    "missing files": (lambda args, ws, tmp: set_option(args, "--data-dir", str(tmp)),
                      r"error: .*CoLA: no such directory .*"),
    "label outside the task's labels": (lambda args, ws, tmp: set_option(args, "--data-dir", str(bad_label_data(tmp))),
                                        r"error: .*CoLA/dev.tsv:4: label '7' is not one of cola's labels \(0, 1\)"),
    "preset without vocabulary": (lambda args, ws, tmp: drop_option(args, "--vocab"),
                                  r"error: --model tiny is a preset with random weights and no vocabulary: .*"),
    "no such model": (lambda args, ws, tmp: set_option(args, "--model", str(tmp / "nowhere")),
                      r"error: --model .*nowhere: not a checkpoint directory \(no such directory, and not a Hugging Face "
                      r"Hub model id\)"),
    "vocabulary mismatch": (mismatched_vocab,
                            r"error: .*model: the checkpoint has \d+ word embeddings but the vocabulary has \d+ .*"),
    "bad seeds": (lambda args, ws, tmp: args.extend(["--seeds", "1,x"]),
                  r"error: --seeds '1,x': expected comma-separated integers, e.g. 1,2,3"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_overwrites_nothing(overfit_run, workspace, tmp_path, previous_run, capsys, case):
    change, message = BAD_INPUTS[case]
    args = finetune_args(workspace, previous_run, "--overwrite")  # even --overwrite must not touch it
    change(args, workspace, tmp_path)
    before = snapshot(previous_run)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(message + "\n", err), err  # exactly one line
    assert snapshot(previous_run) == before
    assert snapshot(previous_run) == before


def test_existing_output_needs_overwrite(workspace, previous_run, capsys):
    before = snapshot(previous_run)
    assert cli.main(finetune_args(workspace, previous_run)) == 2
    assert "already holds files: pass --resume to continue that run, --overwrite" in capsys.readouterr().err
    assert snapshot(previous_run) == before


# ------------------------------------------------------------------ bert-predict

def test_predict_one_sentence(overfit_run, capsys):
    assert predict_cli.main(["--model", str(overfit_run), "Him and me went home."]) == 0
    lines = capsys.readouterr().out.splitlines()
    label, p = re.fullmatch(r"(\w+) \((0\.\d{4}|1\.0000)\)", lines[0]).groups()
    probabilities = dict(line.split() for line in lines[1:])
    assert set(probabilities) == {"unacceptable", "acceptable"}
    assert abs(sum(map(float, probabilities.values())) - 1) < 1e-3
    assert probabilities[label] == p and float(p) > 0.5


def test_predict_file_agrees_with_dev_predictions(overfit_run, tmp_path):
    rows = [line.split("\t") for line in (overfit_run / "seed-1" / "dev_predictions.tsv").read_text().splitlines()[1:]]
    names = {"0": "unacceptable", "1": "acceptable"}
    (tmp_path / "in.tsv").write_text("".join(row[1] + "\n" for row in rows))
    assert predict_cli.main(["--model", str(overfit_run / "seed-1" / "model"), "--input", str(tmp_path / "in.tsv"),
                         "--output", str(tmp_path / "out.tsv")]) == 0
    out = [line.split("\t") for line in (tmp_path / "out.tsv").read_text().splitlines()]
    assert out[0] == ["text", "label", "probability"]
    assert [o[1] for o in out[1:]] == [names[row[3]] for row in rows]

    (tmp_path / "in.jsonl").write_text(json.dumps({"text": rows[0][1]}) + "\n" + json.dumps({"text": rows[1][1]}) + "\n")
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "in.jsonl"),
                         "--output", str(tmp_path / "out.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").open()]
    assert [r["label"] for r in records] == [names[rows[0][3]], names[rows[1][3]]]
    assert set(records[0]["probabilities"]) == {"unacceptable", "acceptable"}


def test_predict_cuts_texts_at_the_fine_tuning_length(overfit_run, tmp_path, monkeypatch, capsys):
    """The default --max-seq-length is the one the model was fine-tuned with (summary.json), else 128."""
    run = tmp_path / "run"
    shutil.copytree(overfit_run, run)
    summary = json.loads((run / "summary.json").read_text())
    summary["recipe"]["max_seq_length"] = 8
    (run / "summary.json").write_text(json.dumps(summary))
    shutil.copytree(run / "seed-1" / "model", tmp_path / "bare-model")
    lengths, real_predict = [], sentence_predict.predict
    monkeypatch.setattr(sentence_predict, "predict", lambda *args: lengths.append(args[4]) or real_predict(*args))
    long_sentence = "the cat saw the dog and the dog saw the cat and the cat ran home"
    for model, extra in [(run, []), (run / "seed-1" / "model", []), (run, ["--max-seq-length", "5"]),
                         (tmp_path / "bare-model", [])]:
        assert predict_cli.main(["--model", str(model), *extra, long_sentence]) == 0
    assert lengths == [8, 8, 5, 128]
    assert capsys.readouterr().out.count("(") == 4  # one "label (probability)" line per prediction


def test_predict_bad_input_file(overfit_run, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text('{"text": "fine"}\n{"text": \n')
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "in.jsonl")]) == 2
    assert re.fullmatch(r"error: .*in.jsonl:2: not valid JSON.*\n", capsys.readouterr().err)
    assert predict_cli.main(["--model", str(tmp_path / "missing"), "some text"]) == 2
    assert "missing: not a checkpoint directory (no such directory" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b'{"text": "fine"}\n{"text": "a \\ud800"}\n', r'.*in.jsonl:2: "text" holds .*not a Unicode character.*'),
    (b'{"text": "fine", "pair": "\\udfff"}\n', r'.*in.jsonl:1: "pair" holds .*not a Unicode character.*'),
    ("{\"text\": \"caf\u00e9\"}\n".encode("latin-1"), r".*in.jsonl: not UTF-8 text \(invalid continuation byte "
                                                     r"at byte 13\)"),
])
def test_predict_refuses_text_that_is_not_unicode(overfit_run, tmp_path, capsys, content, message):
    (tmp_path / "in.jsonl").write_bytes(content)
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "in.jsonl")]) == 2
    assert re.fullmatch(r"error: " + message + r"\n", capsys.readouterr().err)


def test_predict_file_lines_end_at_line_feeds_only(overfit_run, tmp_path, capsys):
    # U+2028 may stand unescaped in a JSON string; CRLF line ends are fine
    (tmp_path / "in.jsonl").write_text('{"text": "one\u2028line"}\r\n{"text": "two"}\r\n', encoding="utf-8")
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "in.jsonl")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3  # a header and one line per text


def test_predict_refuses_a_summary_it_cannot_read(overfit_run, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text('{"recipe": {}}')
    assert predict_cli.main(["--model", str(run), "some text"]) == 2
    assert re.fullmatch(r'error: .*summary.json: not a bert-finetune summary \(no readable "best_model"\)\n',
                        capsys.readouterr().err)


# ------------------------------------------------------------------ DistilBERT

@pytest.fixture(scope="module")
def distilbert_checkpoint(workspace) -> Path:
    """A tiny random DistilBERT masked LM that `transformers` wrote (no real DistilBERT checkpoint installs
    offline), with our vocab.txt beside it: a folder shaped like distilbert-base-uncased's."""
    transformers = pytest.importorskip("transformers")
    checkpoint = workspace / "distilbert"
    vocab_size = len((workspace / "vocab.txt").read_text().splitlines())
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
        vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=128,
    )).save_pretrained(checkpoint)
    shutil.copy(workspace / "vocab.txt", checkpoint / "vocab.txt")
    return checkpoint


@pytest.fixture(scope="module")
def distilbert_run(workspace, distilbert_checkpoint) -> Path:
    """The MRPC tutorial's path: the DistilBERT checkpoint fine-tuned on the 3 fixture MRPC training pairs,
    which are also the dev set (so it must learn them all)."""
    checkpoint = distilbert_checkpoint
    mrpc = workspace / "overfit" / "MRPC"
    mrpc.mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        shutil.copy(FIXTURES / "MRPC" / name, mrpc / name)
    shutil.copy(FIXTURES / "MRPC" / "train.tsv", mrpc / "dev.tsv")
    output = workspace / "mrpc-distilbert"
    assert cli.main(["--task", "mrpc", "--model", str(checkpoint), "--output", str(output), "--data-dir",
                     str(workspace / "overfit"), "--epochs", "60", "--lr", "5e-3", "--seeds", "1"]) == 0
    return output


def test_distilbert_checkpoint_fine_tunes_on_mrpc(distilbert_run):
    summary = json.loads((distilbert_run / "summary.json").read_text())
    assert summary["task"] == "mrpc" and summary["median"] == {"f1": 1.0, "accuracy": 1.0}
    epochs = [r for r in map(json.loads, (distilbert_run / "seed-1" / "metrics.jsonl").open()) if "train_loss" in r]
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 5
    config = json.loads((distilbert_run / "seed-1" / "model" / "config.json").read_text())
    assert config["model_type"] == "distilbert" and config["architectures"] == ["DistilBertForSequenceClassification"]
    assert config["id2label"] == {"0": "not_equivalent", "1": "equivalent"} and "type_vocab_size" not in config


def test_distilbert_regression_on_stsb(distilbert_checkpoint, tmp_path):
    args = ["--task", "stsb", "--model", str(distilbert_checkpoint), "--output", str(tmp_path), "--data-dir",
            str(FIXTURES), "--epochs", "1"]
    assert cli.main(args) == 0
    assert set(json.loads((tmp_path / "summary.json").read_text())["median"]) == {"pearson", "spearman"}
    config = json.loads((tmp_path / "seed-42" / "model" / "config.json").read_text())
    assert (config["model_type"], config["num_labels"], config["problem_type"]) == ("distilbert", 1, "regression")


def test_fine_tuned_distilbert_loads_in_transformers(distilbert_run):
    transformers = pytest.importorskip("transformers")
    model_dir = distilbert_run / "seed-1" / "model"
    ours, tokenizer = load_head_model(model_dir, "SequenceClassification")
    assert type(ours).__name__ == "DistilBertForSequenceClassification"
    theirs, info = transformers.DistilBertForSequenceClassification.from_pretrained(model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    batch = tokenizer(["He left early.", "The ship's owners had published an advertisement."],
                      ["He did not stay long.", "They offered the cargo for sale."])
    assert (batch["input_ids"] == tokenizer.sep_token_id).sum(dim=1).tolist() == [2, 2]  # [SEP] between the texts
    del batch["token_type_ids"]  # DistilBERT has none: ours refuses them
    with torch.no_grad():
        diff = (ours(**batch).logits - theirs.eval()(**batch).logits).abs().max().item()
    assert diff < 1e-5


def test_predict_with_a_distilbert_model(distilbert_run, tmp_path, capsys):
    rows = [line.split("\t") for line in (distilbert_run / "seed-1" / "dev_predictions.tsv").read_text().splitlines()]
    assert rows[0] == ["index", "sentence1", "sentence2", "label", "prediction", "probability"]
    names = {"0": "not_equivalent", "1": "equivalent"}
    assert predict_cli.main(["--model", str(distilbert_run), rows[1][1], rows[1][2]]) == 0
    assert capsys.readouterr().out.split()[0] == names[rows[1][4]]
    (tmp_path / "pairs.tsv").write_text("".join(f"{row[1]}\t{row[2]}\n" for row in rows[1:]))
    assert predict_cli.main(["--model", str(distilbert_run), "--input", str(tmp_path / "pairs.tsv")]) == 0
    out = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert out[0] == ["text", "pair", "label", "probability"]
    assert [o[2] for o in out[1:]] == [names[row[4]] for row in rows[1:]]
    assert [o[2] for o in out[1:]] == ["equivalent", "not_equivalent", "equivalent"]  # all learned
