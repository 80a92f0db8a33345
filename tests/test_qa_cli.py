"""bert-finetune --task squad and bert-predict on a QA model, end to end, on the fixture questions.

One real fine-tune is shared by most tests: a randomly initialised `tiny` model learns the 16 fixture
questions (train = validation; windows of 64 tokens, so some contexts span several) to 100% exact match
(~15 s). Its files must be the official formats, its scores must be what an independent scorer finds in
predictions.json, transformers must load its model, and bert-predict must give the same answers.
"""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from finetune import cli, predict_cli
from finetune.qa.squad import read_squad_file

import squad_official
from conftest import SQUAD_FIXTURES

TRAIN = SQUAD_FIXTURES / "train.json"
SMALL_WINDOWS = ["--max-seq-length", "64", "--max-query-length", "16", "--doc-stride", "16"]



def squad_args(vocab: Path, output: Path, *extra: str) -> list[str]:
    return ["--task", "squad", "--model", "tiny", "--vocab", str(vocab), "--output", str(output),
            "--train-file", str(TRAIN), "--validation-file", str(TRAIN), *SMALL_WINDOWS, *extra]


@pytest.fixture(scope="module")
def overfit_run(squad_vocab, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("squad") / "run"
    args = squad_args(squad_vocab, output, "--epochs", "80", "--lr", "1e-3", "--batch-size", "4", "--seeds", "2")
    assert cli.main(args) == 0
    return output


# ------------------------------------------------------------------ training

def test_tiny_model_learns_16_questions(overfit_run):
    summary = json.loads((overfit_run / "summary.json").read_text())
    assert summary["task"] == "squad" and summary["main_metric"] == "f1"
    assert summary["median"] == {"exact_match": 100.0, "f1": 100.0}
    assert summary["seeds"][0]["seed"] == 2 and summary["best_model"] == "seed-2/model"
    assert summary["eval_questions"] == 16 and summary["train_questions"] == 16
    assert summary["train_windows"] > 16  # the Rhine's 93 tokens need more than one window of 64
    assert summary["windowing"] == {"max_seq_length": 64, "doc_stride": 16, "max_query_length": 16}
    assert summary["decoding"] == {"n_best": 20, "max_answer_length": 30}
    epochs = [r for r in map(json.loads, (overfit_run / "seed-2" / "metrics.jsonl").open()) if "train_loss" in r]
    assert [r["epoch"] for r in epochs] == list(range(1, 81))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"] / 10
    best = max(epochs, key=lambda r: r["f1"])  # the first epoch with the best F1 is the one kept
    assert best["epoch"] == summary["seeds"][0]["best_epoch"] and best["f1"] == 100.0


def test_prediction_files_are_the_official_formats(overfit_run):
    examples = read_squad_file(TRAIN)
    predictions = json.loads((overfit_run / "seed-2" / "predictions.json").read_text(encoding="utf-8"))
    assert predictions == {e.id: e.answers[0].text for e in examples}  # including "São Paulo", "Non ducor, duco"
    nbest = json.loads((overfit_run / "seed-2" / "nbest_predictions.json").read_text(encoding="utf-8"))
    assert list(nbest) == list(predictions)
    for example in examples:
        answers = nbest[example.id]
        assert 1 < len(answers) <= 20 and answers[0]["text"] == predictions[example.id]
        assert [a["score"] for a in answers] == sorted((a["score"] for a in answers), reverse=True)
        assert abs(sum(a["probability"] for a in answers) - 1) < 1e-4
        assert all(example.context[a["start"]:a["end"]] == a["text"] for a in answers)
        assert len({(a["start"], a["end"]) for a in answers}) == len(answers)


def test_summary_equals_an_independent_scorer_on_predictions_json(squad_vocab, tmp_path):
    """Three seeds of a 3-epoch run score far from 100, so the comparison means something; the dev fixture
    has three gold answers per question."""
    output = tmp_path / "run"
    args = squad_args(squad_vocab, output, "--validation-file", str(SQUAD_FIXTURES / "dev.json"), "--epochs", "3",
                      "--lr", "1e-3", "--seeds", "1,2,3")
    assert cli.main(args) == 0
    summary = json.loads((output / "summary.json").read_text())
    dataset = json.loads((SQUAD_FIXTURES / "dev.json").read_text(encoding="utf-8"))["data"]
    for row in summary["seeds"]:
        predictions = json.loads((output / f"seed-{row['seed']}" / "predictions.json").read_text(encoding="utf-8"))
        official = squad_official.evaluate(dataset, predictions)
        assert row["exact_match"] == pytest.approx(official["exact_match"], abs=1e-9)
        assert row["f1"] == pytest.approx(official["f1"], abs=1e-9)
    assert summary["median"]["f1"] == sorted(row["f1"] for row in summary["seeds"])[1]
    assert set(summary["median"]) == {"exact_match", "f1"}


def test_max_eval_examples_scores_the_first_questions(squad_vocab, tmp_path):
    output = tmp_path / "run"
    assert cli.main(squad_args(squad_vocab, output, "--epochs", "1", "--max-eval-examples", "5",
                               "--max-train-examples", "4")) == 0
    summary = json.loads((output / "summary.json").read_text())
    assert (summary["eval_questions"], summary["train_questions"]) == (5, 4)
    predictions = json.loads((output / "seed-42" / "predictions.json").read_text(encoding="utf-8"))
    assert list(predictions) == [e.id for e in read_squad_file(TRAIN)[:5]]


def test_saved_model_loads_in_transformers(overfit_run):
    transformers = pytest.importorskip("transformers")
    from finetune.qa.family import load_question_answerer

    model_dir = overfit_run / "seed-2" / "model"
    ours, tokenizer = load_question_answerer(model_dir)
    theirs = transformers.BertForQuestionAnswering.from_pretrained(model_dir).eval()
    example = read_squad_file(TRAIN)[0]
    batch = tokenizer([example.question], [example.context])
    with torch.no_grad():
        mine, hf = ours(**batch), theirs(**batch)
    assert (mine.start_logits - hf.start_logits).abs().max() < 1e-4
    assert (mine.end_logits - hf.end_logits).abs().max() < 1e-4


# ------------------------------------------------------------------ bert-predict

def test_predict_answers_a_question(overfit_run, capsys):
    example = read_squad_file(TRAIN)[5]  # "Who is the city named after?"
    assert predict_cli.main(["--model", str(overfit_run), "--question", example.question,
                         "--context", example.context]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Saint Paul of Tarsus"
    start = example.context.index("Saint Paul of Tarsus")
    assert lines[1] == f"  span   characters {start}-{start + 20} of the context"
    assert re.fullmatch(r"  score  \d+\.\d{4}", lines[2])


def test_predict_file_agrees_with_predictions_json(overfit_run, tmp_path):
    examples = read_squad_file(TRAIN)
    lines = [json.dumps({"id": e.id, "question": e.question, "context": e.context}, ensure_ascii=False)
             for e in examples[:-1]]
    lines.append(json.dumps({"question": examples[-1].question, "context": examples[-1].context}))  # no id
    (tmp_path / "questions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert predict_cli.main(["--model", str(overfit_run / "seed-2" / "model"), "--input", str(tmp_path / "questions.jsonl"),
                         "--output", str(tmp_path / "answers.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "answers.jsonl").open(encoding="utf-8")]
    expected = json.loads((overfit_run / "seed-2" / "predictions.json").read_text(encoding="utf-8"))
    assert [r["answer"] for r in records] == list(expected.values())
    assert [r["id"] for r in records] == [e.id for e in examples[:-1]] + ["16"]  # the line number without an id
    assert all(e.context[r["start"]:r["end"]] == r["answer"] for e, r in zip(examples, records))


def test_predict_file_lines_end_at_line_feeds_only(overfit_run, tmp_path):
    """JSON may hold U+2028 (a line separator to str.splitlines) unescaped inside a string."""
    example = read_squad_file(TRAIN)[5]
    line = json.dumps({"id": "q", "question": example.question, "context": example.context + "\u2028"},
                      ensure_ascii=False)
    (tmp_path / "questions.jsonl").write_text(line + "\n", encoding="utf-8")
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "questions.jsonl"),
                         "--output", str(tmp_path / "answers.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "answers.jsonl").open(encoding="utf-8")]
    assert [r["id"] for r in records] == ["q"] and records[0]["answer"] == "Saint Paul of Tarsus"


def test_predict_reads_the_windowing_of_the_run(overfit_run, tmp_path, capsys):
    """The run's 64-token windows (its summary.json), defaults for a model found elsewhere, --max-seq-length
    above both; a context longer than one window still finds its answer near the end."""
    from finetune.qa.decoding import Decoding
    from finetune.qa.predict import fine_tuned_family
    from finetune.qa.windows import Windowing

    model_dir = overfit_run / "seed-2" / "model"
    shutil.copytree(model_dir, tmp_path / "bare")
    assert fine_tuned_family(model_dir, None).windowing == Windowing(64, 16, 16)
    assert fine_tuned_family(model_dir, 48).windowing == Windowing(48, 16, 16)
    assert fine_tuned_family(tmp_path / "bare", None).windowing == Windowing(384, 128, 64)
    # Shorter windows than the defaults hold: the question keeps half, the stride half of the context's 61.
    assert fine_tuned_family(tmp_path / "bare", 128).windowing == Windowing(128, 30, 64)
    assert fine_tuned_family(model_dir, None).decoding == Decoding(20, 30)
    rhine = read_squad_file(TRAIN)[15]  # "Near which city does the Rhine reach the North Sea?"
    assert predict_cli.main(["--model", str(overfit_run), "--question", rhine.question, "--context", rhine.context]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "Rotterdam"


BAD_PREDICT_INPUTS = {
    "not JSON": ('{"question": "Who?", "context": ', r"error: .*questions.jsonl:1: not valid JSON.*"),
    "no context": ('{"question": "Who?"}', r'error: .*questions.jsonl:1: expected an object with "question" and '
                                         r'"context" strings'),
    "an empty question": ('{"question": " ", "context": "Pina Bausch"}',
                          r"error: .*questions.jsonl:1: the question and the context must not be empty"),
    "a repeated id": ('{"id": "a", "question": "Who?", "context": "Bausch"}\n'
                      '{"id": "a", "question": "What?", "context": "Bausch"}',
                      r"error: .*questions.jsonl:2: id 'a' is also line 1's \(a line without an id has its line number\)"),
    "an id equal to a line number": ('{"id": 2, "question": "Who?", "context": "Bausch"}\n'
                                     '{"question": "What?", "context": "Bausch"}',
                                     r"error: .*questions.jsonl:2: id '2' is also line 1's .*"),
    "a lone surrogate": ('{"question": "Who?", "context": "Bausch \\udc80"}',
                         r"error: .*questions.jsonl:1: the context holds '\\udc80' at position 7, which is not a "
                         r"Unicode character .*"),
    "not UTF-8": ("Caf\xe9", r"error: .*questions.jsonl: not UTF-8 text \(invalid continuation byte at byte 3\)"),
}


@pytest.mark.parametrize("case", BAD_PREDICT_INPUTS)
def test_predict_bad_input_file(overfit_run, tmp_path, capsys, case):
    content, message = BAD_PREDICT_INPUTS[case]
    (tmp_path / "questions.jsonl").write_text(content + "\n", encoding="latin-1" if case == "not UTF-8" else "utf-8")
    assert predict_cli.main(["--model", str(overfit_run), "--input", str(tmp_path / "questions.jsonl")]) == 2
    assert re.fullmatch(message + "\n", capsys.readouterr().err)


def test_predict_refuses_a_batch_size_below_one_and_arguments_that_are_not_unicode(overfit_run, capsys):
    assert predict_cli.main(["--model", str(overfit_run), "--question", "Who?", "--context", "Bausch",
                             "--batch-size", "0"]) == 2
    assert "--batch-size must be at least 1, got 0" in capsys.readouterr().err
    # Bytes that are not UTF-8 in argv reach Python as lone surrogates (errors='surrogateescape').
    assert predict_cli.main(["--model", str(overfit_run), "--question", "Caf\udce9?", "--context", "Bausch"]) == 2
    assert capsys.readouterr().err == "error: the text 'Caf\\udce9?' is not valid UTF-8 (position 3)\n"


def test_predict_needs_a_question_for_a_qa_model_and_text_for_a_classifier(overfit_run, tmp_path, capsys):
    assert predict_cli.main(["--model", str(overfit_run), "Pina Bausch made Café Müller."]) == 2
    assert "answers questions: give --question and --context" in capsys.readouterr().err
    from bert import BertConfig, BertForSequenceClassification
    from tokenizer import WordPieceTokenizer

    tokenizer = WordPieceTokenizer.from_pretrained(overfit_run / "seed-2" / "model")
    classifier = BertForSequenceClassification(BertConfig.from_preset("tiny", vocab_size=tokenizer.vocab_size))
    classifier.save_pretrained(tmp_path / "classifier")
    tokenizer.save(tmp_path / "classifier")
    assert predict_cli.main(["--model", str(tmp_path / "classifier"), "--question", "Who?", "--context", "Bausch"]) == 2
    assert "is a classifier, not a question-answering model" in capsys.readouterr().err


# ------------------------------------------------------------------ bad input to bert-finetune

@pytest.fixture
def previous_run(tmp_path) -> Path:
    """An output directory holding an earlier run's files, which a failed run must leave alone."""
    output = tmp_path / "out"
    (output / "seed-42").mkdir(parents=True)
    (output / "summary.json").write_text('{"task": "squad", "median": {"f1": 50.0}}\n')
    (output / "seed-42" / "predictions.json").write_text("{}\n")
    return output


def snapshot(directory: Path) -> dict:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def replace(name: str, value: str):
    def change(args):
        args[args.index(name) + 1] = value
    return change


def drop(name: str):
    def change(args):
        del args[args.index(name):args.index(name) + 2]
    return change


BAD_INPUTS = {
    "answer not at its answer_start": (replace("--validation-file", str(SQUAD_FIXTURES / "bad-answer-start.json")),
                                       r"error: .*bad-answer-start.json: question café_müller-3: answer '1978' is not "
                                       r"at answer_start 78 \(the context has '978.' there\)"),
    "not SQuAD JSON": (replace("--train-file", str(SQUAD_FIXTURES / "not-squad.json")),
                       r"error: .*not-squad.json: not a SQuAD JSON file .*"),
    "training file without answers": (replace("--train-file", str(SQUAD_FIXTURES / "no-answers.json")),
                                      r"error: .*no-answers.json: question café_müller-2: no answers .*"),
    "GLUE TSV as training file": (replace("--train-file", str(Path(__file__).parent / "fixtures/glue/CoLA/train.tsv")),
                                  r"error: .*train.tsv: not a SQuAD JSON file \(not valid UTF-8 JSON: .*\)"),
    "only one file": (drop("--validation-file"), r"error: give both --train-file and --validation-file, or neither .*"),
    "stride too long": (replace("--doc-stride", "45"),
                        r"error: --doc-stride 45 must be smaller than the 45 context tokens a window of "
                        r"--max-seq-length 64 keeps .*"),
    "n-best zero": (lambda args: args.extend(["--n-best", "0"]), r"error: --n-best must be at least 1, got 0"),
    "GLUE folder": (lambda args: args.extend(["--data-dir", "glue"]), r"error: --data-dir is for GLUE tasks; .*"),
    "a test file": (lambda args: args.extend(["--test-file", str(TRAIN)]),
                    r"error: --test-file is not read by --task squad: .*"),
    "no training questions": (lambda args: args.extend(["--max-train-examples", "0"]),
                              r"error: --max-train-examples must be at least 1, got 0"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_and_overwrites_nothing(squad_vocab, previous_run, capsys, case):
    change, message = BAD_INPUTS[case]
    args = squad_args(squad_vocab, previous_run, "--overwrite")  # even --overwrite must not touch it
    change(args)
    before = snapshot(previous_run)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(message + "\n", err), err  # exactly one line
    assert snapshot(previous_run) == before


def test_glue_task_refuses_squad_files(squad_vocab, tmp_path, capsys):
    args = ["--task", "cola", "--model", "tiny", "--vocab", str(squad_vocab), "--output", str(tmp_path / "out"),
            "--train-file", str(TRAIN)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == "error: --task cola reads GLUE's files; leave --task out to fine-tune on --train-file\n"
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------ DistilBERT

def test_a_distilbert_checkpoint_fine_tunes_for_squad(squad_vocab, tmp_path):
    transformers = pytest.importorskip("transformers")
    checkpoint = tmp_path / "distilbert"
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
        vocab_size=len(squad_vocab.read_text(encoding="utf-8").splitlines()), dim=32, n_layers=2, n_heads=2,
        hidden_dim=64, max_position_embeddings=128)).save_pretrained(checkpoint)
    shutil.copy(squad_vocab, checkpoint / "vocab.txt")
    args = squad_args(squad_vocab, tmp_path / "run", "--epochs", "1")
    args[args.index("--model") + 1] = str(checkpoint)
    assert cli.main(args) == 0
    model_dir = tmp_path / "run" / "seed-42" / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["DistilBertForQuestionAnswering"]
    _, info = transformers.DistilBertForQuestionAnswering.from_pretrained(model_dir, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info


# ------------------------------------------------------------------ two processes

def test_two_processes_answer_every_question(squad_vocab, tmp_path):
    """torchrun with two CPU processes (gloo): 23 dev windows in batches of 4 split unevenly between them;
    predictions.json still has every question, and the reported F1 is the saved model's on one process."""
    import subprocess
    import sys

    output = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
               "-m", "finetune", *squad_args(squad_vocab, output, "--epochs", "3", "--lr", "1e-3", "--batch-size", "4",
                                              "--eval-batch-size", "4", "--seeds", "1")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 process(es)" in result.stdout
    summary = json.loads((output / "summary.json").read_text())
    predictions = json.loads((output / "seed-1" / "predictions.json").read_text(encoding="utf-8"))
    examples = read_squad_file(TRAIN)
    assert list(predictions) == [e.id for e in examples]

    from finetune.qa.family import QuestionAnswering, load_question_answerer
    from finetune.qa.windows import Windowing

    model, tokenizer = load_question_answerer(output / "seed-1" / "model")
    family = QuestionAnswering(Windowing(64, 16, 16))
    metrics, answers = family.evaluate(model, family.encode(tokenizer, examples, labelled=False), 4,
                                       tokenizer.pad_token_id)
    assert {question: found[0].text for question, found in answers.items()} == predictions
    assert metrics["f1"] == pytest.approx(summary["seeds"][0]["f1"], abs=1e-9)


# ------------------------------------------------------------------ the benchmark

def test_bench_squad_runs_all_three_side_by_side(overfit_run, tmp_path):
    """bench/bench_squad.py from the overfit model on the fixture questions: one row per run, and the run fed
    ours' batches sees exactly ours' windows."""
    import subprocess
    import sys

    pytest.importorskip("transformers")
    repo = Path(__file__).resolve().parents[1]
    output = tmp_path / "bench"
    command = [sys.executable, str(repo / "bench" / "bench_squad.py"), "--model", str(overfit_run / "seed-2" / "model"),
               "--train-file", str(TRAIN), "--validation-file", str(TRAIN), *SMALL_WINDOWS, "--epochs", "1",
               "--batch-size", "4", "--output", str(output)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=repo)
    assert result.returncode == 0, result.stderr[-3000:]
    table = result.stdout.split("ours faster")[1]  # the table's rows follow its heading
    rows = [line.split() for line in table.splitlines() if line.split()[1:2] and line.split()[1].isdigit()]
    assert [row[0] for row in rows] == ["ours", "hf-run-qa", "hf-same-batches"]
    results = json.loads((output / "bench.json").read_text())["results"]
    assert results["hf-same-batches"]["train_windows"] == results["ours"]["train_windows"] > 16
    for run in results.values():
        assert run["eval_questions"] == 16 and 0 <= run["metrics"]["exact_match"] <= run["metrics"]["f1"] <= 100
