"""Token classification's entry in the family registry (finetune/registry.py): its checks of the options,
how its task family is built from them (CoNLL-2003), its predictor."""

from __future__ import annotations

from finetune.checkpoint import ModelSource
from finetune.data import subsample
from finetune.family import Family
from finetune.token.conll import get_token_task, is_token_task, load_token_task_data
from finetune.token.family import TokenClassification, encode_token_task
from finetune.token.predict import EntityTagger
from bert.errors import InputError


def check_options(options) -> None:
    if options.max_eval_examples is not None:
        raise InputError("--max-eval-examples is for --task squad")
    get_token_task(options.task)


def build_family(options, recipe, source: ModelSource, tokenizer,
                 show_progress: bool) -> tuple[TokenClassification, str]:
    """--task conll2003: named-entity recognition (finetune/token/conll.py, finetune/token/family.py)."""
    task = get_token_task(options.task)
    data = load_token_task_data(task, options.data_dir)
    subsample(data, options.max_train_examples)
    if not data.train:
        raise InputError(f"{task.name}: the training split is empty")
    family = TokenClassification(task, encode_token_task(tokenizer, task, data, recipe.max_seq_length,
                                                         options.label_all_tokens),
                                 recipe.eval_batch_size, tokenizer.pad_token_id)
    family.build_model(source)  # loads the weights once, so a broken checkpoint fails here
    what = (f"{task.name}: {len(data.train)} training sentences, {len(data.dev)} dev"
            + (f", {len(data.test)} test" if data.test else ""))
    return family, what


FAMILY = Family(name="token", head="TokenClassification",
                owns_task=lambda task: task is not None and is_token_task(task),
                check_options=check_options, build=build_family, predictor=EntityTagger.for_model,
                benchmark="CoNLL-2003")
