"""Token classification on the user's own tagged files (`bert-finetune --task ner --train-file ...`).

Two layouts, told apart by the file's name:

    .jsonl / .json   JSON lines, one sentence an object:  {"tokens": ["Aspirin", "eases", "pain"],
                                                           "tags": ["B-DRUG", "O", "B-SYMPTOM"]}
                     (a .json file holding one JSON list of such objects is read too)
    anything else    CoNLL columns: a word a line, the word first and its tag last (columns between are
                     ignored), a blank line between sentences, `-DOCSTART-` lines skipped

The labels are the training file's: its entity types, any names and any number, sorted, each as B- and I-.
Tags follow one of three schemes, given by --tag-scheme or, with `auto`, read off the training file:

    iob1    I-X inside an entity; B-X only where an entity follows another of type X   (CoNLL-2003's files)
    iob2    B-X begins every entity, I-X continues it                                    (also called BIO)
    bioes   B-X begins, I-X continues, E-X ends a longer entity; S-X is an entity of one word

auto picks bioes if any tag is E- or S-, iob1 if an I- tag begins an entity somewhere, iob2 otherwise; then
every tag of every file must follow that scheme: a tag that breaks it (mixed schemes) or is not O / B-X /
I-X (/ E-X / S-X) is an InputError naming the file, the line and the tag, as is a validation or test tag
whose entity type the training file never has. Whatever the scheme, the model trains on IOB2 tags (the
same entities, finetune/token/conll.py says why) and its predictions are written and scored in IOB2.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from finetune.table_files import read_utf8
from finetune.token.conll import DOCSTART, Sentence, TokenTask, TokenTaskData, to_iob2

OWN_FILES_TASK = "ner"  # --task ner: the user's own files
TAG_SCHEMES = ("auto", "iob1", "iob2", "bioes")
PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES"}
JSON_SUFFIXES = (".jsonl", ".json")


@dataclass(frozen=True)
class TaggedSentence:
    """A sentence as the file gives it: words, their tags, and the file line of each word."""

    words: list[str]
    tags: list[str]
    lines: list[int]


# ---------------------------------------------------------------- reading the two layouts

def read_tagged_file(path: Path) -> list[TaggedSentence]:
    """The sentences of a tagged file, in either layout; a malformed line is an InputError naming it."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    text = read_utf8(path)
    sentences = read_json_lines(path, text) if path.suffix.lower() in JSON_SUFFIXES else read_columns(path, text)
    if not sentences:
        raise InputError(f"{path}: no sentences in the file")
    return sentences


def read_columns(path: Path, text: str) -> list[TaggedSentence]:
    sentences, words, tags, lines = [], [], [], []
    for line_no, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:  # a sentence (or a document) ends here
            if words:
                sentences.append(TaggedSentence(words, tags, lines))
            words, tags, lines = [], [], []
            continue
        if len(fields) < 2:
            raise InputError(f"{path}:{line_no}: expected a word and its tag (the word first, the tag last), "
                             f"found {line.strip()!r}")
        words.append(fields[0])
        tags.append(fields[-1])
        lines.append(line_no)
    if words:
        sentences.append(TaggedSentence(words, tags, lines))
    return sentences


def read_json_lines(path: Path, text: str) -> list[TaggedSentence]:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" and stripped.startswith("["):  # one JSON list of objects
        try:
            rows = list(enumerate(json.loads(text), start=1))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    else:
        rows = []
        for line_no, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((line_no, json.loads(line)))
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{line_no}: not a JSON object ({e.msg})") from None
    sentences = []
    for line_no, row in rows:
        words, tags = json_sentence(path, line_no, row)
        if words and words[0] != DOCSTART:
            sentences.append(TaggedSentence(words, tags, [line_no] * len(words)))
    return sentences


def json_sentence(path: Path, line_no: int, row) -> tuple[list[str], list[str]]:
    """One JSON row's tokens and tags (`tags`, or `ner_tags` where they are tag names)."""
    where = f"{path}:{line_no}"
    if not isinstance(row, dict) or "tokens" not in row or not ({"tags", "ner_tags"} & set(row)):
        raise InputError(f"{where}: expected an object with \"tokens\" and \"tags\" lists")
    words, tags = row["tokens"], row.get("tags", row.get("ner_tags"))
    for name, values in (("tokens", words), ("tags", tags)):
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"{where}: \"{name}\" must be a list of strings"
                             + (" (tag names, not ids)" if name == "tags" else ""))
    if len(words) != len(tags):
        raise InputError(f"{where}: {len(words)} tokens but {len(tags)} tags")
    return words, tags


# ---------------------------------------------------------------- tag schemes

def scheme_source(scheme: str, detected: bool) -> str:
    """Where the scheme came from, for messages."""
    return f"the training file's tags read as {scheme}; --tag-scheme names another" if detected \
        else f"--tag-scheme {scheme}"


def split_tag(path: Path, line: int, tag: str, scheme: str, detected: bool = False) -> tuple[str, str]:
    """("B", "DRUG") for "B-DRUG", ("O", "") for "O"; a tag outside the scheme ("auto": any of them) is an
    InputError."""
    if tag == "O":
        return "O", ""
    prefix, dash, kind = tag.partition("-")
    allowed = PREFIXES["bioes" if scheme == "auto" else scheme]
    if not dash or not kind or len(prefix) != 1 or prefix not in allowed:
        forms = ", ".join(f"{p}-TYPE" for p in allowed)
        raise InputError(f"{path}:{line}: tag {tag!r} is neither O nor {forms}"
                         + ("" if scheme == "auto" else f" ({scheme_source(scheme, detected)})"))
    return prefix, kind


def detect_scheme(path: Path, sentences: list[TaggedSentence]) -> str:
    """auto: bioes if an E- or S- tag appears, iob1 if an I- tag begins an entity, else iob2."""
    begins_with_inside = False
    for sentence in sentences:
        previous = ("O", "")
        for tag, line in zip(sentence.tags, sentence.lines):
            prefix, kind = split_tag(path, line, tag, "auto")
            if prefix in "ES":
                return "bioes"
            begins_with_inside |= prefix == "I" and previous[1] != kind
            previous = (prefix, kind)
    return "iob1" if begins_with_inside else "iob2"


def check_scheme(path: Path, sentence: TaggedSentence, scheme: str, detected: bool = False) -> None:
    """Every tag of the sentence follows `scheme`, or an InputError names the first that does not (`detected`:
    the scheme was read off the training file, which the message says)."""
    how = scheme_source(scheme, detected)
    open_kind = None  # the type of the entity the tags are inside, None outside one
    for position, (tag, line) in enumerate(zip(sentence.tags, sentence.lines)):
        prefix, kind = split_tag(path, line, tag, scheme, detected)
        problem = None
        if scheme == "iob2" and prefix == "I" and open_kind != kind:
            problem = "begins an entity, but in IOB2 every entity begins with B-"
        elif scheme == "iob1" and prefix == "B" and open_kind != kind:
            problem = "follows no entity of its type, but in IOB1 B- only separates two of one type (an entity " \
                      "begins with I-): IOB1 and IOB2 mixed"
        elif scheme == "bioes":
            if prefix in "IE" and open_kind != kind:
                problem = f"continues no entity of type {kind} (BIOES begins one with B-)"
            elif prefix in "BSO" and open_kind is not None:
                problem = f"comes before the {open_kind} entity begun with B- was ended with E-"
        if problem:
            raise InputError(f"{path}:{line}: tag {tag!r} {problem} ({how})")
        open_kind = kind if prefix in "BI" else None  # O, and BIOES' E- and S-, close an entity
        if position == len(sentence.tags) - 1 and scheme == "bioes" and open_kind is not None:
            raise InputError(f"{path}:{line}: the sentence ends inside the {open_kind} entity begun with B-: "
                             f"BIOES ends one with E- ({how})")


def iob2_tags(tags: list[str], scheme: str) -> list[str]:
    """The same entities in IOB2: IOB1's entity-opening I- become B-; BIOES' S- is B-, E- is I-."""
    if scheme == "iob1":
        return to_iob2(tags)
    if scheme == "bioes":
        return [{"S": "B", "E": "I"}.get(tag[0], tag[0]) + tag[1:] if tag != "O" else tag for tag in tags]
    return list(tags)


# ---------------------------------------------------------------- the task

def load_tagged_files(train_file: Path | None, validation_file: Path, test_file: Path | None,
                      tag_scheme: str = "auto",
                      model_labels: tuple[str, ...] = ()) -> tuple[TokenTask, TokenTaskData, str]:
    """The task (its entity types read from the training file), its sentences in IOB2, and the scheme read.
    Without a training file (--eval-only) the types are those of `model_labels` (a fine-tuned tagger's
    IOB2 labels) and the scheme is read off the validation file."""
    if train_file is None:
        reference, train = validation_file, []
        kinds = sorted({label[2:] for label in model_labels if label != "O"})
        scheme = detect_scheme(validation_file, read_tagged_file(validation_file)) if tag_scheme == "auto" \
            else tag_scheme
    else:
        reference, train = train_file, read_tagged_file(train_file)
        scheme = detect_scheme(train_file, train) if tag_scheme == "auto" else tag_scheme
        for sentence in train:
            check_scheme(train_file, sentence, scheme, tag_scheme == "auto")
        kinds = sorted({tag[2:] for sentence in train for tag in sentence.tags if tag != "O"})
    if not kinds:
        raise InputError(f"{reference}: every tag is O, so there are no entity types to learn")
    task = TokenTask(name="ner", entity_types=tuple(kinds))

    def sentences(path: Path, raw: list[TaggedSentence]) -> list[Sentence]:
        for sentence in raw:
            for tag, line in zip(sentence.tags, sentence.lines):
                if tag != "O" and split_tag(path, line, tag, scheme, tag_scheme == "auto")[1] not in kinds:
                    where = f"the training file {train_file}" if train_file else "the model"
                    raise InputError(f"{path}:{line}: tag {tag!r} was never seen in training: {where} has no "
                                     f"{tag[2:]} entity (its types: {', '.join(kinds)})")
            check_scheme(path, sentence, scheme, tag_scheme == "auto")
        return [Sentence(s.words, iob2_tags(s.tags, scheme)) for s in raw]

    data = TokenTaskData(train=sentences(train_file, train) if train else [],
                         dev=sentences(validation_file, read_tagged_file(validation_file)),
                         test=sentences(test_file, read_tagged_file(test_file)) if test_file else None)
    return task, data, scheme
