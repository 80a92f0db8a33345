"""What a task family is to the rest of fine-tuning: one `Family` entry per family, listed in registry.py.

A family (sentence classification, token classification, question answering) is a subpackage of the same
shape: its data, its family on the training engine (finetune/train.py's TaskFamily), its metrics, its
prediction; its `Family` entry says which tasks and which model folders are its own and how to build each.
The command lines, the Python API, bert-predict and the main job ask the registry for the family instead of
branching on task names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Family:
    name: str  # "sentence", "token", "squad": how options and messages name it
    head: str  # the head its models carry (finetune.checkpoint.HEADS), so the folders it writes are its own
    owns_task: Callable[[str | None], bool]  # is --task (None: the user's own files) one of this family's?
    # (FinetuneOptions) -> None: the family's own checks of the options, before anything is read or written
    check_options: Callable[[object], None]
    # (options, recipe, ModelSource, tokenizer, show_progress) -> (TaskFamily, a line saying what it holds)
    build: Callable[..., tuple[object, str]]
    # (model_dir, model, tokenizer, max_seq_length or None, batch_size, Precision, DistributedContext) ->
    # the family's predictor (load_predictor's answer)
    predictor: Callable[..., object]
    benchmark: str = ""  # what its named tasks are, for reports: "GLUE", "CoNLL-2003", "SQuAD v1.1"
    recipe: dict = field(default_factory=dict)  # where its default recipe differs from finetune.train.Recipe
