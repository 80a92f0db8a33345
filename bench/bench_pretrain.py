"""Pretraining step throughput and peak memory: our BertForPreTraining vs transformers' (SDPA attention).

One training step = forward with MLM labels (15% of positions, BERT's 80/10/10 masking) and NSP labels,
backward, gradient clipping and an AdamW update, exactly as `bert-pretrain` does it. Both models get the
same config, the same initial weights and the same batches and masks. Timings alternate between the two
models so that background load hits both alike. Peak memory is measured in a fresh child process per
model (peak RSS growth over the training steps on CPU, torch.cuda.max_memory_allocated on CUDA).

    python bench/bench_pretrain.py                          # mini and base, fp32 and bf16
    python bench/bench_pretrain.py --presets mini --batch-size 64 --repeats 10
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers

import bert
from bert.training import autocast, build_optimizer
from pretrain.masking import MaskingScheme, mask_example

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_models(preset: str, device: torch.device) -> dict[str, torch.nn.Module]:
    """Ours and HF's BertForPreTraining with the same weights (dropout on, as in real pretraining)."""
    torch.manual_seed(0)
    ours = bert.BertForPreTraining(bert.BertConfig.from_preset(preset))
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(d)
        hf = transformers.BertForPreTraining.from_pretrained(d, attn_implementation="sdpa")
    return {"ours": ours.to(device).train(), "hf": hf.to(device).train()}


def make_batch(vocab_size: int, batch_size: int, seq: int, device: torch.device, seed: int = 0) -> dict:
    """A pretraining batch of random word ids: [CLS] A [SEP] B [SEP], masked with our masking code."""
    rng = np.random.default_rng(seed)
    tokens = [f"w{i}" for i in range(vocab_size - len(SPECIAL))]
    scheme = MaskingScheme.for_vocabulary(SPECIAL + tokens, list(range(len(SPECIAL))), SPECIAL.index("[MASK]"))
    ids = rng.integers(len(SPECIAL), vocab_size, (batch_size, seq))
    ids[:, 0], ids[:, seq // 2], ids[:, -1] = 2, 3, 3  # [CLS] A [SEP] B [SEP]
    masked, labels = zip(*(mask_example(row, scheme, rng) for row in ids))
    batch = {"input_ids": np.stack(masked), "labels": np.stack(labels),
             "attention_mask": np.ones_like(ids), "token_type_ids": (np.arange(seq) > seq // 2) * np.ones_like(ids),
             "next_sentence_label": rng.integers(0, 2, batch_size)}
    return {k: torch.as_tensor(v, dtype=torch.long, device=device) for k, v in batch.items()}


def training_step(model, optimizer, batch: dict, device: torch.device, bf16: bool):
    def step():
        with autocast(device, bf16):
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def throughput(preset: str, batch_size: int, seq: int, bf16: bool, repeats: int, device: torch.device) -> dict:
    """Median tokens/s of a full training step, per model, measured alternately."""
    models = make_models(preset, device)
    batch = make_batch(models["ours"].config.vocab_size, batch_size, seq, device)
    steps = {name: training_step(m, build_optimizer(m, 1e-4), batch, device, bf16) for name, m in models.items()}
    for step in steps.values():  # warm-up: allocator, optimizer state, kernels
        step()
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: batch_size * seq / statistics.median(t) for name, t in times.items()}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def peak_memory_mb(model_name: str, preset: str, batch_size: int, seq: int, bf16: bool, device: torch.device) -> float:
    """Run in a fresh process: memory the training steps add on top of the model (activations, gradients,
    optimizer state). CPU: peak RSS growth; CUDA: peak allocated minus allocated before."""
    model = make_models(preset, device)[model_name]
    batch = make_batch(model.config.vocab_size, batch_size, seq, device)
    step = training_step(model, build_optimizer(model, 1e-4), batch, device, bf16)
    if device.type == "cuda":
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(), step()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = rss_mb()
    step(), step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before


def measure_memory_in_child(model_name: str, args, preset: str, bf16: bool) -> float:
    command = [sys.executable, __file__, "--memory-probe", model_name, "--presets", preset, "--batch-size",
               str(args.batch_size), "--seq", str(args.seq), "--device", args.device] + (["--bf16"] if bf16 else [])
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="mini,base")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--memory-probe", choices=["ours", "hf"], help=argparse.SUPPRESS)
    parser.add_argument("--bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)

    if args.memory_probe:  # child process: one model, one measurement
        peak = peak_memory_mb(args.memory_probe, args.presets, args.batch_size, args.seq, args.bf16, device)
        print(json.dumps({"peak_mb": peak}))
        return

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, device {device}, "
          f"{torch.get_num_threads()} threads, batch {args.batch_size} x seq {args.seq}, "
          "one step = forward + backward + clip + AdamW")
    print(f"{'preset':<7} {'precision':<9} {'ours tok/s':>11} {'HF tok/s':>10} {'speed':>7} "
          f"{'ours MB':>9} {'HF MB':>9} {'memory':>7}")
    for preset in args.presets.split(","):
        for precision in args.precisions.split(","):
            bf16 = precision == "bf16"
            speed = throughput(preset, args.batch_size, args.seq, bf16, args.repeats, device)
            memory = {name: measure_memory_in_child(name, args, preset, bf16) for name in ("ours", "hf")}
            print(f"{preset:<7} {precision:<9} {speed['ours']:>11,.0f} {speed['hf']:>10,.0f} "
                  f"{speed['ours'] / speed['hf']:>6.2f}x {memory['ours']:>9,.0f} {memory['hf']:>9,.0f} "
                  f"{memory['ours'] / memory['hf']:>6.2f}x", flush=True)


if __name__ == "__main__":
    main()
