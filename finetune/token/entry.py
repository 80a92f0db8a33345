"""Token classification's entry in the family registry (finetune/registry.py): its checks of the options,
how its task family is built from them (CoNLL-2003, or the user's own tagged files with --task ner), its
predictor."""

from __future__ import annotations

from dataclasses import replace

from finetune.checkpoint import ModelSource
from finetune.data import subsample
from finetune.family import Family
from finetune.token.conll import TOKEN_TASKS, TokenTask, get_token_task, load_token_task_data
from finetune.token.family import TokenClassification, encode_token_task
from finetune.token.predict import EntityTagger
from finetune.token.tagged_files import OWN_FILES_TASK, TAG_SCHEMES, load_tagged_files
from bert.errors import InputError

TASK_NAMES = (*TOKEN_TASKS, OWN_FILES_TASK)


def owns_task(task: str | None) -> bool:
    return task is not None and task.lower() in TASK_NAMES


def check_options(options) -> None:
    """Where the data comes from: --task ner reads the user's --train-file and --validation-file (and
    --test-file); a named task (conll2003) reads its own folder or the Hub."""
    if options.max_eval_examples is not None:
        raise InputError("--max-eval-examples is for --task squad")
    if options.tag_scheme not in TAG_SCHEMES:
        raise InputError(f"--tag-scheme {options.tag_scheme!r}: choose from {', '.join(TAG_SCHEMES)}")
    files = [f"--{name.replace('_', '-')}" for name in ("train_file", "validation_file", "test_file")
             if getattr(options, name) is not None]
    if options.task.lower() == OWN_FILES_TASK:
        if (options.train_file is None and not options.eval_only) or options.validation_file is None:
            raise InputError(f"--task {OWN_FILES_TASK} trains on your own tagged files: give --train-file and "
                             "--validation-file (JSON lines with tokens and tags, or CoNLL columns)")
        if options.data_dir is not None:
            raise InputError(f"--data-dir is a named task's folder; --task {OWN_FILES_TASK} reads --train-file "
                             "and --validation-file")
        return
    if files:
        raise InputError(f"--task {options.task} reads its own files (--data-dir); for {files[0]}, a tagged "
                         f"file of your own, use --task {OWN_FILES_TASK}")
    if options.tag_scheme != "auto":
        raise InputError(f"--tag-scheme is for your own tagged files (--task {OWN_FILES_TASK}); {options.task}'s "
                         "scheme is known")
    get_token_task(options.task)


def load_data(options, model_config):
    """The task and its sentences (tags in IOB2), and a few words on where they came from. Scoring a
    fine-tuned tagger (--eval-only), the task's labels take its config's order (see TokenTask.model_order)."""
    model_labels = tuple(label for _, label in sorted((model_config.id2label or {}).items()))
    if options.task.lower() == OWN_FILES_TASK:
        task, data, scheme = load_tagged_files(options.train_file, options.validation_file, options.test_file,
                                               options.tag_scheme, model_labels)
        where = f" (tags {scheme.upper()}; types {', '.join(task.entity_types)})"
    else:
        task = get_token_task(options.task)
        data, where = load_token_task_data(task, options.data_dir), ""
    if options.eval_only:
        task = in_model_order(task, model_labels)
    return task, data, where


def in_model_order(task: TokenTask, model_labels: tuple[str, ...]) -> TokenTask:
    """The task with its labels in the fine-tuned model's order; a model with other labels is refused."""
    if sorted(model_labels) != sorted(task.labels):
        raise InputError(f"the model's labels ({', '.join(model_labels) or 'none'}) are not {task.name}'s "
                         f"({', '.join(task.labels)}): it was not fine-tuned on these entity types")
    return task if model_labels == task.labels else replace(task, model_order=model_labels)


def build_family(options, recipe, source: ModelSource, tokenizer,
                 show_progress: bool) -> tuple[TokenClassification, str]:
    """Named-entity recognition (finetune/token/conll.py, tagged_files.py, family.py)."""
    task, data, where = load_data(options, source.config)
    subsample(data, options.max_train_examples)
    if not data.train and not options.eval_only:
        raise InputError(f"{task.name}: the training split is empty")
    family = TokenClassification(task, encode_token_task(tokenizer, task, data, recipe.max_seq_length,
                                                         options.label_all_tokens),
                                 recipe.eval_batch_size, tokenizer.pad_token_id)
    family.build_model(source)  # loads the weights once, so a broken checkpoint fails here
    what = (f"{task.name}: {len(data.train)} training sentences, {len(data.dev)} dev"
            + (f", {len(data.test)} test" if data.test else "") + where)
    return family, what


FAMILY = Family(name="token", head="TokenClassification", owns_task=owns_task,
                check_options=check_options, build=build_family, predictor=EntityTagger.for_model,
                benchmark="CoNLL-2003")
