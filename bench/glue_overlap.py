"""How many dev examples of a GLUE task share a sentence with a training file: the check behind docs/results.md's
notes on task-adaptive pretraining (MRPC and CoLA against their own training sets) and on STS-B as an
intermediate task for MRPC (MRPC dev against STS-B train).

    python bench/glue_overlap.py ../shared/data/glue
"""

from __future__ import annotations

import argparse
from pathlib import Path

from finetune.sentence.tasks import get_task, read_tsv_split

# (dev of this task, train of that task)
PAIRS = [("mrpc", "mrpc"), ("cola", "cola"), ("mrpc", "stsb")]


def sentences(example) -> set[str]:
    return {text for text in (example.text_a, example.text_b) if text is not None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("glue_dir", type=Path, help="GLUE in the TSV layout")
    args = p.parse_args()
    for dev_name, train_name in PAIRS:
        dev_task, train_task = get_task(dev_name), get_task(train_name)
        dev = read_tsv_split(dev_task, args.glue_dir, dev_task.dev_splits[0], labelled=True)
        train = read_tsv_split(train_task, args.glue_dir, train_task.train_split, labelled=True)
        seen = set().union(*map(sentences, train))
        shared = sum(1 for example in dev if sentences(example) & seen)
        print(f"{dev_name} dev examples sharing a sentence with {train_name} train: {shared:,} of {len(dev):,}")


if __name__ == "__main__":
    main()
