"""Sentence(-pair) classification's entry in the family registry (finetune/registry.py): its checks of the
options, how its task family is built from them (a GLUE task, or the user's own files), its predictor."""

from __future__ import annotations

from finetune.checkpoint import ModelSource, build_classifier
from finetune.data import encode_split, subsample
from finetune.family import Family
from finetune.sentence.family import EncodedTask, SentenceClassification
from finetune.sentence.file_task import load_file_task
from finetune.sentence.predict import TextClassifier
from finetune.sentence.tasks import GlueTask, TaskData, get_task, load_task_data
from finetune.token.entry import TASK_NAMES as TOKEN_TASKS
from bert.errors import InputError


def check_options(options) -> None:
    """What a sentence task cannot take: the other families' flags; where its data comes from."""
    if options.label_all_tokens:
        raise InputError(f"--label-all-tokens is for token tasks ({', '.join(TOKEN_TASKS)}), not "
                         f"{options.task or 'sentence classification'}")
    if options.max_eval_examples is not None:
        raise InputError("--max-eval-examples is for --task squad")
    if options.tag_scheme != "auto":
        raise InputError("--tag-scheme is for --task ner (your own tagged files)")
    given_files = [f"--{name.replace('_', '-')}" for name in ("train_file", "validation_file", "test_file")
                   if getattr(options, name) is not None]
    if options.task is None and options.train_file is None and not (options.eval_only and options.validation_file):
        raise InputError("give --task (a GLUE task) or --train-file and --validation-file (your own data)")
    if options.task is not None and given_files:
        raise InputError(f"--task {options.task} reads GLUE's files; leave --task out to fine-tune on "
                         f"{given_files[0]}")
    if options.task is None and options.data_dir is not None:
        raise InputError("--data-dir is GLUE's folder, for --task; --train-file needs no --data-dir")
    if options.task is not None:
        get_task(options.task)  # an unknown task fails here, before anything is read


def load_data(options, model_config) -> tuple[GlueTask, TaskData]:
    """The task and its examples: GLUE's (--task, from --data-dir or the Hub), or the user's own files."""
    if options.task is None:
        return load_file_task(options, model_config)
    task = get_task(options.task)
    return task, load_task_data(task, options.data_dir)


def encode_task(tokenizer, data: TaskData, task: GlueTask, max_length: int, show_progress: bool) -> EncodedTask:
    def encode(examples, name):
        return encode_split(tokenizer, task, examples, max_length, desc=f"tokenising {name}",
                            show_progress=show_progress)

    return EncodedTask(
        train=encode(data.train, "train"),
        dev={name: encode(examples, name) for name, examples in data.dev.items()},
        test={name: encode(examples, name) for name, examples in data.test.items()},
    )


def build_family(options, recipe, source: ModelSource, tokenizer,
                 show_progress: bool) -> tuple[SentenceClassification, str]:
    """A GLUE task or the user's files: the family and a line saying what it holds."""
    task, data = load_data(options, source.config)
    subsample(data, options.max_train_examples)
    if not data.train and not options.eval_only:
        raise InputError(f"{task.name}: the training split is empty")
    build_classifier(source, task)  # loads the weights once, so a broken checkpoint fails here
    encoded = encode_task(tokenizer, data, task, recipe.max_seq_length, show_progress)
    what = f"{task.name}: {len(data.train)} training examples, " + ", ".join(
        f"{len(split)} {name}" for name, split in data.dev.items())
    return SentenceClassification(task, encoded, recipe.eval_batch_size, tokenizer.pad_token_id), what


FAMILY = Family(name="sentence", head="SequenceClassification", owns_task=lambda task: True,
                check_options=check_options, build=build_family, predictor=TextClassifier.for_model,
                benchmark="GLUE")
