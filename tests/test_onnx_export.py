"""bert-export --onnx and bert-predict --onnx: the exported graph of the encoder and of every head, BERT and
DistilBERT, run in ONNX Runtime, equals the PyTorch model within 1e-4 (fp32) on batches of mixed lengths; a
fine-tuned run's export gives bert-predict's own answers; a bad target is a one-line error."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from bert import (BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification,
                  BertModel, DistilBertConfig, DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                  DistilBertForTokenClassification, DistilBertModel)
from finetune import cli as finetune_cli, predict_cli
from finetune.export.cli import main
from conftest import SQUAD_FIXTURES
from test_finetune_cli import FIXTURES as GLUE_FIXTURES, write_vocab
from test_ner_data import FIXTURES as NER_FIXTURES, write_ner_vocab
from tokenizer import WordPieceTokenizer

onnx = pytest.importorskip("onnx", reason="pip install '.[onnx]' (in the dev extra)")
onnxruntime = pytest.importorskip("onnxruntime", reason="pip install '.[onnx]' (in the dev extra)")

SIZE = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
MODELS = {  # class -> the graph's outputs, in order
    BertModel: ["last_hidden_state"], BertForSequenceClassification: ["logits"],
    BertForTokenClassification: ["logits"], BertForQuestionAnswering: ["start_logits", "end_logits"],
    DistilBertModel: ["last_hidden_state"], DistilBertForSequenceClassification: ["logits"],
    DistilBertForTokenClassification: ["logits"], DistilBertForQuestionAnswering: ["start_logits", "end_logits"],
}
TEXTS = [("A short one.", None), ("The ferry to the island leaves every morning at seven, rain or shine.", None),
         ("Is this a pair?", "Yes, with a second text."), ("x", None)]


@pytest.fixture(scope="module")
def vocab(tmp_path_factory) -> Path:
    return write_vocab(tmp_path_factory.mktemp("vocab") / "vocab.txt")


def saved_model(model_class, vocab: Path, directory: Path):
    """A random model of `model_class` saved with its tokenizer, as bert-finetune saves one."""
    tokenizer = WordPieceTokenizer.from_pretrained(vocab)
    config_class = DistilBertConfig if model_class.__name__.startswith("Distil") else BertConfig
    torch.manual_seed(0)
    model = model_class(config_class(vocab_size=tokenizer.vocab_size, num_labels=3, **SIZE)).eval()
    model.save_pretrained(directory)
    tokenizer.save(directory)
    return model, tokenizer


@pytest.mark.parametrize("model_class", MODELS, ids=lambda c: c.__name__)
def test_onnx_runtime_equals_pytorch(model_class, vocab, tmp_path):
    model, tokenizer = saved_model(model_class, vocab, tmp_path / "model")
    assert main(["--onnx", str(tmp_path / "onnx"), "--model", str(tmp_path / "model")]) == 0
    graph = onnx.load(tmp_path / "onnx" / "model.onnx")
    inputs = ["input_ids", "attention_mask"] + ([] if "Distil" in model_class.__name__ else ["token_type_ids"])
    assert [i.name for i in graph.graph.input] == inputs
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in graph.graph.input)
    assert all(not d.HasField("dim_value") for i in graph.graph.input for d in i.type.tensor_type.shape.dim)  # dynamic
    assert [o.name for o in graph.graph.output] == MODELS[model_class]
    session = onnxruntime.InferenceSession(str(tmp_path / "onnx" / "model.onnx"), providers=["CPUExecutionProvider"])
    for texts in (TEXTS, TEXTS[:1], TEXTS[1:3]):  # another batch size and sequence length than the export's
        batch = tokenizer([t for t, _ in texts], [p or "" for _, p in texts] if any(p for _, p in texts) else None)
        assert batch["attention_mask"].min() == 0 or len(texts) == 1  # padded rows
        with torch.no_grad():
            out = model(**{k: v for k, v in batch.items() if k in inputs})
        theirs = session.run(None, {name: batch[name].numpy() for name in inputs})
        for name, array in zip(MODELS[model_class], theirs):
            ours = getattr(out, name)
            assert array.shape == tuple(ours.shape)
            assert (torch.from_numpy(array) - ours).abs().max().item() < 1e-4, name
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [
        "config.json", "model.onnx", "tokenizer.json", "tokenizer_config.json", "vocab.txt"]


@pytest.fixture(scope="module")
def cola_run(tmp_path_factory, vocab) -> Path:
    tmp = tmp_path_factory.mktemp("cola")
    (tmp / "glue" / "CoLA").mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        shutil.copy(GLUE_FIXTURES / "CoLA" / name, tmp / "glue" / "CoLA" / name)
    shutil.copy(GLUE_FIXTURES / "CoLA" / "train.tsv", tmp / "glue" / "CoLA" / "dev.tsv")
    assert finetune_cli.main(["--task", "cola", "--data-dir", str(tmp / "glue"), "--model", "tiny", "--vocab",
                              str(vocab), "--output", str(tmp / "run"), "--epochs", "6", "--lr", "2e-3",
                              "--max-seq-length", "12", "--seeds", "1"]) == 0
    return tmp / "run"


def test_predict_onnx_gives_bert_predicts_answers(cola_run, tmp_path, capsys):
    """The export of a run (its best model) keeps the run's summary: texts are cut at its 12 tokens, as
    bert-predict cuts them for the PyTorch model."""
    assert main(["--onnx", str(tmp_path / "onnx"), "--model", str(cola_run)]) == 0
    assert json.loads((tmp_path / "onnx" / "fine_tuning_summary.json").read_text())["recipe"]["max_seq_length"] == 12
    texts = tmp_path / "texts.tsv"
    texts.write_text("The children built a tower of blocks quickly and then knocked it over again.\n"
                     "Him went to the store.\nShe sang.\tA pair of texts.\n")
    results = []
    for model, extra in ((cola_run, []), (tmp_path / "onnx", ["--onnx"])):
        output = tmp_path / f"{len(results)}.jsonl"
        assert predict_cli.main(["--model", str(model), *extra, "--input", str(texts), "--output", str(output),
                             "--precision", "fp32"]) == 0
        results.append([json.loads(line) for line in output.read_text().splitlines()])
    assert [r["label"] for r in results[0]] == [r["label"] for r in results[1]]
    for torch_row, onnx_row in zip(*results):
        for label, p in torch_row["probabilities"].items():
            assert onnx_row["probabilities"][label] == pytest.approx(p, abs=1e-4)
    assert "precision: fp32 (the exported ONNX graph, in ONNX Runtime)" in capsys.readouterr().err


def test_predict_onnx_answers_questions_and_tags_entities_as_pytorch_does(squad_vocab, tmp_path):
    """A question answerer's export keeps the run's 64-token windows (a context of two windows here) and a
    tagger's its labels: bert-predict --onnx gives the PyTorch model's answers and entities."""
    train = str(SQUAD_FIXTURES / "train.json")
    (tmp_path / "ner").mkdir()
    for source, name in (("train.txt", "train.txt"), ("train.txt", "dev.txt"), ("test.txt", "test.txt")):
        shutil.copy(NER_FIXTURES / "conll2003" / source, tmp_path / "ner" / name)
    runs = {
        "squad": ["--train-file", train, "--validation-file", train, "--max-seq-length", "64", "--max-query-length",
                  "16", "--doc-stride", "16", "--vocab", str(squad_vocab), "--epochs", "3", "--batch-size", "8"],
        "conll2003": ["--data-dir", str(tmp_path / "ner"), "--vocab", str(write_ner_vocab(tmp_path / "ner.txt")),
                      "--epochs", "6", "--lr", "3e-3"],
    }
    context = ("The Rhine flows from the Alps through Germany and the Netherlands into the North Sea. Its "
               "water carried ships and goods for centuries, and cities such as Cologne and Basel grew on "
               "its banks, where bridges were built by the Romans and later by every age after them.")
    inputs = {"squad": ("q.jsonl", "".join(json.dumps({"question": q, "context": context}) + "\n"
                                           for q in ("Where does the Rhine flow?", "Who built bridges?"))),
              "conll2003": ("texts.txt", "Angela Merkel flew to Vienna with Schwarzenegger .\nParis beat Berlin .\n")}
    for task, args in runs.items():
        run = tmp_path / task
        assert finetune_cli.main(["--task", task, "--model", "tiny", "--output", str(run), "--seeds", "1", *args]) == 0
        assert main(["--onnx", str(tmp_path / f"{task}-onnx"), "--model", str(run)]) == 0
        name, content = inputs[task]
        (tmp_path / name).write_text(content)
        outputs = []
        for model, extra in ((run, []), (tmp_path / f"{task}-onnx", ["--onnx"])):
            outputs.append(tmp_path / f"{task}-{len(outputs)}.jsonl")
            assert predict_cli.main(["--model", str(model), *extra, "--input", str(tmp_path / name), "--output",
                                 str(outputs[-1]), "--precision", "fp32"]) == 0
        torch_rows, onnx_rows = ([json.loads(line) for line in o.read_text().splitlines()] for o in outputs)
        if task == "squad":
            assert [(r["answer"], r["start"], r["end"]) for r in torch_rows] == \
                   [(r["answer"], r["start"], r["end"]) for r in onnx_rows]
            assert all(abs(a["score"] - b["score"]) < 1e-3 for a, b in zip(torch_rows, onnx_rows))
        else:
            spans = lambda rows: [[(e["start"], e["end"], e["type"]) for e in r["entities"]] for r in rows]  # noqa: E731
            assert spans(torch_rows) == spans(onnx_rows) and any(spans(torch_rows))


def test_fp16_export_runs_in_onnx_runtime_near_fp32_and_predicts_in_fp16(cola_run, tmp_path, capsys):
    """--precision fp16 writes fp16 weights and outputs (about half the file); bert-predict --onnx runs it in
    fp16, with the fp32 graph's labels and probabilities within 1e-2, and refuses --precision fp32 for it."""
    for precision in ("fp32", "fp16"):
        assert main(["--onnx", str(tmp_path / precision), "--model", str(cola_run), "--precision", precision]) == 0
    graph = onnx.load(tmp_path / "fp16" / "model.onnx")
    assert [o.type.tensor_type.elem_type for o in graph.graph.output] == [onnx.TensorProto.FLOAT16]
    assert all(i.type.tensor_type.elem_type == onnx.TensorProto.INT64 for i in graph.graph.input)
    sizes = {p: (tmp_path / p / "model.onnx").stat().st_size for p in ("fp32", "fp16")}
    assert sizes["fp16"] < 0.6 * sizes["fp32"], sizes
    texts = tmp_path / "texts.tsv"
    texts.write_text("The children built a tower of blocks quickly.\nHim went to the store.\nShe sang.\tA pair.\n")
    rows = {}
    for precision in ("fp32", "fp16"):
        output = tmp_path / f"{precision}.jsonl"
        assert predict_cli.main(["--model", str(tmp_path / precision), "--onnx", "--input", str(texts), "--output",
                                 str(output)]) == 0
        assert f"precision: {precision} (the exported ONNX graph, in ONNX Runtime)" in capsys.readouterr().err
        rows[precision] = [json.loads(line) for line in output.read_text().splitlines()]
    for full, half in zip(rows["fp32"], rows["fp16"]):
        assert max(abs(full["probabilities"][k] - half["probabilities"][k]) for k in full["probabilities"]) < 1e-2
    assert predict_cli.main(["--model", str(tmp_path / "fp16"), "--onnx", "text", "--precision", "fp32"]) == 2
    assert capsys.readouterr().err == "error: --onnx runs the exported fp16 graph: --precision fp32 does not apply to it\n"


def test_predict_onnx_refuses_another_precision_and_a_folder_without_a_graph(cola_run, tmp_path, capsys):
    assert main(["--onnx", str(tmp_path / "onnx"), "--model", str(cola_run)]) == 0
    capsys.readouterr()
    assert predict_cli.main(["--model", str(tmp_path / "onnx"), "--onnx", "text", "--precision", "bf16"]) == 2
    assert capsys.readouterr().err == "error: --onnx runs the exported fp32 graph: --precision bf16 does not apply to it\n"
    assert predict_cli.main(["--model", str(cola_run / "seed-1" / "model"), "--onnx", "text"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(r"error: .*/seed-1/model: no model\.onnx \(export one with bert-export --onnx .*\)\n", err), err


def test_predict_onnx_refuses_an_encoder_export(vocab, tmp_path, capsys):
    saved_model(BertModel, vocab, tmp_path / "model")
    assert main(["--onnx", str(tmp_path / "onnx"), "--model", str(tmp_path / "model")]) == 0
    assert predict_cli.main(["--onnx", "--model", str(tmp_path / "onnx"), "A sentence."]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {tmp_path / 'onnx'}: its config.json names no fine-tuned head (SequenceClassification, "
        "TokenClassification, QuestionAnswering), so it has nothing to predict with; fine-tune it with bert-finetune "
        "first (for sentence vectors of an encoder, use bert-embed)")


def test_bad_export_target_is_one_line(vocab, tmp_path, capsys):
    saved_model(BertModel, vocab, tmp_path / "model")
    (tmp_path / "a-file").write_text("in the way")
    (tmp_path / "empty").mkdir()
    cases = [
        (["--onnx", str(tmp_path / "a-file"), "--model", str(tmp_path / "model")],
         f"error: --onnx {tmp_path / 'a-file'}: exists and is not a directory"),
        (["--onnx", str(tmp_path / "a-file" / "out"), "--model", str(tmp_path / "model")],
         f"error: --onnx {tmp_path / 'a-file' / 'out'}: {tmp_path / 'a-file'} is a file, not a directory"),
        (["--onnx", str(tmp_path / "out"), "--model", str(tmp_path / "empty")],
         f"error: {tmp_path / 'empty'}: no config.json (not a checkpoint directory in HF layout)"),
        (["--onnx", str(tmp_path / "out"), "--model", str(tmp_path / "missing")],
         f"error: --model {tmp_path / 'missing'}: not a checkpoint directory (no such directory, and not a Hugging "
         "Face Hub model id)"),
    ]
    for args, message in cases:
        assert main(args) == 2
        assert capsys.readouterr().err == message + "\n"
    assert not (tmp_path / "out").exists()
