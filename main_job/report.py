"""What the main job prints and draws at the end: the pretraining curves of all phases on one clock, the table
of dev scores (ours against no pretraining), and what the pretraining budget bought on this machine."""

from __future__ import annotations

import json
from pathlib import Path

from finetune.registry import family_of_task
from training import MetricsLog, plot_metrics


def plot_pretraining(phases: dict[str, Path], work: Path) -> None:
    """The phases' metrics ({name: run directory}, in order) on one clock, minutes since pretraining began:
    pretraining.metrics.jsonl and pretraining.png in the work directory."""
    records, offset = [], 0.0
    for phase, directory in phases.items():
        lines = MetricsLog(directory / "metrics.jsonl").read()
        records += [{**line, "phase": phase, "minutes": round((offset + line["elapsed_s"]) / 60, 3)} for line in lines]
        offset += lines[-1]["elapsed_s"] if lines else 0.0
    combined = work / "pretraining.metrics.jsonl"
    combined.write_text("".join(json.dumps(record) + "\n" for record in records))
    series = {"training loss": ["mlm_loss", "nsp_loss"], "held-out MLM loss": ["eval_mlm_loss"],
              "held-out accuracy": ["eval_mlm_acc", "eval_nsp_acc"]}
    probes = sorted({key for record in records for key in record if key.startswith("probe_")})
    if probes:  # phases with --probe: the task's dev figures beside the MLM curve
        series["probe (dev)"] = probes
    plot_metrics(combined, work / "pretraining.png", x_key="minutes", series=series)


BEATS_EVERY_SEED = "*"  # the mark of a row where every pretrained seed beats every seed without pretraining


def print_table(runs: list[tuple[str, Path | None, Path]], budget: str, seeds: list[int],
                task_flags: dict[str, list[str]] | None = None) -> None:
    """Each task's dev metrics from the fine-tunes' summary.json ((task, baseline's folder or None, ours)): the
    median over seeds and, in brackets, the lowest and highest seed, so a difference can be read against the
    spread between seeds; a row ends in * where ours' lowest seed is above the baseline's highest. Under the
    table, the tasks fine-tuned with flags of their own ([finetune.TASK]) are named with them."""
    benchmarks = " and ".join(dict.fromkeys(family_of_task(task).benchmark for task, _, _ in runs))
    print(f"\n{benchmarks} dev, median over seeds {','.join(map(str, seeds))} [min, max]:")
    with_baseline = all(baseline for _, baseline, _ in runs)
    header = (f"{'task':<9} {'metric':<9}" + (f" {'no pretraining':>24}" if with_baseline else "")
              + f" {'ours, ' + budget + ' pretraining':>26}")
    print(header + "\n" + "-" * len(header))
    for task, baseline_dir, ours_dir in runs:
        ours = json.loads((ours_dir / "summary.json").read_text())
        baseline = json.loads((baseline_dir / "summary.json").read_text()) if with_baseline else None
        for metric in ours["median"]:
            mark = f" {BEATS_EVERY_SEED}" if baseline and beats_every_seed(ours, baseline, metric) else ""
            print(f"{task:<9} {metric:<9}" + (f" {spread(baseline, metric):>24}" if baseline else "")
                  + f" {spread(ours, metric):>26}{mark}")
    if with_baseline:
        print(f"{BEATS_EVERY_SEED}: every seed with pretraining above every seed without it")
    for task, flags in (task_flags or {}).items():
        print(f"{task}: fine-tuned with {' '.join(flags)} (its own flags, over the others)")


def beats_every_seed(ours: dict, baseline: dict, metric: str) -> bool:
    return min(row[metric] for row in ours["seeds"]) > max(row[metric] for row in baseline["seeds"])


def spread(summary: dict, metric: str) -> str:
    values = [row[metric] for row in summary["seeds"]]
    return f"{summary['median'][metric]:.4f} [{min(values):.4f}, {max(values):.4f}]"


def print_pretraining_summary(phases: dict[str, Path]) -> None:
    """What the pretraining budget bought on this machine, phase by phase: steps, tokens, speed, precision, and
    the held-out masked-LM figures at the start and the end, so a 5-minute demo is told from a trained model."""
    print("\npretraining on this machine:")
    for phase, directory in phases.items():
        summary_file = directory / "summary.json"
        if not summary_file.exists():
            print(f"  phase {phase}: no summary.json in {directory}")
            continue
        s = json.loads(summary_file.read_text())
        print(f"  phase {phase} ({directory}): {s['steps']:,} steps, {s['tokens']:,} tokens in {s['elapsed_s'] / 60:.1f} "
              f"min = {s['tokens_per_s']:,.0f} tokens/s, precision {s['precision']} on {s['device']}")
        for when, key in (("start", "eval_first"), ("end", "eval_last")):
            if s.get(key):
                e = s[key]
                print(f"    held-out masked LM at step {e['step']:,} ({when}): loss {e['eval_mlm_loss']:.3f}, "
                      f"accuracy {e['eval_mlm_acc']:.3f}")
