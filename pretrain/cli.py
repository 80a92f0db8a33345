"""`bert-pretrain`: pretrain a BERT from scratch on your own corpus.

    bert-pretrain --corpus data/corpus --output runs/mini --preset mini --vocab-size 16000 --time-budget 20m
    torchrun --nproc-per-node 4 -m pretrain --corpus ... --output ...      # one process per GPU (or CPU share)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bert.config import PRESETS
from tokenizer.corpus import add_corpus_dataset_flags
from training import REPORT_TO, add_precision_flag

from .examples import NSP_NEGATIVES
from training.engine import RunInterrupted, TrainingDiverged
from bert.errors import InputError

from .options import PretrainOptions
from .train import pretrain


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bert-pretrain", description="Pretrain BERT (masked LM + next-sentence "
                                "prediction) from scratch on a text corpus, on CPU, GPU or many (torchrun).")
    data = p.add_argument_group("data")
    data.add_argument("--corpus", nargs="+", required=True, metavar="PATH",
                      help="text files or folders (documents separated by blank lines; WikiText ' = Title = ' "
                           "articles), folders written by datasets' save_to_disk, or Hugging Face dataset names "
                           "such as wikitext/wikitext-103-raw-v1")
    add_corpus_dataset_flags(data)
    vocab = data.add_mutually_exclusive_group()
    vocab.add_argument("--vocab", type=Path, help="an existing vocab.txt / tokenizer directory to use")
    vocab.add_argument("--vocab-size", type=int, default=30522,
                       help="size of the WordPiece vocabulary trained on the corpus when --vocab is not given")
    data.add_argument("--cased", action="store_true", help="keep case when training a vocabulary (default: lowercase)")
    data.add_argument("--max-seq-length", type=int, default=128)
    data.add_argument("--short-seq-prob", type=float, default=0.1,
                      help="probability of a shorter target length for an example (BERT: 0.1)")
    data.add_argument("--mask-prob", type=float, default=0.15, help="fraction of tokens to predict")
    data.add_argument("--whole-word-mask", action="store_true", help="mask all pieces of a word together")
    data.add_argument("--no-nsp", dest="nsp", action="store_false",
                      help="no next-sentence prediction: single full-length segments (RoBERTa-style)")
    data.add_argument("--nsp-negatives", choices=NSP_NEGATIVES, default="other-document",
                      help="what a 'not next' pair is: a stretch of another document (BERT), A's continuation "
                           "put before A (swapped: ALBERT's sentence-order prediction), or half of each (both)")
    data.add_argument("--pack-documents", action="store_true",
                      help="with --no-nsp, let an example run on into the next document (RoBERTa's "
                           "full-sentences): for a corpus of short documents, e.g. one sentence each (default: "
                           "an example stays inside its document)")
    data.add_argument("--eval-fraction", type=float, default=0.01,
                      help="fraction of the corpus held out for evaluation (whole documents, drawn at random)")
    data.add_argument("--eval-examples", type=int, default=1024,
                      help="held-out examples used by each evaluation")
    data.add_argument("--cache-dir", type=Path, help="where tokenised corpora are cached "
                      "(default: $XDG_CACHE_HOME/bert-from-scratch/pretrain)")
    data.add_argument("--num-workers", type=int, default=os.cpu_count() or 1,
                      help="processes tokenising the corpus (default: one per CPU core)")

    model = p.add_argument_group("model")
    model.add_argument("--preset", choices=list(PRESETS), default="mini")
    model.add_argument("--position-init", choices=["sinusoidal", "normal"], default="sinusoidal",
                       help="start of the learned position embeddings: sinusoids (default; leaves the MLM "
                            "unigram plateau sooner) or BERT's N(0, 0.02)")
    model.add_argument("--dropout", type=float, help="dropout while pretraining, hidden and attention "
                       "(default: the config's, 0.1; 0 learns faster in short runs); config.json keeps the config's "
                       "value for fine-tuning")
    model.add_argument("--init-from", metavar="MODEL",
                       help="start from a pretrained model: a directory in HF layout (config.json, weights, "
                            "vocab.txt) or a Hugging Face Hub id (fetched into the HF cache), e.g. a second phase "
                            "with NSP after an MLM-only run; its config replaces --preset and its vocabulary is "
                            "the default --vocab")
    model.add_argument("--config", dest="config_file", type=Path,
                       help="JSON file of BertConfig fields that override the preset (vocab_size defaults to "
                            "the vocabulary's size)")

    train = p.add_argument_group("training")
    train.add_argument("--output", type=Path, required=True, help="run directory; ends up in HF layout")
    train.add_argument("--batch-size", type=int, default=32,
                       help="examples per optimizer step, over all processes and micro-batches (default: 32)")
    train.add_argument("--grad-accum", type=int, default=1,
                       help="micro-batches per optimizer step: each process runs batch-size / (grad-accum x processes) "
                            "examples at a time, the same step in less memory")
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--weight-decay", type=float, default=0.01)
    train.add_argument("--warmup-steps", type=int, help="LR warmup steps (default: 5%% of the run)")
    train.add_argument("--lr-decay", choices=["linear", "cosine"], default="linear")
    train.add_argument("--max-grad-norm", type=float, default=1.0,
                       help="clip the gradient to this norm before each step; 0 turns clipping off (default: 1.0)")
    length = train.add_mutually_exclusive_group(required=True)
    length.add_argument("--max-steps", type=int, help="optimizer steps to train for")
    length.add_argument("--time-budget", type=str, help="train for this long (e.g. 30m, 2h); the LR "
                        "schedule spans the budget")
    add_precision_flag(train)
    train.add_argument("--compile", action="store_true", help="torch.compile the model (pads to --max-seq-length)")
    train.add_argument("--device", choices=["cpu", "cuda"], help="default: CUDA when available")
    train.add_argument("--seed", type=int, default=42)

    run = p.add_argument_group("logging and checkpoints")
    run.add_argument("--log-every", type=int, default=10, help="steps between metrics.jsonl lines")
    run.add_argument("--eval-every", type=int, default=500, help="steps between evaluations (0: never)")
    run.add_argument("--save-every", type=int, default=1000,
                     help="steps between resumable checkpoints (0: only at the end)")
    run.add_argument("--keep-checkpoints", type=int, default=2, help="how many checkpoints to keep")
    run_dir = run.add_mutually_exclusive_group()
    run_dir.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint "
                         "(a fresh start if there is none)")
    run_dir.add_argument("--overwrite", action="store_true", help="start over, replacing the run in --output")
    run.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    run.add_argument("--report-to", choices=REPORT_TO, default="none",
                     help="also write every metrics.jsonl field as a TensorBoard scalar, in OUTPUT/tensorboard "
                          "(needs the tensorboard package) (default: none)")

    probe = p.add_argument_group("probe", "a quick fine-tune from the current weights while pretraining, off the "
                                 "clock (pretrain/probe.py); its dev figures go into metrics.jsonl as probe_<metric>")
    probe.add_argument("--probe", metavar="TASK", help="a GLUE task to probe with, e.g. cola (default: no probe)")
    probe.add_argument("--probe-data", type=Path, metavar="DIR",
                       help="the task's data in the GLUE TSV layout (default: nyu-mll/glue from the HF Hub)")
    probe.add_argument("--probe-every", type=str, default=600.0, metavar="DURATION",
                       help="training time between probes, e.g. 10m (default), and one at the end")
    probe.add_argument("--probe-examples", type=int, default=2000,
                       help="training examples of each probe (default: %(default)s)")
    probe.add_argument("--probe-epochs", type=int, default=1, help="epochs of each probe (default: %(default)s)")
    probe.add_argument("--probe-lr", type=float, default=1e-4,
                       help="peak learning rate of each probe (default: %(default)s)")
    probe.add_argument("--probe-max-grad-norm", type=float, metavar="NORM",
                       help="gradient clipping of each probe, 0: none (default: the task family's, as "
                            "bert-finetune's --max-grad-norm)")
    probe.add_argument("--probe-seeds", default="1", metavar="SEEDS",
                       help="comma-separated seeds, one fine-tune each at every probe; the median is logged as "
                            "probe_<metric>, the range as probe_<metric>_min and _max (default: %(default)s)")
    return p


def options_from_args(args: argparse.Namespace) -> PretrainOptions:
    """The options of a run (--init-from as given: the run resolves a Hub id)."""
    values = vars(args).copy()
    values["lowercase"] = not values.pop("cased")
    return PretrainOptions(**values)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    where = f"[rank {os.environ['RANK']}] " if int(os.environ.get("WORLD_SIZE", "1")) > 1 else ""
    try:
        pretrain(options_from_args(args))
    except InputError as e:  # bad input: one line, no traceback
        print(f"{where}error: {e}", file=sys.stderr)
        return 2
    except TrainingDiverged as e:  # the run stopped itself; its last good checkpoint is kept
        print(f"{where}error: {e}", file=sys.stderr)
        return 1
    except RunInterrupted as e:  # a signal stopped it: the checkpoint is saved, --resume continues
        return e.exit_status
    except KeyboardInterrupt:
        print(f"{where}interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
