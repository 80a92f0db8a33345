"""`bert-embed`: sentence vectors from a BERT or DistilBERT model folder, computed by this project's encoder.

    bert-embed --model all-MiniLM-L6-v2/ "A man is eating food." "Someone is eating."
    bert-embed --model DIR --input sentences.txt --output vectors.npy
    bert-embed --model DIR --input reviews.csv --text-columns review --output vectors.jsonl
    bert-embed --model DIR --similarity "A man is eating food." "Someone is eating."
    bert-embed --model DIR --query "How do I bake bread?" --corpus faq.txt --top-k 3

With no flags the folder decides: a sentence-transformers folder's modules.json (pooling mode, Normalize) and
max_seq_length; any other folder mean pooling without normalisation (--pooling, --normalize override).

Output: one row per text, in input order. --output FILE.npy writes a (texts, hidden) float32 array,
FILE.jsonl (and no --output: stdout) one {"text", "embedding"} object per line. --similarity prints the cosine
similarity of two texts; --query prints the --top-k nearest texts of --corpus as `score<TAB>line<TAB>text`.
--input and --corpus: one text per line, JSON lines ("text"), or a CSV/TSV/JSON-lines column with
--text-columns NAME.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import torch

from bert.errors import InputError
from bert.files import atomic_write
from bert.pooling import POOLING_MODES
from finetune.embeddings.embedder import SentenceEmbedder, cosine_similarity, nearest
from finetune.embeddings.text_files import read_texts
from tokenizer.text_files import check_text_arguments
from training import add_precision_flag, choose_precision

OUTPUT_FORMATS = (".npy", ".jsonl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bert-embed", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("--model", required=True,
                   help="model folder (sentence-transformers or plain BERT / DistilBERT), bert-finetune output "
                        "folder, or Hugging Face Hub model id")
    p.add_argument("texts", nargs="*", metavar="TEXT", help="texts to embed")
    p.add_argument("--input", type=Path, help="embed every text of this file")
    p.add_argument("--text-columns", metavar="NAME", help="the column of --input's (or --corpus') table to embed")
    p.add_argument("--output", type=Path, help="FILE.npy or FILE.jsonl (default: JSON lines on stdout)")
    p.add_argument("--similarity", action="store_true", help="print the cosine similarity of two TEXTs")
    p.add_argument("--query", help="print the texts of --corpus nearest to this one")
    p.add_argument("--corpus", type=Path, help="the texts --query searches")
    p.add_argument("--top-k", type=int, default=5, help="how many --corpus texts --query prints (default: %(default)s)")
    p.add_argument("--pooling", choices=POOLING_MODES, help="override the folder's pooling (default: the folder's, "
                                                             "or mean)")
    p.add_argument("--normalize", action=argparse.BooleanOptionalAction,
                   help="L2-normalise the vectors, or not (default: as the folder says; no for a plain folder)")
    p.add_argument("--max-seq-length", type=int, help="cut texts to this many tokens (default: the folder's "
                                                      "max_seq_length, else the model's positions)")
    p.add_argument("--batch-size", type=int, default=32, help="default: %(default)s")
    add_precision_flag(p)
    args = p.parse_args(argv)
    searching = args.query is not None or args.corpus is not None
    if searching and (args.query is None or args.corpus is None):
        p.error("--query and --corpus go together")
    if searching and (args.texts or args.input or args.similarity or args.output):
        p.error("--query/--corpus print the nearest texts: give no TEXT, --input, --similarity or --output")
    if args.similarity and (len(args.texts) != 2 or args.input or args.output):
        p.error("--similarity compares two TEXTs: give exactly two, without --input or --output")
    if not searching and bool(args.texts) == bool(args.input):
        p.error("give TEXT ... or --input FILE (one of them)")
    if args.text_columns is not None and args.input is None and args.corpus is None:
        p.error("--text-columns names a column of --input's (or --corpus') file")
    if args.output is not None and args.output.suffix not in OUTPUT_FORMATS:
        p.error(f"--output {args.output}: name it .npy or .jsonl")
    for flag, value, least in (("--batch-size", args.batch_size, 1), ("--top-k", args.top_k, 1),
                               ("--max-seq-length", args.max_seq_length, 2)):
        if value is not None and value < least:
            p.error(f"{flag} must be at least {least}, got {value}")
    return args


def jsonl_rows(texts: list[str], vectors: np.ndarray) -> str:
    return "".join(json.dumps({"text": text, "embedding": vector.tolist()}, ensure_ascii=False) + "\n"
                   for text, vector in zip(texts, vectors))


def write_output(path: Path, texts: list[str], vectors: np.ndarray) -> None:
    if path.suffix == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        write = lambda tmp: Path(tmp).write_bytes(buffer.getvalue())  # noqa: E731
    else:
        write = lambda tmp: Path(tmp).write_text(jsonl_rows(texts, vectors), encoding="utf-8")  # noqa: E731
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, write)
    except OSError as e:
        raise InputError(f"--output {path}: cannot write ({e.strerror})") from None


def run(args: argparse.Namespace) -> None:
    check_text_arguments(*args.texts, args.query)
    precision = choose_precision(args.precision, "cuda" if torch.cuda.is_available() else "cpu")
    # files are read before the model is loaded: a bad line fails at once
    corpus = read_texts(args.corpus, args.text_columns) if args.corpus is not None else None
    texts = [t.text for t in read_texts(args.input, args.text_columns)] if args.input else args.texts
    embedder = SentenceEmbedder.load(args.model, args.pooling, args.normalize, args.max_seq_length)
    print(precision.describe(), file=sys.stderr)
    if corpus is not None:
        query = embedder.embed([args.query], 1, precision)[0]
        found = nearest(query, embedder.embed([t.text for t in corpus], args.batch_size, precision), args.top_k)
        sys.stdout.write("".join(f"{score:.4f}\t{corpus[i].line}\t{' '.join(corpus[i].text.split())}\n"
                                 for i, score in found))
        return
    vectors = embedder.embed(texts, args.batch_size, precision)
    if args.similarity:
        print(f"{cosine_similarity(vectors[0], vectors[1]):.4f}")
    elif args.output is None:
        sys.stdout.write(jsonl_rows(texts, vectors))
    else:
        write_output(args.output, texts, vectors)
        print(f"{len(texts)} vectors of {embedder.dimension} written to {args.output}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        run(args)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
