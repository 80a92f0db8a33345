"""Pretraining step throughput and peak memory: our BertForPreTraining vs transformers' (SDPA attention).

One training step = forward with MLM labels (15% of positions, BERT's 80/10/10 masking) and NSP labels,
backward, gradient clipping and an AdamW update, exactly as `bert-pretrain` does it. Both models get the
same config, the same initial weights and the same batches and masks. Timings alternate between the two
models (after two warm-up steps each) so that background load hits both alike; the table gives the median
over the repetitions and, in brackets, the slowest and fastest. Peak memory is what the training steps allocate on top
of the weights (see `peak_memory_mb`). Each row is followed by the model FLOPs per token (`training_flops_per_token`)
and what they come to per second, as a fraction of the device's peak (`--peak-tflops`), and by the attention kernel
each model's SDPA calls ran (`bert.inspection.forward_pass.attention_kernels`).

    python bench/bench_pretrain.py                          # mini and base, this machine's precision (auto)
    python bench/bench_pretrain.py --precisions fp32,bf16   # both (bf16 on an AVX2 CPU is emulated: very slow)
    python bench/bench_pretrain.py --presets mini --batch-size 64 --repeats 10
    python bench/bench_pretrain.py --vocab-size 30522       # BERT's vocabulary size
    python bench/bench_pretrain.py --presets base --batch-size 8 --vocab-size 30522 --precisions fp32 --repeats 7
    python bench/bench_pretrain.py --presets mini --compile     # also both under torch.compile (bert-pretrain --compile)
    python bench/bench_pretrain.py --presets base --batch-size 256 --fit-batch --vocab-size 30522 --precisions bf16 \
        --compile --output runs/bench-pretrain.json             # a GPU: the largest batch up to 256 that fits
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from torch.profiler import ProfilerActivity, profile

import bert
from bert.inspection.architectures import ARCHITECTURES, mlm_head_macs
from bert.inspection.flops import forward_flops
from bert.inspection.forward_pass import attention_kernels
from training import Precision, build_optimizer, choose_precision, device_name
from pretrain.masking import MaskingScheme, mask_example

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
transformers.utils.logging.disable_progress_bar()


def make_models(preset: str, vocab_size: int, device: torch.device) -> dict[str, torch.nn.Module]:
    """Ours and HF's BertForPreTraining with the same weights (dropout on, as in real pretraining)."""
    torch.manual_seed(0)
    ours = bert.BertForPreTraining(bert.BertConfig.from_preset(preset, vocab_size=vocab_size))
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


def training_step(model, optimizer, batch: dict, device: torch.device, precision: Precision):
    def step():
        with precision.autocast():
            loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def throughput(models: dict, batch: dict, precision: Precision, repeats: int, device: torch.device) -> dict:
    """Tokens/s of a full training step per model, measured alternately: {name: (median, slowest, fastest)},
    and {name: seconds of the first step} (for a compiled model, mostly compilation)."""
    steps = {name: training_step(m, build_optimizer(m, 1e-4), batch, device, precision) for name, m in models.items()}
    first_step = {}
    for name, step in steps.items():  # warm-up: allocator, optimizer state, kernels, compilation
        start = time.perf_counter()
        step()
        first_step[name] = time.perf_counter() - start
        step()
    times = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    tokens = batch["input_ids"].numel()
    speed = {name: (tokens / statistics.median(t), tokens / max(t), tokens / min(t)) for name, t in times.items()}
    return speed, first_step


def peak_memory_mb(model, batch: dict, precision: Precision, device: torch.device) -> float:
    """Peak memory two training steps add on top of the model's weights: activations, gradients, the
    logits and the AdamW state. CUDA: torch.cuda.max_memory_allocated. CPU has no such counter, so the
    profiler records every tensor allocation and free, and the peak of their running sum is taken
    (the process RSS would mostly measure the allocator's caching, not the tensors)."""
    step = training_step(model, build_optimizer(model, 1e-4), batch, device, precision)
    if device.type == "cuda":
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(), step()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(), step()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    return float(np.cumsum([e.self_cpu_memory_usage for e in events]).max()) / 2**20


def training_flops_per_token(config: bert.BertConfig, batch: dict) -> float:
    """Model FLOPs of one training step per token: 3 x the forward pass's matmul FLOPs (the backward pass does
    twice the forward's work), which is 6 x the parameters a token passes through plus attention's
    12 x layers x hidden x seq (bert.inspection.flops.forward_flops counts them, 2 FLOPs per multiply-add).
    The MLM head (transform and projection onto the vocabulary) counts at the masked positions only, all that
    the loss needs: HF computes it at every position, and that extra work counts for neither model."""
    seq = batch["input_ids"].shape[1]
    encoder = forward_flops(ARCHITECTURES["BertModel"], config, seq)["total"]  # the layers and the pooler
    masked = (batch["labels"] != -100).sum().item() / len(batch["labels"])  # masked positions per sequence
    heads = 2 * (mlm_head_macs(config, 1) * masked + 2 * config.hidden_size)  # MLM where masked; NSP on [CLS]
    return 3 * (encoder + heads) / seq


def fitting_batch_size(models: dict, batch_size: int, seq: int, precision: Precision, device: torch.device) -> int:
    """The largest of batch_size, batch_size / 2, ... at which a training step of every model fits in the
    GPU's memory (the steps' gradients and optimizer state are dropped again)."""
    while batch_size >= 1:
        batch = make_batch(models["ours"].config.vocab_size, batch_size, seq, device)
        try:
            for model in models.values():
                training_step(model, build_optimizer(model, 1e-4), batch, device, precision)()
            return batch_size
        except torch.cuda.OutOfMemoryError:
            pass
        finally:
            del batch
            for model in models.values():
                model.zero_grad(set_to_none=True)
            gc.collect()
            torch.cuda.empty_cache()
        batch_size //= 2
    raise SystemExit("error: not even a batch of 1 fits in the GPU's memory")


def report_speed(row: dict, speed: dict, first_step: dict, peak_tflops: float) -> None:
    """Print what the models' tokens/s come to in model FLOPs per second and as a fraction of the peak; add
    those figures to the row."""
    tflops = {name: median * row["model_flops_per_token"] / 1e12 for name, (median, _, _) in speed.items()}
    print(f"{'':<17} batch {row['batch_size']}, model FLOPs {row['model_flops_per_token'] / 1e9:.3f} GFLOP/token: "
          + ", ".join(f"{name} {tflops[name]:,.1f} TFLOP/s = {tflops[name] / peak_tflops:.1%}" for name in speed)
          + f" of {peak_tflops:g} TFLOP/s (--peak-tflops)", flush=True)
    for name, (median, slowest, fastest) in speed.items():
        row.setdefault("tokens_per_s", {})[name] = {"median": median, "slowest": slowest, "fastest": fastest}
        row.setdefault("tflops", {})[name] = tflops[name]
        row.setdefault("fraction_of_peak", {})[name] = tflops[name] / peak_tflops
        row.setdefault("first_step_s", {})[name] = first_step[name]


def save(record: dict, output: Path | None) -> None:
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(record, indent=2) + "\n")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="mini,base")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fit-batch", action="store_true",
                        help="on a GPU, halve --batch-size until a training step of both models fits in memory")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=8192,
                        help="the main job's vocabulary (default: %(default)s); BERT's own is 30522, and the MLM head "
                             "and the embedding update grow with it")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", default="auto",
                        help="comma-separated: auto (what bert-pretrain picks on this machine), fp32, bf16, fp16")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true",
                        help="also time copies of both models under torch.compile, as bert-pretrain --compile runs ours")
    parser.add_argument("--peak-tflops", type=float, default=790.0,
                        help="the device's peak, for the fraction of it reached (default: %(default)s, what an "
                             "8192^3 bf16 matmul reaches on an NVIDIA H200)")
    parser.add_argument("--output", type=Path, help="also write every row's figures to this JSON file")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda, but torch sees no CUDA GPU")
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {device_name(device)}, "
          f"batch {args.batch_size}{' at most (--fit-batch)' if args.fit_batch else ''} x seq {args.seq}, "
          f"vocabulary {args.vocab_size}, "
          f"one step = forward + backward + clip + AdamW, median of {args.repeats} interleaved repetitions "
          "(slowest-fastest)")
    print(f"{'preset':<7} {'precision':<9} {'ours tok/s':>20} {'HF tok/s':>20} {'speed':>7} "
          f"{'ours MB':>9} {'HF MB':>9} {'memory':>7}")
    record = {"command": " ".join(["python", *sys.argv]), "device": device_name(device), "torch": torch.__version__,
              "transformers": transformers.__version__, "peak_tflops": args.peak_tflops, "rows": []}
    for preset in args.presets.split(","):
        for requested in args.precisions.split(","):
            precision = choose_precision(requested, device)
            print(precision.describe(), flush=True)
            models = make_models(preset, args.vocab_size, device)
            batch_size = args.batch_size
            if args.fit_batch and device.type == "cuda":
                batch_size = fitting_batch_size(models, batch_size, args.seq, precision, device)
            batch = make_batch(models["ours"].config.vocab_size, batch_size, args.seq, device)
            kernels = {name: attention_kernels(training_step(model, build_optimizer(model, 1e-4), batch, device,
                                                             precision))
                       for name, model in models.items()}
            memory = {name: peak_memory_mb(model, batch, precision, device) for name, model in models.items()}
            speed, first_step = throughput(models, batch, precision, args.repeats, device)
            spread = {name: f"{median:,.0f} ({slowest:,.0f}-{fastest:,.0f})"
                      for name, (median, slowest, fastest) in speed.items()}
            print(f"{preset:<7} {precision.name:<9} {spread['ours']:>20} {spread['hf']:>20} "
                  f"{speed['ours'][0] / speed['hf'][0]:>6.2f}x {memory['ours']:>9,.0f} {memory['hf']:>9,.0f} "
                  f"{memory['ours'] / memory['hf']:>6.2f}x", flush=True)
            print(f"{'':<17} attention kernel: "
                  + "; ".join(f"{name} {', '.join(k) or 'none (spelled out)'}" for name, k in kernels.items()))
            flops = training_flops_per_token(models["ours"].config, batch)
            row = {"preset": preset, "precision": precision.name, "precision_reason": precision.reason,
                   "batch_size": batch_size, "seq": args.seq, "vocab_size": args.vocab_size,
                   "attention_kernels": kernels, "model_flops_per_token": flops, "peak_memory_mb": memory}
            record["rows"].append(row)
            report_speed(row, speed, first_step, args.peak_tflops)
            save(record, args.output)  # now, and again with the compiled figures: a run cut short keeps these
            if args.compile:  # compiled copies, alternating in their own repetitions after the eager ones
                compiled = {f"{name} compiled": torch.compile(copy.deepcopy(m)) for name, m in models.items()}
                try:
                    compiled_speed, compiled_first_step = throughput(compiled, batch, precision, args.repeats, device)
                except Exception as error:  # noqa: BLE001 - a compiler failure must not cost the eager figures
                    print(f"{'':<17} torch.compile failed: {type(error).__name__}: {str(error).splitlines()[0]}")
                else:
                    for name, (median, slowest, fastest) in compiled_speed.items():
                        eager = name.removesuffix(" compiled")
                        print(f"{'':<17} {name} (torch.compile): {median:,.0f} ({slowest:,.0f}-{fastest:,.0f}) "
                              f"tok/s, {median / speed[eager][0]:.2f}x eager; its first step (compiling) "
                              f"{compiled_first_step[name]:.0f} s, eager's {first_step[eager]:.1f} s", flush=True)
                    report_speed(row, compiled_speed, compiled_first_step, args.peak_tflops)
                    save(record, args.output)
                del compiled
            del models
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
    if args.output:
        print(f"written to {args.output}")


if __name__ == "__main__":
    main()
