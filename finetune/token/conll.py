"""CoNLL-2003 named-entity recognition: the task, its files, and the tag scheme we train on.

The shared task's files (Tjong Kim Sang and De Meulder 2003) hold one token a line, `word POS chunk NER`,
a blank line between sentences and a `-DOCSTART- -X- -X- O` line at the start of each news article:

    EU NNP I-NP I-ORG
    rejects VBZ I-VP O
    German JJ I-NP I-MISC

Their NER tags are IOB1: an entity's words are all `I-TYPE`, and `B-TYPE` appears only where an entity
follows another of the same type with nothing between them. We train on IOB2 (BIO), where every entity
starts with `B-`: the first word of an entity is then always the same label, whatever came before it.
Converting loses nothing: both schemes mark the same entities (finetune/token/entities.py reads either).

Data comes from `--data-dir` (a folder with train.txt, dev.txt and test.txt, or one holding conll2003/
with them) or, without it, from the Hugging Face Hub (`eriktks/conll2003`). CoNLL's test labels are
public, so the test split is scored too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bert.errors import InputError
from bert.files import atomic_write
from finetune.table_files import read_utf8

DOCSTART = "-DOCSTART-"


@dataclass(frozen=True)
class TokenTask:
    """A token-classification task: its entity types, so its labels, and where a named task's data lives (the
    user's own files, finetune/token/tagged_files.py, have no folder or Hub copy).

    labels: the IOB2 tags in a fixed order, "O" first, then B- and I- of each type: a tag's position is
    its label id, written to config.json as id2label. This is also the Hub dataset's order. A tagger
    fine-tuned elsewhere may number the same tags otherwise: `model_order` then holds its id2label's order,
    which scoring it (--eval-only) must read its outputs by.
    """

    name: str
    entity_types: tuple[str, ...]
    folder: str = ""  # a named task's folder inside --data-dir (also accepted: --data-dir is that folder)
    hub_dataset: str = ""  # a named task's copy on the Hub
    fields: tuple[str, ...] = ("word", "POS", "chunk", "NER")  # the columns of a line; the tag is the last
    main_metric: str = "f1"  # entity-level F1 on dev picks the best epoch
    model_order: tuple[str, ...] = ()  # a fine-tuned tagger's own order of the labels; () for the fixed one

    @property
    def labels(self) -> tuple[str, ...]:
        return self.model_order or ("O",) + tuple(f"{prefix}-{kind}" for kind in self.entity_types
                                                  for prefix in ("B", "I"))

    @property
    def num_labels(self) -> int:
        return len(self.labels)


CONLL2003 = TokenTask(name="conll2003", folder="conll2003", hub_dataset="eriktks/conll2003",
                      entity_types=("PER", "ORG", "LOC", "MISC"))
TOKEN_TASKS = {CONLL2003.name: CONLL2003}


def is_token_task(name: str) -> bool:
    return name.lower() in TOKEN_TASKS


def get_token_task(name: str) -> TokenTask:
    return TOKEN_TASKS[name.lower()]


@dataclass(frozen=True)
class Sentence:
    """Words and their IOB2 tags (None when the sentence is to be tagged, not scored)."""

    words: list[str]
    tags: list[str] | None = None


@dataclass
class TokenTaskData:
    """All the sentences of a token task; test is None when there is no test file."""

    train: list[Sentence]
    dev: list[Sentence]
    test: list[Sentence] | None


def to_iob2(tags: list[str]) -> list[str]:
    """IOB1 (or IOB2) -> IOB2: an `I-X` that begins an entity, after `O` or after another type, becomes `B-X`.

    ["I-PER", "I-PER", "O", "I-LOC", "B-LOC"] -> ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]
    """
    converted = []
    for tag in tags:
        previous = converted[-1] if converted else "O"
        if tag.startswith("I-") and previous[2:] != tag[2:]:  # "O"[2:] is "", never a type
            tag = "B-" + tag[2:]
        converted.append(tag)
    return converted


# ---------------------------------------------------------------- files

def read_conll_file(path: Path, task: TokenTask) -> list[Sentence]:
    """The sentences of one CoNLL file, tags converted to IOB2; a malformed line is an InputError naming it."""
    lines = read_utf8(path).splitlines()
    sentences, words, tags = [], [], []
    for line_no, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields or fields[0] == DOCSTART:  # a sentence (or an article) ends here
            if words:
                sentences.append(Sentence(words, to_iob2(tags)))
            words, tags = [], []
            continue
        if len(fields) != len(task.fields):
            raise InputError(f"{path}:{line_no}: expected {len(task.fields)} space-separated fields "
                             f"({' '.join(task.fields)}), found {len(fields)}")
        if fields[-1] not in task.labels:
            raise InputError(f"{path}:{line_no}: tag {fields[-1]!r} is not one of {task.name}'s tags "
                             f"({', '.join(task.labels)})")
        words.append(fields[0])
        tags.append(fields[-1])
    if words:
        sentences.append(Sentence(words, to_iob2(tags)))
    if not sentences:
        raise InputError(f"{path}: no sentences in the file")
    return sentences


def find_task_folder(task: TokenTask, data_dir: Path) -> Path:
    """`--data-dir` may be the folder with the files or the one above it (../shared/data/ner)."""
    for folder in (data_dir / task.folder, data_dir):
        if (folder / "train.txt").is_file():
            return folder
    raise InputError(f"{data_dir}: no train.txt in it or in {data_dir / task.folder} (--data-dir must hold "
                     f"{task.name}'s train.txt, dev.txt and test.txt, or a {task.folder}/ folder with them)")


def write_conll_predictions(path: Path, sentences: list[Sentence], predicted: list[list[str]]) -> None:
    """`word gold predicted` a line, a blank line after each sentence: what conlleval and seqeval read."""
    lines = []
    for sentence, tags in zip(sentences, predicted):
        lines += [f"{word} {gold} {guess}\n" for word, gold, guess in zip(sentence.words, sentence.tags, tags)]
        lines.append("\n")
    atomic_write(path, lambda tmp: Path(tmp).write_text("".join(lines), encoding="utf-8"))


# ---------------------------------------------------------------- Hugging Face Hub

HUB_SPLITS = {"train": "train", "dev": "validation", "test": "test"}


def read_hub_split(task: TokenTask, split: str) -> list[Sentence]:
    """One split of the Hub copy; its tag ids are mapped through the dataset's own tag names."""
    import datasets  # imported here: users of local files never pay for it

    try:
        rows = datasets.load_dataset(task.hub_dataset, split=HUB_SPLITS[split])
    except Exception as e:  # network, cache or Hub errors all mean the same to the user
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"could not load {task.hub_dataset} split {HUB_SPLITS[split]!r} from the Hugging Face "
                         f"Hub ({reason}); pass --data-dir with the CoNLL files instead") from None
    names = rows.features["ner_tags"].feature.names
    unknown = sorted(set(names) - set(task.labels))
    if unknown:
        raise InputError(f"{task.hub_dataset}: tag(s) {', '.join(unknown)} are not {task.name}'s tags")
    return [Sentence(list(row["tokens"]), to_iob2([names[i] for i in row["ner_tags"]]))
            for row in rows if row["tokens"] and row["tokens"][0] != DOCSTART]


def load_token_task_data(task: TokenTask, data_dir: Path | None) -> TokenTaskData:
    """Every split of `task` from `data_dir` or, if None, the Hub. A missing test.txt leaves test out."""
    if data_dir is None:
        return TokenTaskData(*(read_hub_split(task, split) for split in HUB_SPLITS))
    folder = find_task_folder(task, Path(data_dir))
    test = folder / "test.txt"
    return TokenTaskData(train=read_conll_file(folder / "train.txt", task),
                         dev=read_conll_file(folder / "dev.txt", task),
                         test=read_conll_file(test, task) if test.exists() else None)
