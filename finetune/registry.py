"""The task families, in the order a task or a model folder is matched against them.

A new family is a new subpackage with a `Family` entry (finetune/family.py) and one line here; nothing else
branches on families.
"""

from __future__ import annotations

from finetune.qa import entry as question_answering
from finetune.sentence import entry as sentence_classification
from finetune.token import entry as token_classification
from finetune.family import Family

FAMILIES: tuple[Family, ...] = (
    question_answering.FAMILY,
    token_classification.FAMILY,
    sentence_classification.FAMILY,  # last: GLUE tasks, an unknown task's error, and the user's own files
)


def family_of_task(task: str | None) -> Family:
    """The family --task belongs to (None: the user's own files, a sentence task)."""
    return next(family for family in FAMILIES if family.owns_task(task))


def family_of_head(head: str) -> Family | None:
    """The family whose models carry `head` (finetune.checkpoint.HEADS)."""
    return next((family for family in FAMILIES if family.head == head), None)
