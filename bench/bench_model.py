"""Forward and forward+backward throughput: our BERT vs transformers' BertModel (SDPA), same config, same
weights, same batch, one process. Measurements alternate between the two models so that background load
hits both alike.

    python bench/bench_model.py                      # mini and base, seq 128, this machine's precision (auto)
    python bench/bench_model.py --precisions fp32,bf16
    python bench/bench_model.py --presets mini --batch-size 16 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import transformers

import bert
from training import Precision, choose_precision, device_name

transformers.utils.logging.disable_progress_bar()


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def step_fn(model, batch, backward: bool, precision: Precision):
    def run():
        with precision.autocast():
            if backward:
                out = model(**batch)
                hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
                hidden.float().pow(2).mean().backward()
            else:
                with torch.no_grad():
                    model(**batch)
    return run


def bench_pair(preset: str, batch_size: int, seq: int, precision: Precision, backward: bool,
               repeats: int) -> dict[str, tuple[float, float, float]]:
    """Tokens/s per model, measured alternately: {name: (median, slowest, fastest)}."""
    config = bert.BertConfig.from_preset(preset, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ours = bert.BertModel(config)
    with tempfile.TemporaryDirectory() as d:
        ours.save_pretrained(d)
        hf = transformers.BertModel.from_pretrained(d, attn_implementation="sdpa")
    ours.train(backward)
    hf.train(backward)
    g = torch.Generator().manual_seed(0)
    batch = dict(input_ids=torch.randint(1000, config.vocab_size, (batch_size, seq), generator=g),
                 attention_mask=torch.ones(batch_size, seq, dtype=torch.long),
                 token_type_ids=(torch.arange(seq) >= seq // 2).long().expand(batch_size, -1).contiguous())
    runs = {"ours": step_fn(ours, batch, backward, precision), "hf": step_fn(hf, batch, backward, precision)}
    for fn in runs.values():  # warm-up
        fn()
    samples = {"ours": [], "hf": []}
    for _ in range(repeats):
        for name, fn in runs.items():
            samples[name] += timed(fn, 1)
    tokens = batch_size * seq
    return {name: (tokens / statistics.median(t), tokens / max(t), tokens / min(t)) for name, t in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="mini,base")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--precisions", default="auto", help="comma-separated: auto, fp32, bf16")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {device_name('cpu')}, "
          f"batch {args.batch_size} x seq {args.seq}, median of {args.repeats} interleaved repetitions "
          "(slowest-fastest)")
    print(f"{'preset':<7} {'precision':<9} {'pass':<8} {'ours tok/s':>24} {'HF tok/s':>24} {'ours/HF':>8}")
    for preset in args.presets.split(","):
        for requested in args.precisions.split(","):
            precision = choose_precision(requested, "cpu")
            for backward in (False, True):
                speed = bench_pair(preset, args.batch_size, args.seq, precision, backward, args.repeats)
                ours, hf = (f"{median:,.0f} ({slowest:,.0f}-{fastest:,.0f})" for median, slowest, fastest
                            in (speed["ours"], speed["hf"]))
                print(f"{preset:<7} {precision.name:<9} {'fwd+bwd' if backward else 'forward':<8} {ours:>24} "
                      f"{hf:>24} {speed['ours'][0] / speed['hf'][0]:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
