"""`bert-finetune`: fine-tune a BERT checkpoint (or a random preset) on a GLUE task, CoNLL-2003 NER, SQuAD or
your own files.

    bert-finetune --task cola --model runs/pretrain/final --output runs/cola --data-dir ../shared/data/glue
    bert-finetune --task conll2003 --model DIR --output runs/ner --data-dir ../shared/data/ner --epochs 2
    bert-finetune --task ner --model DIR --output runs/drugs --train-file train.jsonl --validation-file dev.jsonl
    bert-finetune --task squad --model DIR --output runs/squad --train-file train.json --validation-file dev.json
    torchrun --nproc-per-node 4 -m finetune --task mrpc --model DIR --output runs/mrpc --seeds 1,2,3
    bert-finetune --train-file train.csv --validation-file dev.csv --text-columns review --label-column stars \
                  --model bert-base-uncased --output runs/reviews

Everything the user can get wrong is checked before the output directory is touched.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from bert import PRESETS
from finetune.data import BATCHINGS
from finetune.options import FinetuneOptions
from finetune.qa.decoding import Decoding
from finetune.qa.windows import Windowing
from finetune.registry import FAMILIES
from finetune.run import finetune
from finetune.sentence.tasks import TASKS
from finetune.token.entry import TASK_NAMES as TOKEN_TASKS
from finetune.token.tagged_files import TAG_SCHEMES
from finetune.train import Recipe
from training import REPORT_TO, add_precision_flag
from training.engine import RunInterrupted, TrainingDiverged
from bert.errors import InputError


def build_parser() -> argparse.ArgumentParser:
    defaults = Recipe()
    p = argparse.ArgumentParser(prog="bert-finetune", description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--task", help=f"GLUE task ({', '.join(TASKS)}), named-entity recognition "
                   f"({', '.join(TOKEN_TASKS)}; ner: your own tagged --train-file) or squad (question "
                   "answering); leave it out to fine-tune a sentence classifier on your own --train-file")
    p.add_argument("--model", required=True,
                   help="checkpoint directory in HF layout (ours, or any HF BERT or DistilBERT); else a preset name "
                        f"for random weights ({', '.join(PRESETS)}); else a Hugging Face Hub model id "
                        "(bert-base-uncased), downloaded once to the HF cache and read from there offline")
    p.add_argument("--output", required=True, type=Path, help="directory for the model, predictions and metrics")
    p.add_argument("--data-dir", type=Path,
                   help="folder in the GLUE TSV layout (CoLA/train.tsv, ...); default: nyu-mll/glue from the HF Hub. "
                        "conll2003: a folder with train.txt, dev.txt, test.txt (or with conll2003/ holding them); "
                        "default: eriktks/conll2003 from the HF Hub")
    p.add_argument("--vocab", help="vocab.txt (or a directory holding one) instead of the checkpoint's own; "
                                   "required with a preset")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="default: %(default)s")
    p.add_argument("--lr", type=float, default=defaults.lr, help="peak learning rate (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help="examples per optimizer step, over all processes together (default: %(default)s)")
    p.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size, help="default: %(default)s")
    p.add_argument("--max-seq-length", type=int,
                   help="tokens per example after truncation, [CLS] and [SEP] included (default: "
                        f"{defaults.max_seq_length}; squad: {Windowing.max_seq_length}, per window)")
    p.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio,
                   help="fraction of the steps spent warming the learning rate up from 0 (default: %(default)s)")
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay,
                   help="AdamW's weight decay, on every weight but biases and LayerNorm (default: %(default)s)")
    p.add_argument("--max-grad-norm", type=float,
                   help="clip the gradient to this norm before each step; 0 turns clipping off (default: "
                        f"{defaults.max_grad_norm}; {family_defaults_text('max_grad_norm')})")
    p.add_argument("--adam-epsilon", type=float,
                   help=f"AdamW's epsilon (default: {defaults.adam_epsilon}; {family_defaults_text('adam_epsilon')})")
    p.add_argument("--adam-beta2", type=float,
                   help=f"AdamW's second-moment decay (default: {defaults.adam_beta2}; "
                        f"{family_defaults_text('adam_beta2')})")
    p.add_argument("--batching", choices=list(BATCHINGS),
                   help="how training batches are drawn each epoch: length-grouped (examples of similar length "
                        "together, least padding) or random (a plain shuffle, each batch padded to its longest) "
                        f"(default: {defaults.batching}; {family_defaults_text('batching')})")
    p.add_argument("--seeds", default="42", help="comma-separated seeds, one run each; the median is reported (default: %(default)s)")
    add_file_task_flags(add_data_file_flags(p))
    p.add_argument("--label-all-tokens", action="store_true",
                   help="token tasks: train every piece of a word on its label (later pieces of a B- word on I-), "
                        "not only the first")
    p.add_argument("--tag-scheme", choices=TAG_SCHEMES, default="auto",
                   help="--task ner: the files' tags, iob1, iob2 (BIO) or bioes; auto (default): read off the "
                        "training file. Files are JSON lines (.jsonl/.json) with \"tokens\" and \"tags\" lists, "
                        "or CoNLL columns (word first, tag last, a blank line between sentences)")
    add_precision_flag(p)
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    p.add_argument("--max-train-examples", type=int,
                   help="train on a random subset of this size (quick experiments and smoke tests; squad: questions)")
    p.add_argument("--eval-only", action="store_true",
                   help="train nothing: score --model (a fine-tuned model folder, or a bert-finetune output folder "
                        "for its best model) on the task's validation data, and test data where labelled, writing "
                        "the run's metrics and prediction files into --output (--max-seq-length defaults to the "
                        "model's own; --train-file may be left out)")
    run_dir = p.add_mutually_exclusive_group()
    run_dir.add_argument("--resume", action="store_true",
                         help="continue the run in --output where it stopped (same arguments): finished seeds are "
                              "reused, an interrupted one continues from its last checkpoint")
    run_dir.add_argument("--overwrite", action="store_true",
                         help="replace summary.json and the seed-N folders of an earlier run in --output")
    p.add_argument("--grad-accum", type=int, default=defaults.grad_accum,
                   help="micro-batches per optimizer step: --batch-size examples in less memory (default: %(default)s)")
    p.add_argument("--save-every", type=int, default=defaults.save_every,
                   help="a resumable checkpoint every N optimizer steps, besides each epoch's end (default: only "
                        "those)")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every, metavar="STEPS",
                   help="a dev evaluation every this many optimizer steps, besides each epoch's end (default: only "
                        "those)")
    p.add_argument("--metric-for-best", metavar="NAME",
                   help="the dev metric that picks the best model and the best seed, any the task reports, higher "
                        "is better (default: the task's main metric: mcc for CoLA, f1 for MRPC, NER and SQuAD, ...)")
    p.add_argument("--early-stopping-patience", type=int, default=defaults.early_stopping_patience, metavar="N",
                   help="stop a seed's run after N evaluations in a row without a better --metric-for-best (a tie "
                        "is no improvement); the best model is kept (default: 0, never stop early)")
    p.add_argument("--report-to", choices=REPORT_TO, default="none",
                   help="also write every metrics.jsonl field as a TensorBoard scalar, in OUTPUT/seed-N/tensorboard "
                        "(needs the tensorboard package) (default: none)")
    add_squad_flags(p)
    return p


def family_defaults_text(name: str) -> str:
    """Which families default `name` otherwise, for --help ("squad: 384"), or that none does."""
    others = [f"{family.name}: {family.recipe[name]}" for family in FAMILIES if name in family.recipe]
    return ", ".join(others) if others else "every task"


def add_data_file_flags(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--train-file, --validation-file, --test-file: every task read from the user's own files takes these
    three. Returns their group, for the flags of one kind of task (which columns, which labels)."""
    files = parser.add_argument_group(
        "your own data files", "instead of --task: a sentence or sentence-pair task from CSV (RFC 4180), TSV or "
        "JSON lines (.jsonl/.json, one object per line) files with a header of column names")
    files.add_argument("--train-file", type=Path, metavar="FILE", help="the training examples")
    files.add_argument("--validation-file", type=Path, metavar="FILE",
                       help="the dev examples: scored every epoch, the best epoch is kept")
    files.add_argument("--test-file", type=Path, metavar="FILE",
                       help="predicted by the best model (test_predictions.tsv); scored too if it has labels")
    return files


def add_file_task_flags(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--text-columns", metavar="NAME[,NAME]",
                       help="the column holding the text, or two comma-separated columns for sentence pairs")
    group.add_argument("--label-column", metavar="NAME", help="the column holding the label")
    group.add_argument("--task-type", choices=["auto", "classification", "regression"], default="auto",
                       help="auto (default): regression if a training label has a fractional part, else "
                            "classification (integer labels in numeric order, any others in sorted order)")
    group.add_argument("--positive-label", metavar="LABEL",
                       help="with two classes, the one whose F1 is reported (default: the second in order)")
    group.add_argument("--multi-label", action="store_true",
                       help="any number of labels per example (none too): the label cell lists them, split at "
                            "--label-separator in CSV/TSV or a JSON list in JSON lines; sigmoid outputs, scored by "
                            "micro F1, macro F1 and exact match")
    group.add_argument("--label-separator", metavar="CHAR",
                       help="--multi-label: what separates a cell's labels in CSV/TSV (default: ,)")
    group.add_argument("--threshold", type=float,
                       help="--multi-label: a label is predicted where its probability is above this (default: 0.5)")


def add_squad_flags(parser: argparse.ArgumentParser) -> None:
    windowing, decoding = Windowing(), Decoding()
    group = parser.add_argument_group("SQuAD (--task squad)")
    group.add_argument("--doc-stride", type=int, default=windowing.doc_stride,
                       help="context tokens a window shares with the one before (default: %(default)s)")
    group.add_argument("--max-query-length", type=int, default=windowing.max_query_length,
                       help="questions are cut to this many tokens (default: %(default)s)")
    group.add_argument("--max-answer-length", type=int, default=decoding.max_answer_length,
                       help="longest answer, in tokens (default: %(default)s)")
    group.add_argument("--n-best", type=int, default=decoding.n_best,
                       help="answers kept per question in nbest_predictions.json (default: %(default)s)")
    group.add_argument("--max-eval-examples", type=int,
                       help="evaluate on the first N questions of the validation file only")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def options_from_args(args: argparse.Namespace) -> FinetuneOptions:
    """The options the command line names (--seeds "1,2,3" becomes a list)."""
    names = {f.name for f in fields(FinetuneOptions)}
    return FinetuneOptions(**{k: v for k, v in vars(args).items() if k in names})


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = finetune(options_from_args(args))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:  # the run stopped itself; its last good checkpoint is kept
        print(f"error: {e}", file=sys.stderr)
        return 1
    except RunInterrupted as e:  # a signal stopped it: the checkpoint is saved, --resume continues
        return e.exit_status
    if result.family is not None:
        result.print_report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
