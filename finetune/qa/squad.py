"""SQuAD v1.1 questions, from the official JSON files or from the Hub (`rajpurkar/squad`).

The JSON layout (train-v1.1.json, dev-v1.1.json):

    {"version": "1.1", "data": [{"title": ..., "paragraphs": [
        {"context": "...", "qas": [{"id": "...", "question": "...",
                                    "answers": [{"text": "...", "answer_start": 177}, ...]}]}]}]}

Training questions have one answer, dev questions usually three (one per annotator). Every answer is
checked against its context: `context[answer_start:answer_start + len(text)]` must be `text`, since
training labels and offsets are built from those characters. Anything else wrong with a file (not
JSON, not this layout, a question without answers, a repeated id) is an InputError that names the
file and, where there is one, the question id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from tokenizer.text_files import check_unicode

HUB_DATASET = "rajpurkar/squad"


@dataclass(frozen=True)
class Answer:
    """A gold answer: its text, and where that text starts in the context (a character index)."""

    text: str
    start: int

    @property
    def end(self) -> int:
        """One past the answer's last character."""
        return self.start + len(self.text)


@dataclass(frozen=True)
class QuestionExample:
    """One question about one context. answers: the gold answers (empty for a question to answer)."""

    id: str
    question: str
    context: str
    answers: tuple[Answer, ...]


# ---------------------------------------------------------------- JSON files

def read_squad_file(path: Path) -> list[QuestionExample]:
    """Every question of a SQuAD v1.1 JSON file, in the file's order; each must have an answer."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise InputError(f"{path}: not a SQuAD JSON file (not valid UTF-8 JSON: {e})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise InputError(f'{path}: not a SQuAD JSON file (expected an object with a "data" list of articles)')
    examples = [example for article_no, article in enumerate(document["data"])
                for example in _article_questions(article, f"{path}: article {article_no}")]
    check_questions(examples, str(path))
    return examples


def _article_questions(article, where: str) -> list[QuestionExample]:
    paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
    if not isinstance(paragraphs, list):
        raise InputError(f'{where}: not a SQuAD JSON file (an article needs a "paragraphs" list)')
    examples = []
    for paragraph_no, paragraph in enumerate(paragraphs):
        here = f"{where}, paragraph {paragraph_no}"
        if not (isinstance(paragraph, dict) and isinstance(paragraph.get("context"), str)
                and isinstance(paragraph.get("qas"), list)):
            raise InputError(f'{here}: not a SQuAD JSON file (a paragraph needs a "context" string and a "qas" list)')
        examples += [_question(qa, paragraph["context"], here) for qa in paragraph["qas"]]
    return examples


def _question(qa, context: str, where: str) -> QuestionExample:
    if not (isinstance(qa, dict) and isinstance(qa.get("id"), str) and isinstance(qa.get("question"), str)
            and isinstance(qa.get("answers"), list)):
        raise InputError(f'{where}: not a SQuAD JSON file (a question needs "id" and "question" strings and '
                         f'an "answers" list)')
    answers = []
    for answer in qa["answers"]:
        if not (isinstance(answer, dict) and isinstance(answer.get("text"), str)
                and isinstance(answer.get("answer_start"), int) and not isinstance(answer["answer_start"], bool)):
            raise InputError(f'{where}, question {shown_id(qa["id"])}: an answer needs a "text" string and an '
                             'integer "answer_start"')
        answers.append(Answer(answer["text"], answer["answer_start"]))
    return QuestionExample(qa["id"], qa["question"], context, tuple(answers))


# ---------------------------------------------------------------- Hugging Face Hub

def read_hub_split(split: str) -> list[QuestionExample]:
    """One split ("train" or "validation") of `rajpurkar/squad` through `datasets` (downloads on first use)."""
    rows = _load_hub_rows(split)
    examples = examples_from_hub_rows(rows)
    check_questions(examples, f"{HUB_DATASET} {split}")
    return examples


def examples_from_hub_rows(rows) -> list[QuestionExample]:
    """Hub rows (id, question, context, answers: {"text": [...], "answer_start": [...]}) as examples."""
    return [QuestionExample(row["id"], row["question"], row["context"],
                            tuple(Answer(text, start) for text, start in
                                  zip(row["answers"]["text"], row["answers"]["answer_start"])))
            for row in rows]


def _load_hub_rows(split: str):
    import datasets  # imported here: users of local files never pay for it

    try:
        return datasets.load_dataset(HUB_DATASET, split=split)
    except Exception as e:  # network, cache or Hub errors all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"could not load {HUB_DATASET} split {split!r} from the Hugging Face Hub ({reason}); "
                         "pass --train-file and --validation-file with SQuAD v1.1 JSON files instead") from None


# ---------------------------------------------------------------- both

def check_questions(examples: list[QuestionExample], source: str) -> None:
    """Every question has a unique id and at least one answer, and each answer's text is where it says."""
    if not examples:
        raise InputError(f"{source}: no questions")
    seen = set()
    for example in examples:
        where = f"{source}: question {shown_id(example.id)}"
        if example.id in seen:
            raise InputError(f"{where}: the id appears twice")
        seen.add(example.id)
        check_unicode(example.question, f"{where}: the question")
        check_unicode(example.context, f"{where}: the context")
        if not example.answers:
            raise InputError(f"{where}: no answers (SQuAD v1.1 training and evaluation need at least one per "
                             "question)")
        for answer in example.answers:
            check_answer(example, answer, where)


def shown_id(question_id: str) -> str:
    """A question id as an error message shows it: as is, or quoted where it holds a line break or the like
    (an error is one line)."""
    return question_id if question_id.isprintable() else repr(question_id)


def check_answer(example: QuestionExample, answer: Answer, where: str) -> None:
    if not answer.text.strip():
        raise InputError(f"{where}: an answer is empty")
    found = example.context[answer.start:answer.end] if answer.start >= 0 else ""
    if found != answer.text:
        raise InputError(f"{where}: answer {answer.text!r} is not at answer_start {answer.start} "
                         f"(the context has {found!r} there)")


def load_squad(train_file: Path | None, validation_file: Path | None) -> tuple[list[QuestionExample],
                                                                              list[QuestionExample]]:
    """Training and validation questions: from the two files, or from the Hub when neither is given."""
    if (train_file is None) != (validation_file is None):
        raise InputError("give both --train-file and --validation-file, or neither (for the Hub's "
                         f"{HUB_DATASET})")
    if train_file is None:
        return read_hub_split("train"), read_hub_split("validation")
    return read_squad_file(train_file), read_squad_file(validation_file)
