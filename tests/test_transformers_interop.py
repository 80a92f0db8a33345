"""Every folder `bert-finetune` writes loads in `transformers` with no extra argument and gives the answers
`bert-predict --input FILE --output FILE.jsonl --precision fp32` gives, on texts written here (not in any
fixture): the classifier in pipeline("text-classification"), the tagger in pipeline("token-classification",
aggregation_strategy="first"), the question answerer in AutoModelForQuestionAnswering + AutoTokenizer (the best
span by start + end logit inside the context, at most bert-predict's default answer length). BERT (a `tiny`
preset) and DistilBERT (a tiny random checkpoint written by transformers), each fine-tuned here for a few
seconds. The model is found where summary.json's best_model says. (No multi-label classifier: bert-finetune
has none.)"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from conftest import SQUAD_FIXTURES
from finetune import cli, predict_cli
from finetune.qa.decoding import Decoding
from test_finetune_cli import FIXTURES as GLUE_FIXTURES, write_vocab
from test_ner_data import FIXTURES as NER_FIXTURES, write_ner_vocab

transformers = pytest.importorskip("transformers")

SENTENCES = ["The children quickly built a tower of blocks.", "Seems the the dog barked loud it.",
             "Which book did you say that she wrote?", "Him went to store yesterday the."]
PAIRS = [("The train left on time.", "The train was punctual."), ("She sings well.", "Dogs bark at night.")]
TAGGED = ["Angela Merkel flew to Vienna with Schwarzenegger on Monday .", "Paris and London signed the deal .",
          "Jacques Chirac met the Germany team in Berlin ."]
QUESTIONS = [
    {"question": "Who is the city named after?", "context": "The city is named after Saint Paul of Tarsus, a saint."},
    {"question": "Where does the Rhine flow?", "context": "The Rhine flows through Germany and into the North Sea."},
    {"question": "What was built?", "context": "In 1850 a bridge was built over the river by the city."},
]


def distilbert_checkpoint(vocab: Path, directory: Path) -> Path:
    """A tiny random DistilBERT masked LM written by transformers, with `vocab` beside it."""
    torch.manual_seed(0)
    transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
        vocab_size=len(vocab.read_text(encoding="utf-8").splitlines()), dim=32, n_layers=2, n_heads=2,
        hidden_dim=64, max_position_embeddings=128)).save_pretrained(directory)
    shutil.copy(vocab, directory / "vocab.txt")
    return directory


def finetune(tmp: Path, family: str, vocab: Path, args: list[str]) -> Path:
    """bert-finetune from the tiny preset (BERT) or a tiny DistilBERT checkpoint; returns the run's folder."""
    model = ["--model", "tiny", "--vocab", str(vocab)] if family == "bert" else \
        ["--model", str(distilbert_checkpoint(vocab, tmp / "distilbert"))]
    assert cli.main([*args, *model, "--output", str(tmp / "run"), "--seeds", "3"]) == 0
    return tmp / "run"


def best_model(run: Path) -> Path:
    return run / json.loads((run / "summary.json").read_text())["best_model"]


def bert_predict(run: Path, tmp: Path, name: str, content: str) -> list[dict]:
    (tmp / name).write_text(content, encoding="utf-8")
    output = tmp / "predictions.jsonl"
    assert predict_cli.main(["--model", str(run), "--input", str(tmp / name), "--output", str(output),
                         "--precision", "fp32"]) == 0
    return [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def classifier_run(request, tmp_path_factory) -> Path:
    """CoLA's 32 fixture sentences, as train and dev, for a few epochs."""
    tmp = tmp_path_factory.mktemp(f"cola-{request.param}")
    (tmp / "glue" / "CoLA").mkdir(parents=True)
    for name in ("train.tsv", "test.tsv"):
        shutil.copy(GLUE_FIXTURES / "CoLA" / name, tmp / "glue" / "CoLA" / name)
    shutil.copy(GLUE_FIXTURES / "CoLA" / "train.tsv", tmp / "glue" / "CoLA" / "dev.tsv")
    schedule = ["--epochs", "8", "--lr", "2e-3"] if request.param == "bert" else ["--epochs", "20", "--lr", "5e-3"]
    return finetune(tmp, request.param, write_vocab(tmp / "vocab.txt"),
                    ["--task", "cola", "--data-dir", str(tmp / "glue"), *schedule])


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def tagger_run(request, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp(f"ner-{request.param}")
    (tmp / "ner").mkdir()
    for source, name in (("train.txt", "train.txt"), ("train.txt", "dev.txt"), ("test.txt", "test.txt")):
        shutil.copy(NER_FIXTURES / "conll2003" / source, tmp / "ner" / name)
    return finetune(tmp, request.param, write_ner_vocab(tmp / "vocab.txt"),
                    ["--task", "conll2003", "--data-dir", str(tmp / "ner"), "--epochs", "15", "--lr", "3e-3"])


@pytest.fixture(scope="module", params=["bert", "distilbert"])
def qa_run(request, tmp_path_factory, squad_vocab) -> Path:
    tmp = tmp_path_factory.mktemp(f"squad-{request.param}")
    train = str(SQUAD_FIXTURES / "train.json")
    return finetune(tmp, request.param, squad_vocab,
                    ["--task", "squad", "--train-file", train, "--validation-file", train, "--max-seq-length", "64",
                     "--max-query-length", "16", "--doc-stride", "16", "--epochs", "10", "--lr", "1e-3",
                     "--batch-size", "4"])


def test_classifier_in_the_text_classification_pipeline(classifier_run, tmp_path):
    ours = bert_predict(classifier_run, tmp_path, "texts.tsv",
                        "".join(f"{t}\n" for t in SENTENCES) + "".join(f"{a}\t{b}\n" for a, b in PAIRS))
    classify = transformers.pipeline("text-classification", model=str(best_model(classifier_run)), device="cpu")
    theirs = classify(SENTENCES + [{"text": a, "text_pair": b} for a, b in PAIRS])
    assert [p["label"] for p in ours] == [t["label"] for t in theirs]
    assert {p["label"] for p in ours} == {"acceptable", "unacceptable"}  # the task's names, both of them
    for mine, hf in zip(ours, theirs):
        assert mine["probabilities"][hf["label"]] == pytest.approx(hf["score"], abs=1e-4)


def test_tagger_in_the_token_classification_pipeline(tagger_run, tmp_path):
    ours = bert_predict(tagger_run, tmp_path, "texts.txt", "".join(f"{t}\n" for t in TAGGED))
    tag = transformers.pipeline("token-classification", model=str(best_model(tagger_run)),
                                aggregation_strategy="first", device="cpu")
    found = 0
    for mine, text in zip(ours, TAGGED):
        theirs = tag(text)
        assert [(e["start"], e["end"], e["type"]) for e in mine["entities"]] == \
               [(e["start"], e["end"], e["entity_group"]) for e in theirs]
        for e, hf in zip(mine["entities"], theirs):
            assert e["text"] == text[hf["start"]:hf["end"]] and e["score"] == pytest.approx(float(hf["score"]), abs=1e-4)
        found += len(theirs)
    assert found > 0  # the comparison is of entities, not of two empty lists


def test_question_answerer_in_auto_model_for_question_answering(qa_run, tmp_path):
    ours = bert_predict(qa_run, tmp_path, "questions.jsonl", "".join(json.dumps(q) + "\n" for q in QUESTIONS))
    folder = best_model(qa_run)
    model = transformers.AutoModelForQuestionAnswering.from_pretrained(folder).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    longest = Decoding().max_answer_length
    for mine, q in zip(ours, QUESTIONS):
        encoded = tokenizer(q["question"], q["context"], return_offsets_mapping=True, return_tensors="pt")
        offsets = encoded.pop("offset_mapping")[0].tolist()
        assert len(offsets) <= 64  # one window of the run's 64 tokens: nothing to stitch together
        with torch.no_grad():
            out = model(**encoded)
        context = [i for i, s in enumerate(encoded.sequence_ids(0)) if s == 1]
        score, start, end = max((out.start_logits[0, i] + out.end_logits[0, j], i, j)
                                for i in context for j in context if 0 <= j - i < longest)
        span = (offsets[start][0], offsets[end][1])
        assert (mine["start"], mine["end"]) == span and mine["answer"] == q["context"][span[0]:span[1]]
        assert mine["score"] == pytest.approx(score.item(), abs=1e-3)
