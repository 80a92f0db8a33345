"""`bert-tokenizer` (also `python -m tokenizer`): train a WordPiece vocabulary, or look at an encoding.

    bert-tokenizer train --corpus corpus/ --vocab-size 8000 --output my-vocab/ [--cased]
    bert-tokenizer train --corpus wikitext/wikitext-103-raw-v1 --vocab-size 8000 --output my-vocab/
    bert-tokenizer encode --vocab my-vocab/ "Some text" [--pair "A second text"] [--max-seq-length 16]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bert.errors import InputError
from bert.files import check_output_writable
from tokenizer.corpus import add_corpus_dataset_flags, CorpusStats, read_sentences, resolve_sources
from tokenizer.pipeline import SPECIAL_TOKENS
from tokenizer.text_files import check_text_arguments
from tokenizer.wordpiece import WordPieceTokenizer


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bert-tokenizer", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="learn a vocabulary from a corpus")
    train.add_argument("--corpus", "--input", dest="corpus", nargs="+", required=True, metavar="PATH",
                       help="text files, or folders of them (*.txt *.text *.tokens *.raw, recursively; UTF-8), "
                            "folders written by datasets' save_to_disk, or Hugging Face dataset names; read as "
                            "bert-pretrain reads them (tokenizer/corpus.py)")
    add_corpus_dataset_flags(train)
    train.add_argument("--vocab-size", type=vocab_size, required=True, metavar="N",
                       help=f"tokens in the vocabulary, the {len(SPECIAL_TOKENS)} special ones included")
    train.add_argument("--output", required=True, metavar="DIR",
                       help="directory for vocab.txt, tokenizer.json, tokenizer_config.json")
    train.add_argument("--cased", action="store_true", help="keep case and accents (default: lowercase them)")
    train.add_argument("--min-frequency", type=int, default=2, metavar="N",
                       help="a word must occur this often to shape the vocabulary (default 2)")

    encode = commands.add_parser("encode", help="show the tokens and ids of a text")
    encode.add_argument("text")
    encode.add_argument("--vocab", required=True, metavar="PATH",
                        help="a tokenizer directory (ours or an HF BERT checkpoint), vocab.txt or tokenizer.json")
    encode.add_argument("--pair", help="a second text, encoded as [CLS] text [SEP] pair [SEP]")
    encode.add_argument("--max-seq-length", type=int, metavar="N",
                        help="truncate to N tokens ([CLS] and each [SEP] included: at least 2, or 3 with --pair)")
    encode.add_argument("--max-length", dest="max_seq_length", type=int, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)  # the old name
    encode.add_argument("--cased", action="store_true",
                        help="for a bare vocab.txt only: do not lowercase (directories record this themselves)")
    return parser


def vocab_size(text: str) -> int:
    size = int(text)
    if size <= len(SPECIAL_TOKENS):
        raise argparse.ArgumentTypeError(f"must be above {len(SPECIAL_TOKENS)} (the special tokens), got {size}")
    return size


def run_train(args: argparse.Namespace) -> None:
    check_output_writable(Path(args.output))
    sources = resolve_sources(args.corpus, args.corpus_split, args.corpus_column)
    print(f"training a vocabulary of {args.vocab_size} tokens on {len(sources)} source(s)", file=sys.stderr)
    start = time.perf_counter()
    stats = CorpusStats()
    tok = WordPieceTokenizer.train(read_sentences(sources, stats), vocab_size=args.vocab_size,
                                   lowercase=not args.cased, min_frequency=args.min_frequency)
    seconds = time.perf_counter() - start
    if stats.invalid_utf8_lines:
        print(f"note: skipped {stats.invalid_utf8_lines:,} line(s) that are not valid UTF-8 "
              f"(first: {stats.first_invalid_line})", file=sys.stderr)
    directory = tok.save(args.output)
    print(f"saved {tok.vocab_size} tokens ({'cased' if args.cased else 'uncased'}) to {directory} "
          f"in {seconds:.1f} s")


def run_encode(args: argparse.Namespace) -> None:
    needed = 3 if args.pair is not None else 2  # [CLS] text [SEP] (pair [SEP])
    if args.max_seq_length is not None and args.max_seq_length < needed:
        raise InputError(f"--max-seq-length {args.max_seq_length} leaves no room for the text: [CLS] and [SEP] take "
                         f"{needed} tokens")
    check_text_arguments(args.text, args.pair)
    tok = WordPieceTokenizer.from_pretrained(args.vocab, lowercase=False if args.cased else None)
    encoding = tok.encode(args.text, args.pair, max_length=args.max_seq_length)
    # One column per token, wide enough for the token and its id.
    widths = [max(len(token), len(str(i))) for token, i in zip(encoding.tokens, encoding.ids)]
    print("tokens: " + " ".join(token.ljust(w) for token, w in zip(encoding.tokens, widths)).rstrip())
    print("ids:    " + " ".join(str(i).ljust(w) for i, w in zip(encoding.ids, widths)).rstrip())


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            run_train(args)
        else:
            run_encode(args)
    except InputError as e:  # bad input: one line, no traceback; anything else is a bug
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
