"""Pretraining step throughput and peak memory: our BertForPreTraining vs transformers' (SDPA attention).

One training step = forward with MLM labels (15% of positions, BERT's 80/10/10 masking) and NSP labels,
backward, gradient clipping and an AdamW update, exactly as `bert-pretrain` does it. Both models get the
same config, the same initial weights and the same batches and masks. Timings alternate between the two
models (after two warm-up steps each) so that background load hits both alike; the table gives the median
over the repetitions and, in brackets, the slowest and fastest. Peak memory is what the training steps allocate on top
of the weights (see `peak_memory_mb`).

    python bench/bench_pretrain.py                          # mini and base, this machine's precision (auto)
    python bench/bench_pretrain.py --precisions fp32,bf16   # both (bf16 on an AVX2 CPU is emulated: very slow)
    python bench/bench_pretrain.py --presets mini --batch-size 64 --repeats 10
    python bench/bench_pretrain.py --vocab-size 30522       # BERT's vocabulary size
    python bench/bench_pretrain.py --presets base --batch-size 8 --vocab-size 30522 --precisions fp32 --repeats 7
    python bench/bench_pretrain.py --presets mini --compile     # also ours under torch.compile (bert-pretrain --compile)
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time

import numpy as np
import torch
import transformers
from torch.profiler import ProfilerActivity, profile

import bert
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="mini,base")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--vocab-size", type=int, default=8192,
                        help="the main job's vocabulary (default: %(default)s); BERT's own is 30522, and the MLM head "
                             "and the embedding update grow with it")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precisions", default="auto",
                        help="comma-separated: auto (what bert-pretrain picks on this machine), fp32, bf16, fp16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true",
                        help="also time a copy of ours under torch.compile, as bert-pretrain --compile runs it")
    args = parser.parse_args()
    device = torch.device(args.device)

    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {device_name(device)}, "
          f"batch {args.batch_size} x seq {args.seq}, vocabulary {args.vocab_size}, "
          f"one step = forward + backward + clip + AdamW, median of {args.repeats} interleaved repetitions "
          "(slowest-fastest)")
    print(f"{'preset':<7} {'precision':<9} {'ours tok/s':>20} {'HF tok/s':>20} {'speed':>7} "
          f"{'ours MB':>9} {'HF MB':>9} {'memory':>7}")
    for preset in args.presets.split(","):
        for requested in args.precisions.split(","):
            precision = choose_precision(requested, device)
            models = make_models(preset, args.vocab_size, device)
            batch = make_batch(models["ours"].config.vocab_size, args.batch_size, args.seq, device)
            memory = {name: peak_memory_mb(model, batch, precision, device) for name, model in models.items()}
            if args.compile:
                models["compiled"] = torch.compile(copy.deepcopy(models["ours"]))
            speed, first_step = throughput(models, batch, precision, args.repeats, device)
            spread = {name: f"{median:,.0f} ({slowest:,.0f}-{fastest:,.0f})"
                      for name, (median, slowest, fastest) in speed.items()}
            print(f"{preset:<7} {precision.name:<9} {spread['ours']:>20} {spread['hf']:>20} "
                  f"{speed['ours'][0] / speed['hf'][0]:>6.2f}x {memory['ours']:>9,.0f} {memory['hf']:>9,.0f} "
                  f"{memory['ours'] / memory['hf']:>6.2f}x", flush=True)
            if args.compile:
                print(f"{'':<17} ours under torch.compile: {spread['compiled']} tok/s, "
                      f"{speed['compiled'][0] / speed['ours'][0]:.2f}x eager ours; its first step (compiling) "
                      f"{first_step['compiled']:.0f} s, eager's {first_step['ours']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
