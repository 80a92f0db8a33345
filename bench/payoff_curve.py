"""The pay-off curve of a pretraining run with probes: the probe's dev score (median and range over its seeds)
after t minutes of pretraining, against the probe at the start (the weights before any step: from random
weights, the no-pretraining score with the same fine-tuning recipe).

    bert-pretrain ... --probe sst2 --probe-every 10m --probe-seeds 1,2,3 --output runs/curve
    python bench/payoff_curve.py runs/curve --output results/payoff-curve.png     # a plot, and a table printed

The table is Markdown (minutes, step, held-out MLM accuracy where measured, the probe's median [min, max], the
gain of the median over the start's, and a * where every seed is above the start's best seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def probe_rows(run: Path) -> tuple[str, list[dict]]:
    """The probe's metric name and its rows of metrics.jsonl (with the nearest held-out MLM accuracy)."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    probes = [line for line in lines if any(key.startswith("probe_") for key in line)]
    if not probes:
        sys.exit(f"{run}/metrics.jsonl has no probe rows: run bert-pretrain with --probe")
    metric = next(key for key in probes[0] if key.startswith("probe_") and not key.endswith(("_min", "_max")))
    evaluations = [line for line in lines if "eval_mlm_acc" in line]
    for row in probes:
        before = [line for line in evaluations if line["step"] <= row["step"]]
        row["eval_mlm_acc"] = before[-1]["eval_mlm_acc"] if before else None
    return metric, probes


def seed_range(row: dict, metric: str) -> tuple[float, float]:
    """(min, max) of the probe's seeds; a one-seed probe logs no range, so both are its score."""
    return row.get(f"{metric}_min", row[metric]), row.get(f"{metric}_max", row[metric])


def table(metric: str, rows: list[dict]) -> str:
    start = rows[0]
    lines = [f"| minutes | step | held-out MLM accuracy | {metric} median [min, max] | gain over the start |",
             "|---|---|---|---|---|"]
    for row in rows:
        low, high = seed_range(row, metric)
        mark = " *" if row is not start and low > seed_range(start, metric)[1] else ""
        mlm = f"{row['eval_mlm_acc']:.3f}" if row["eval_mlm_acc"] is not None else ""
        lines.append(f"| {row['elapsed_s'] / 60:.1f} | {row['step']} | {mlm} | {row[metric]:.4f} [{low:.4f}, "
                     f"{high:.4f}] | {row[metric] - start[metric]:+.4f}{mark} |")
    return "\n".join(lines)


def plot(metric: str, rows: list[dict], output: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    minutes = [row["elapsed_s"] / 60 for row in rows]
    median = [row[metric] for row in rows]
    low, high = zip(*(seed_range(row, metric) for row in rows))
    figure, axes = plt.subplots(figsize=(7, 4))
    axes.fill_between([0, max(minutes)], low[0], high[0], color="grey", alpha=0.25,
                      label="start (no pretraining): seed range")
    axes.axhline(median[0], color="grey", linewidth=1)
    axes.errorbar(minutes, median, yerr=[[m - lo for m, lo in zip(median, low)], [hi - m for m, hi in zip(median, high)]],
                  marker="o", capsize=3, label="after t minutes of pretraining: median, seed range")
    axes.set_xlabel("minutes of pretraining")
    axes.set_ylabel(metric.replace("probe_", "dev "))
    axes.set_title(title)
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    figure.savefig(output, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a bert-pretrain output folder whose run had --probe")
    p.add_argument("--output", type=Path, required=True, help="the plot (.png)")
    p.add_argument("--title", default="what pretraining buys, by CPU minutes")
    args = p.parse_args(argv)
    metric, rows = probe_rows(args.run)
    plot(metric, rows, args.output, args.title)
    print(table(metric, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
