"""The training sentences of GLUE tasks, without their labels, as a pretraining corpus.

    python -m finetune.task_text --tasks cola,mrpc --data-dir ../shared/data/glue --output runs/main/task-text
    bert-pretrain --corpus runs/main/task-text --init-from runs/main/pretrained-mlm --no-nsp ...

Task-adaptive pretraining (TAPT; Gururangan et al. 2020, "Don't Stop Pretraining"): a few more minutes of
masked LM on the text the model will be fine-tuned on moves its vocabulary statistics from the general
corpus (books, Wikipedia) to the task's (news for MRPC, linguistics examples for CoLA). Only the training
split is written and never a label: dev and test text stay unseen until evaluation.

Each training example becomes one document: its sentence, or a pair's two sentences on consecutive lines.
With `--no-nsp` a pretraining example is then the whole pair, so a word masked in one sentence can often be
read off its partner: masked LM on pairs rewards looking across the [SEP], which a paraphrase task needs.
"""

from __future__ import annotations

from pathlib import Path

from finetune.sentence.tasks import GlueTask, read_split


def training_documents(task: GlueTask, data_dir: Path | None) -> list[list[str]]:
    """The task's training examples as documents (lists of one or two sentences), labels dropped."""
    documents = []
    for example in read_split(task, data_dir, task.train_split, labelled=True):
        # a newline inside a text would split it; whitespace-only text would end the document early
        texts = [" ".join(text.split()) for text in (example.text_a, example.text_b) if text and not text.isspace()]
        if texts:
            documents.append(texts)
    return documents


def write_task_text(tasks: list[GlueTask], data_dir: Path | None, output: Path) -> list[Path]:
    """One `<task>-train.txt` per task in `output`: documents separated by blank lines."""
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for task in tasks:
        path = output / f"{task.name}-train.txt"
        documents = training_documents(task, data_dir)
        path.write_text("".join("\n".join(document) + "\n\n" for document in documents), encoding="utf-8")
        print(f"{path}: {len(documents):,} documents from {task.name} train (labels left out)")
        written.append(path)
    return written
