"""The arms x seeds table of side-by-side runs: one Markdown row per bench.json and run (ours, transformers).

    python bench/arms_table.py results/recipe-arms-avx512bf16/ner-*.json --metric f1

Reads the bench.json files that bench_finetune.py, bench_ner.py and bench_squad.py write. A row names the run,
the recipe flags that tell the arms apart (clipping, Adam's epsilon and beta2, batching), each seed's score
of --metric, their median [min, max], and seconds per epoch. bench_finetune.py's files give a row per task
and run that has --metric.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

ARM_FLAGS = ("max_grad_norm", "adam_epsilon", "adam_beta2", "batching")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", type=Path, help="bench.json files")
    p.add_argument("--metric", required=True, help="the score per seed, e.g. f1, mcc, pearson")
    p.add_argument("--digits", type=int, default=4)
    return p.parse_args()


def arm(recipe: dict, run_name: str) -> str:
    """The recipe flags that tell one arm from another: 'clip 1, eps 1e-06, beta2 0.999, length-grouped'.
    --batching is ours' (and hf-same-batches'); the other transformers runs always shuffle at random."""
    clip = "no clip" if recipe["max_grad_norm"] == 0 else f"clip {recipe['max_grad_norm']:g}"
    batching = recipe["batching"] if run_name in ("ours", "hf-same-batches") else "random"
    return f"{clip}, eps {recipe['adam_epsilon']:g}, beta2 {recipe['adam_beta2']:g}, {batching}"


def runs_of(record: dict) -> list[tuple[str, str, dict]]:
    """(label, run name, run) triples: bench_finetune.py nests its runs under the task, the others do not."""
    results = record["results"]
    if all("metrics" in run for run in results.values()):
        return [(name, name, run) for name, run in results.items()]
    return [(f"{task} {name}", name, run) for task, runs in results.items() for name, run in runs.items()]


def rows(record: dict, metric: str, digits: int) -> list[str]:
    lines = []
    for label, name, run in runs_of(record):
        if metric not in run["metrics"]:  # another task of the same file (bench_finetune.py)
            continue
        scores = [seed[metric] for seed in run["seeds"]]
        seeds = ", ".join(f"{seed['seed']}: {seed[metric]:.{digits}f}" for seed in run["seeds"])
        spread = f"{statistics.median(scores):.{digits}f} [{min(scores):.{digits}f}, {max(scores):.{digits}f}]"
        lines.append(f"| {label} | {arm(record['recipe'], name)} | {seeds} | {spread} | {run['epoch_seconds']:.1f} |")
    return lines


def main() -> None:
    args = parse_args()
    print(f"| run | arm | {args.metric} per seed | median [min, max] | s/epoch |\n|---|---|---|---|---|")
    for path in args.files:
        for line in rows(json.loads(path.read_text()), args.metric, args.digits):
            print(line)


if __name__ == "__main__":
    main()
