"""What a model's sentence vectors know about a single-sentence GLUE task, with the model frozen: logistic
regression on the pooled vectors of --train-examples training sentences, scored by dev accuracy.

    python bench/frozen_probe.py runs/main/pretrained-task-text runs/random-tiny --task sst2 \
        --data-dir ../shared/data/glue --train-examples 2000,10000

A fine-tune mixes two things: what the weights know and how fast they can be moved. This measures the first
alone (no weight of the model changes): a pretrained model whose vectors score no better than a random one's
has not yet learned what the task needs, whatever its fine-tunes do. The training subset is bert-finetune's
--max-train-examples subset (finetune.data.subsample). Features are standardised on the training subset;
the regression's C is the best of 0.01, 0.1 and 1 on dev (the same choice for every model: an upper bound
for each, compared alike). Needs scikit-learn.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bert.errors import InputError  # noqa: E402
from finetune.data import subsample  # noqa: E402
from finetune.embeddings import SentenceEmbedder  # noqa: E402
from finetune.sentence.tasks import get_task, load_task_data  # noqa: E402
from training import Precision  # noqa: E402

REGULARISATION = (0.01, 0.1, 1.0)  # logistic regression's C


def probe_accuracy(train: np.ndarray, train_labels: np.ndarray, dev: np.ndarray, dev_labels: np.ndarray) -> float:
    """Dev accuracy of logistic regression on standardised features, the best over REGULARISATION."""
    from sklearn.linear_model import LogisticRegression

    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-6
    train, dev = (train - mean) / std, (dev - mean) / std
    return max(LogisticRegression(C=c, max_iter=2000).fit(train, train_labels).score(dev, dev_labels)
               for c in REGULARISATION)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("models", nargs="+", help="model folders (or Hub ids)")
    p.add_argument("--task", default="sst2", help="a single-sentence classification task (sst2, cola)")
    p.add_argument("--data-dir", type=Path, help="GLUE TSV folders (default: the Hub)")
    p.add_argument("--train-examples", default="2000", help="comma-separated training subset sizes")
    p.add_argument("--pooling", default="mean,cls", help="comma-separated: mean, cls, max")
    args = p.parse_args(argv)
    sizes = sorted(int(n) for n in args.train_examples.split(","))
    task = get_task(args.task)
    if task.is_pair or task.is_regression:
        p.error(f"--task {args.task}: the probe takes single-sentence classification tasks (sst2, cola)")
    try:
        data = load_task_data(task, args.data_dir)
    except InputError as e:
        p.error(str(e))
    dev = data.dev[task.dev_splits[0].name]
    dev_labels = np.array([example.label for example in dev])
    fp32 = Precision("fp32", "cpu", "default")
    print(f"{task.name} dev accuracy of logistic regression on frozen sentence vectors "
          f"({len(dev)} dev sentences)")
    print(f"{'model':50s} {'pooling':8s} " + " ".join(f"{f'n={n}':>8s}" for n in sizes))
    for model in args.models:
        for pooling in args.pooling.split(","):
            embedder = SentenceEmbedder.load(model, pooling=pooling, normalize=False)
            dev_vectors = embedder.embed([e.text_a for e in dev], batch_size=128, precision=fp32)
            scores = []
            for n in sizes:
                subset = copy.copy(data)
                subsample(subset, n)  # bert-finetune's --max-train-examples n
                train = embedder.embed([e.text_a for e in subset.train], batch_size=128, precision=fp32)
                labels = np.array([e.label for e in subset.train])
                scores.append(probe_accuracy(train, labels, dev_vectors, dev_labels))
            print(f"{model:50s} {pooling:8s} " + " ".join(f"{score:8.4f}" for score in scores), flush=True)


if __name__ == "__main__":
    main()
