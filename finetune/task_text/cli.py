"""`python -m finetune.task_text`: the training sentences of GLUE tasks, without their labels, as a
pretraining corpus (finetune/task_text/__init__.py), the step bert-main runs for a "task-text" phase.

    python -m finetune.task_text --tasks cola,mrpc --data-dir ../shared/data/glue --output runs/main/task-text
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bert.errors import InputError
from finetune.sentence.tasks import get_task
from finetune.task_text import write_task_text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m finetune.task_text",
                                description="Write the training sentences of GLUE tasks, without their labels, as a pretraining corpus.")
    p.add_argument("--tasks", required=True, help="comma-separated GLUE tasks, e.g. cola,mrpc")
    p.add_argument("--data-dir", type=Path, help="GLUE in the TSV layout (default: nyu-mll/glue from the HF Hub)")
    p.add_argument("--output", required=True, type=Path, help="folder for the <task>-train.txt files")
    args = p.parse_args(argv)
    try:
        write_task_text([get_task(name.strip()) for name in args.tasks.split(",")], args.data_dir, args.output)
    except InputError as e:  # bad input: one line and exit status 2, as in every command
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
