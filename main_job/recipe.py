"""A recipe: one run of the main job as a TOML file (recipes/*.toml), read and checked before anything runs.

    work-dir = "runs/main"                    # where every step writes (default: runs/<recipe name>)

    [data]
    corpus = "wikitext/wikitext-103-raw-v1"   # what bert-pretrain --corpus takes: files, folders, Hub names
    glue-dir = "../shared/data/glue"          # GLUE in the TSV layout; left out: nyu-mll/glue from the Hub
    ner-dir = "../shared/data/ner"            # CoNLL-2003, for conll2003 in the tasks; left out: the Hub

    [vocabulary]
    size = 8192                               # WordPiece tokens, trained on the corpus

    [pretrain.phases.mlm]                     # the phases run in the order written; each after the first
    text = "corpus"                           #   starts from the previous one's model. text: "corpus", or
    time-budget = "80m"                       #   "task-text": the tasks' training sentences, labels left out
    preset = "mini"                           # any other key is a bert-pretrain flag, spelt as on the command
    lr = 1e-3                                 #   line: `no-nsp = true` is --no-nsp, `no-nsp = false` leaves
    no-nsp = true                             #   it out (preset: the first phase's only)

    [finetune]
    tasks = ["sst2", "cola", "mrpc"]          # GLUE tasks, and conll2003
    seeds = [1, 2, 3]                         # one fine-tune each; the table shows the median and the range
    epochs = 5                                # any other key is a bert-finetune flag

    [finetune.sst2]                           # a task's own flags, over [finetune]'s, for that task alone
    max-train-examples = 10000                #   (named under the table when the job prints it)

    [baseline]
    no-pretraining = true                     # also fine-tune the first phase's preset from random weights

    [probe]                                   # optional: in every phase, a quick fine-tune of the current
    task = "sst2"                             #   weights on a GLUE task every `every` of training
    every = "10m"                             #   (bert-pretrain --probe, pretrain/probe.py; the data:
    examples = 2000                           #   [data] glue-dir), once per seed, for `epochs`
    seeds = [1, 2, 3]                         #   at `lr`
    epochs = 1
    lr = 1e-4
    max-grad-norm = 0                         #   clipping (0: none; default: the task family's)

Each phase's keys become the `PretrainOptions` that bert-pretrain would run with, and the fine-tuning keys the
`FinetuneOptions` of each task, checked as those commands check them: a misspelt key or a bad value fails
here, in a second, not after hours of pretraining. Every complaint is a `RecipeError` of one line that names
the file, the table and the key.
"""

from __future__ import annotations

import difflib
import tomllib
import typing
from dataclasses import dataclass, fields
from pathlib import Path

from finetune import FinetuneOptions
from finetune.sentence.tasks import get_task
from finetune.registry import family_of_task
from finetune.token.conll import get_token_task, is_token_task
from pretrain import PretrainOptions
from bert.errors import InputError
from training.option_checks import flag

PHASE_TEXTS = ("corpus", "task-text")

PRECISION = "precision is the machine's, not the recipe's: pass bert-main --precision"

# bert-pretrain flags the job sets itself, and where a recipe says what they would say
PRETRAIN_FLAGS_OF_THE_JOB = {
    "corpus": "a phase reads [data] corpus, or the tasks' text with text = \"task-text\"",
    "corpus-split": "set it in [data]",
    "corpus-column": "set it in [data]",
    "vocab": "every phase uses the job's vocabulary ([vocabulary] size)",
    "vocab-size": "set it in [vocabulary] as size",
    "cased": "the job's vocabulary is lowercased",
    "output": "a phase writes to <work-dir>/pretrained-<phase>",
    "init-from": "each phase after the first starts from the previous phase's model",
    "resume": "the job always resumes an unfinished phase",
    "overwrite": "the job always resumes an unfinished phase",
    "probe": "set it in [probe] as task", "probe-every": "set it in [probe] as every",
    "probe-examples": "set it in [probe] as examples", "probe-data": "a probe reads [data] glue-dir",
    "probe-seeds": "set it in [probe] as seeds", "probe-epochs": "set it in [probe] as epochs",
    "probe-lr": "set it in [probe] as lr", "probe-max-grad-norm": "set it in [probe] as max-grad-norm",
    "precision": PRECISION, "bf16": PRECISION, "no-bf16": PRECISION,
}

# bert-finetune flags the job sets itself
FINETUNE_FLAGS_OF_THE_JOB = {
    "task": "list the tasks in [finetune] tasks",
    "model": "the job fine-tunes its last phase's model (and the baseline's random one)",
    "output": "a fine-tune writes to <work-dir>/<task>-ours and <work-dir>/<task>-no-pretraining",
    "data-dir": "set [data] glue-dir or ner-dir",
    "vocab": "the baseline uses the job's vocabulary",
    "train-file": "the main job fine-tunes named tasks ([finetune] tasks), not your own files",
    "validation-file": "the main job fine-tunes named tasks ([finetune] tasks), not your own files",
    "test-file": "the main job fine-tunes named tasks ([finetune] tasks), not your own files",
    "resume": "the job reuses a finished fine-tune and reruns any other",
    "overwrite": "the job reuses a finished fine-tune and reruns any other",
    "precision": PRECISION, "bf16": PRECISION, "no-bf16": PRECISION,
}


class RecipeError(InputError):
    """A recipe that cannot run: one line naming the file, the table and the key."""


@dataclass
class Phase:
    """One pretraining phase: its name (the table's), what it reads, and its own bert-pretrain flags."""

    name: str
    text: str  # "corpus" or "task-text"
    flags: list[str]
    time_budget: float | None  # seconds, or None for a phase of --max-steps
    max_steps: int | None


@dataclass
class Recipe:
    """A recipe file, checked: everything the job's steps are built from."""

    work_dir: Path
    corpus_flags: list[str]  # --corpus and, where the recipe gives them, --corpus-split / --corpus-column
    glue_dir: Path | None  # None: the Hub
    ner_dir: Path | None
    vocab_size: int
    phases: list[Phase]
    probe_flags: list[str]  # bert-pretrain's --probe flags, for every phase (none: no probe)
    preset: str  # the first phase's model size, which the baseline fine-tunes from random weights
    tasks: list[str]
    seeds: list[int]
    finetune_flags: list[str]
    baseline: bool
    task_flags: dict[str, list[str]]  # a task's own bert-finetune flags ([finetune.TASK]), after finetune_flags

    def glue_tasks(self) -> list[str]:
        """The GLUE tasks among the tasks: those whose training text a "task-text" phase reads."""
        return [task for task in self.tasks if family_of_task(task).name == "sentence"]


def load_recipe(path: Path, settings: list[str] = ()) -> Recipe:
    """Read a recipe, apply `--set table.key=value` settings in order, and check all of it."""
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise RecipeError(f"{path}: cannot read it ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: not valid TOML ({e})") from None
    for setting in settings:
        apply_setting(table, setting, path)
    return check_recipe(table, path)


def apply_setting(table: dict, setting: str, path: Path) -> None:
    """`--set pretrain.phases.mlm.lr=3e-4`: the value in TOML syntax (3e-4, [1, 2], "text"); a value that is not
    TOML is taken as a string, so `--set data.corpus=../shared/data/corpus` needs no quotes."""
    keys, equals, text = setting.partition("=")
    if not equals or not keys.strip():
        raise RecipeError(f"{path}: --set {setting!r}: expected TABLE.KEY=VALUE, e.g. finetune.lr=3e-4")
    *tables, key = keys.strip().split(".")
    for name in tables:
        table = table.setdefault(name, {})
        if not isinstance(table, dict):
            raise RecipeError(f"{path}: --set {setting!r}: '{name}' is a value, not a table")
    table[key] = toml_value(text.strip())


def toml_value(text: str):
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def check_recipe(table: dict, path: Path) -> Recipe:
    check_keys(table, {"work-dir", "data", "vocabulary", "pretrain", "finetune", "baseline", "probe"}, f"{path}:")
    data, vocabulary = subtable(table, "data", path), subtable(table, "vocabulary", path)
    pretraining, finetuning = subtable(table, "pretrain", path), subtable(table, "finetune", path)
    baseline = subtable(table, "baseline", path)
    check_keys(data, {"corpus", "corpus-split", "corpus-column", "glue-dir", "ner-dir"}, f"{path}: [data]")
    check_keys(vocabulary, {"size"}, f"{path}: [vocabulary]")
    check_keys(pretraining, {"phases"}, f"{path}: [pretrain]")
    check_keys(baseline, {"no-pretraining"}, f"{path}: [baseline]")
    tasks = task_names(finetuning, f"{path}: [finetune]")
    probe = probe_flags(subtable(table, "probe", path), f"{path}: [probe]")
    phases, preset = check_phases(subtable(pretraining, "phases", path, "pretrain.phases"), tasks, probe, path)
    return Recipe(
        work_dir=Path(value(table, "work-dir", str, f"{path}:", default=f"runs/{path.stem}")),
        corpus_flags=corpus_flags(data, f"{path}: [data]"),
        glue_dir=optional_path(data, "glue-dir", f"{path}: [data]"),
        ner_dir=optional_path(data, "ner-dir", f"{path}: [data]"),
        vocab_size=positive(value(vocabulary, "size", int, f"{path}: [vocabulary]"), "size", f"{path}: [vocabulary]"),
        phases=phases,
        probe_flags=probe[0],
        preset=preset,
        tasks=tasks,
        seeds=seed_list(finetuning, f"{path}: [finetune]"),
        finetune_flags=check_finetune_flags(finetuning, tasks, f"{path}: [finetune]"),
        baseline=value(baseline, "no-pretraining", bool, f"{path}: [baseline]", default=True),
        task_flags=task_finetune_flags(finetuning, tasks, path),
    )


# ------------------------------------------------------------------ tables and values

def subtable(table: dict, key: str, path: Path, name: str | None = None) -> dict:
    """table[key] as a table; absent means empty (the keys it must hold are checked by whoever reads them)."""
    found = table.get(key, {})
    if not isinstance(found, dict):
        raise RecipeError(f"{path}: '{name or key}' should be a table, [{name or key}]")
    return found


def check_keys(table: dict, known, where: str) -> None:
    for key in table:
        if key not in known:
            raise unknown_key(where, key, known)


def unknown_key(where: str, key: str, known) -> RecipeError:
    close = difflib.get_close_matches(key.replace("_", "-"), list(known), n=1)
    return RecipeError(f"{where} unknown key '{key}'" + (f" (did you mean '{close[0]}'?)" if close else ""))


MISSING = object()


def value(table: dict, key: str, kind: type | tuple[type, ...], where: str, default=MISSING):
    """table[key], which must be of `kind` (TOML's booleans are not integers here)."""
    if key not in table:
        if default is MISSING:
            raise RecipeError(f"{where} missing key '{key}'")
        return default
    found = table[key]
    if not isinstance(found, kind) or (kind is int and isinstance(found, bool)):
        kinds = kind if isinstance(kind, tuple) else (kind,)
        raise RecipeError(f"{where} '{key}' should be {' or '.join(KIND_NAMES[k] for k in kinds)}, not {found!r}")
    return found


KIND_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "a list"}


def positive(number: int, key: str, where: str) -> int:
    if number < 1:
        raise RecipeError(f"{where} '{key}' should be at least 1, not {number}")
    return number


def optional_path(table: dict, key: str, where: str) -> Path | None:
    found = value(table, key, str, where, default=None)
    return Path(found) if found is not None else None


def corpus_flags(data: dict, where: str) -> list[str]:
    """--corpus (one source or a list of them) and, where the recipe gives them, --corpus-split / -column."""
    corpus = value(data, "corpus", (str, list), where)
    sources = [corpus] if isinstance(corpus, str) else corpus
    if not sources or not all(isinstance(source, str) for source in sources):
        raise RecipeError(f"{where} 'corpus' should be a string or a list of strings (files, folders, Hub "
                          f"names), not {corpus!r}")
    flags = ["--corpus", *sources]
    for key in ("corpus-split", "corpus-column"):
        if key in data:
            flags += [f"--{key}", value(data, key, str, where)]
    return flags


def task_names(finetuning: dict, where: str) -> list[str]:
    names = value(finetuning, "tasks", list, where)
    if not names or not all(isinstance(name, str) for name in names):
        raise RecipeError(f"{where} 'tasks' should be a list of task names, e.g. [\"cola\", \"mrpc\"]")
    try:
        return [main_job_task(name) for name in names]
    except InputError as e:
        raise RecipeError(f"{where} tasks: {e}") from None


def main_job_task(name: str) -> str:
    """A task's own spelling of its name; the main job fine-tunes GLUE tasks and CoNLL-2003 ([data] glue-dir,
    ner-dir), whose data it can find."""
    family = family_of_task(name).name
    if family == "sentence":
        return get_task(name).name
    if family == "token" and is_token_task(name):
        return get_token_task(name).name
    raise InputError(f"{name} reads files of its own: the main job fine-tunes GLUE tasks and conll2003")


def seed_list(table: dict, where: str) -> list[int]:
    seeds = value(table, "seeds", list, where, default=[1])
    integers = all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds)
    if not seeds or not integers or len(set(seeds)) < len(seeds):
        raise RecipeError(f"{where} 'seeds' should be a list of different integers, e.g. [1, 2, 3], not {seeds!r}")
    return seeds


# ------------------------------------------------------------------ a command's flags from a table

@dataclass(frozen=True)
class CommandOptions:
    """How a table's keys are a command's flags and its options' fields: a key is the flag without its dashes
    and, dashes as underscores, the field (`lr`, `max-grad-norm`), but for the flags in `renamed`, each a
    (field, inverted) pair: `no-nsp = true` is nsp=False."""

    options: type
    set_by_the_job: dict[str, str]
    renamed: dict[str, tuple[str, bool]]
    not_flags: tuple[str, ...] = ()  # fields no flag sets

    def fields_of_keys(self) -> dict[str, tuple[str, bool]]:
        renamed_fields = {name for name, _ in self.renamed.values()}
        direct = {flag(f.name): (f.name, False) for f in fields(self.options)
                  if f.name not in renamed_fields and f.name not in self.not_flags}
        return direct | self.renamed


PRETRAIN = CommandOptions(PretrainOptions, PRETRAIN_FLAGS_OF_THE_JOB,
                          renamed={"config": ("config_file", False), "no-nsp": ("nsp", True),
                                   "no-progress": ("progress", True), "cased": ("lowercase", True)})
FINETUNE = CommandOptions(FinetuneOptions, FINETUNE_FLAGS_OF_THE_JOB, renamed={}, not_flags=("progress",))


def command_flags(table: dict, command: CommandOptions, where: str) -> tuple[list[str], dict]:
    """The table's keys as the command's flags (`lr = 1e-3` is --lr 0.001, a list gives a flag several values,
    and a switch takes true: the flag is given, or false: it is left out) and as its options' fields."""
    known, hints = command.fields_of_keys(), typing.get_type_hints(command.options)
    flags, values = [], {}
    for key, given in table.items():
        if key in command.set_by_the_job:
            raise RecipeError(f"{where} '{key}' is set by the job: {command.set_by_the_job[key]}")
        if key not in known:
            raise unknown_key(where, key, known.keys() - command.set_by_the_job.keys())
        name, inverted = known[key]
        if hints[name] is bool:  # a switch
            if not isinstance(given, bool):
                raise RecipeError(f"{where} '{key}' is a switch: true or false, not {given!r}")
            flags += [f"--{key}"] if given else []
            values[name] = given != inverted
        elif isinstance(given, (bool, dict)):
            raise RecipeError(f"{where} '{key}' takes a value, not {given!r}")
        else:
            flags += [f"--{key}", *map(flag_value, given if isinstance(given, list) else [given])]
            values[name] = given
    return flags, values


def flag_value(given) -> str:
    """A TOML value as the command line writes it: 1e-3 as 0.001, 0.0 as 0."""
    return f"{given:g}" if isinstance(given, float) else str(given)


def build_options(options: type, values: dict, where: str):
    """The options a step's command will run with, checked as the command checks them."""
    try:
        return options(**values)
    except InputError as e:
        raise RecipeError(f"{where} {e}") from None


# ------------------------------------------------------------------ the phases and the fine-tuning

def probe_flags(probe: dict, where: str) -> tuple[list[str], dict]:
    """[probe] as bert-pretrain's --probe flags and options (checked with each phase's); an empty table: no
    probe."""
    check_keys(probe, {"task", "every", "examples", "seeds", "epochs", "lr", "max-grad-norm"}, where)
    if not probe:
        return [], {}
    task = value(probe, "task", str, where)
    try:
        get_task(task)
    except InputError as e:
        raise RecipeError(f"{where} task: {e}") from None
    flags, values = ["--probe", task], {"probe": task}
    if "every" in probe:
        flags += ["--probe-every", value(probe, "every", str, where)]
        values["probe_every"] = flags[-1]
    if "examples" in probe:
        values["probe_examples"] = value(probe, "examples", int, where)
        flags += ["--probe-examples", str(values["probe_examples"])]
    if "epochs" in probe:
        values["probe_epochs"] = value(probe, "epochs", int, where)
        flags += ["--probe-epochs", str(values["probe_epochs"])]
    if "lr" in probe:
        values["probe_lr"] = value(probe, "lr", (int, float), where)
        flags += ["--probe-lr", flag_value(values["probe_lr"])]
    if "max-grad-norm" in probe:
        values["probe_max_grad_norm"] = value(probe, "max-grad-norm", (int, float), where)
        flags += ["--probe-max-grad-norm", flag_value(values["probe_max_grad_norm"])]
    if "seeds" in probe:
        values["probe_seeds"] = seed_list(probe, where)
        flags += ["--probe-seeds", ",".join(map(str, values["probe_seeds"]))]
    return flags, values


def check_phases(tables: dict, tasks: list[str], probe: tuple[list[str], dict],
                 path: Path) -> tuple[list[Phase], str]:
    """The phases in the order written, each checked as bert-pretrain would check it (with the probe's
    flags); and the model size (the first phase's --preset)."""
    if not tables:
        raise RecipeError(f"{path}: no pretraining phase: add a table [pretrain.phases.NAME]")
    phases, preset = [], None
    for name, table in tables.items():
        where = f"{path}: [pretrain.phases.{name}]"
        if not isinstance(table, dict):
            raise RecipeError(f"{path}: 'pretrain.phases.{name}' should be a table, [pretrain.phases.{name}]")
        keys = {key: given for key, given in table.items() if key != "text"}
        text = value(table, "text", str, where, default="corpus")
        if text not in PHASE_TEXTS:
            raise RecipeError(f"{where} 'text' should be one of {', '.join(PHASE_TEXTS)}, not {text!r}")
        if text == "task-text" and not any(family_of_task(task).name == "sentence" for task in tasks):
            raise RecipeError(f"{where} text = \"task-text\" reads the GLUE tasks' training text, and [finetune] "
                              "tasks names none")
        if phases and "preset" in keys:
            raise RecipeError(f"{where} 'preset' is the first phase's: a later phase continues the previous model")
        flags, values = command_flags(keys, PRETRAIN, where)
        # the options the phase will run with (its corpus, output and init_from are the job's)
        options = build_options(PretrainOptions, {"corpus": ["CORPUS"], "output": "OUTPUT", **values, **probe[1]},
                                where)
        phases.append(Phase(name, text, flags, options.time_budget, options.max_steps))
        preset = preset or options.preset
    return phases, preset


def shared_finetune_keys(finetuning: dict) -> dict:
    """[finetune]'s bert-finetune keys: all but tasks, seeds and the tasks' own tables."""
    return {key: given for key, given in finetuning.items()
            if key not in ("tasks", "seeds") and not isinstance(given, dict)}


def check_finetune_flags(finetuning: dict, tasks: list[str], where: str) -> list[str]:
    """The bert-finetune flags of every fine-tune, checked for each task as bert-finetune would check them."""
    flags, values = command_flags(shared_finetune_keys(finetuning), FINETUNE, where)
    for task in tasks:
        build_options(FinetuneOptions, {"task": task, "model": "MODEL", "output": "OUTPUT", **values}, where)
    return flags


def task_finetune_flags(finetuning: dict, tasks: list[str], path: Path) -> dict[str, list[str]]:
    """Each [finetune.TASK] table: that task's own flags, checked with [finetune]'s beneath them."""
    _, shared = command_flags(shared_finetune_keys(finetuning), FINETUNE, f"{path}: [finetune]")
    own = {}
    for name, table in finetuning.items():
        if not isinstance(table, dict):
            continue
        where = f"{path}: [finetune.{name}]"
        if name not in tasks:
            raise RecipeError(f"{where} names no task of [finetune] tasks ({', '.join(tasks)}): a table there "
                              "holds one task's own flags")
        own[name], values = command_flags(table, FINETUNE, where)
        build_options(FinetuneOptions, {"task": name, "model": "MODEL", "output": "OUTPUT", **shared, **values},
                      where)
    return own
