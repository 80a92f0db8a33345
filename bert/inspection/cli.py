"""bert-inspect: look inside a BERT checkpoint with your own sentence.

    bert-inspect --model CHECKPOINT "The cat sat on the mat." ["A second sentence."]
        [--attention map.png [--layer L --head H]] [--compare OTHER_CHECKPOINT] [--json report.json]

For the sentence (or pair) it shows the encoding ([CLS]/[SEP], segment ids, attention mask), the module tree
with parameter counts, the forward FLOPs at this length, the shape the input takes from embeddings to the
head's output, the masked-LM head's guesses for each [MASK], and with `--attention` every head's attention as
heat maps. `--compare` measures how far each module's weights moved between two checkpoints: does fine-tuning
change the encoder? Without a sentence, only the checkpoint-wide parts (modules, comparison) are shown.
"""

from __future__ import annotations

import argparse
import sys

from bert.errors import InputError

from .report import Inspection, inspect_checkpoint, print_report, save_outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bert-inspect", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", metavar="DIR",
                        help="the checkpoint: a directory in HF layout (ours, fine-tuned, any HF BERT) or a Hub id")
    # the checkpoint as the first argument, as before --model: accepted, not shown
    parser.add_argument("checkpoint", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("sentence", nargs="?", help="the text to run through the model")
    parser.add_argument("pair", nargs="?", help="a second sentence, for a sentence pair")
    parser.add_argument("--attention", metavar="PNG", help="draw every layer's and head's attention here")
    parser.add_argument("--layer", type=int, help="with --head: draw this layer's map alone (0-based)")
    parser.add_argument("--head", type=int, help="with --layer: draw this head's map alone (0-based)")
    parser.add_argument("--top-k", type=int, default=5, help="fillers shown for each [MASK] (default 5)")
    parser.add_argument("--compare", metavar="OTHER", help="how far each module's weights moved in OTHER")
    parser.add_argument("--json", metavar="FILE", help="write everything shown (and attention weights) as JSON")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line with the checkpoint in `model`, given by --model or as the first argument (then the
    positional arguments are checkpoint, sentence, pair); giving it both ways, or not at all, is a usage error."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.model is None:
        if args.checkpoint is None:
            parser.error("give the checkpoint with --model DIR")
        args.model = args.checkpoint
    else:
        if args.pair is not None:
            parser.error(f"the checkpoint is given twice: --model {args.model} and {args.checkpoint!r} before "
                         "the sentences; keep --model")
        args.sentence, args.pair = args.checkpoint, args.sentence  # with --model, every positional is a text
    return args


def check_args(args: argparse.Namespace) -> None:
    if (args.layer is None) != (args.head is None):
        raise InputError("--layer and --head go together")
    if args.layer is not None and args.attention is None:
        raise InputError("--layer/--head choose the map --attention draws: add --attention FILE.png")
    if args.sentence is None and args.attention is not None:
        raise InputError("--attention needs a sentence")
    for name, text in (("sentence", args.sentence), ("second sentence", args.pair)):
        if text is not None and not text.strip():
            raise InputError(f"the {name} is empty")
    if args.top_k < 1:
        raise InputError(f"--top-k must be at least 1, got {args.top_k}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        check_args(args)
        request = Inspection(model=args.model, sentence=args.sentence, pair=args.pair,
                             attention_png=args.attention, layer=args.layer, head=args.head, top_k=args.top_k,
                             compare=args.compare, json_file=args.json)
        report, model = inspect_checkpoint(request)
        print_report(report, model)
        save_outputs(report, request)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

