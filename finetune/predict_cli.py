"""`bert-predict`: run a fine-tuned classifier, entity tagger or question answerer on your own text.

    bert-predict --model runs/cola "The book was written by John."
    bert-predict --model runs/mrpc/seed-1/model "He left early." "He did not stay long."
    bert-predict --model runs/mrpc --input pairs.tsv --output predictions.tsv
    bert-predict --model runs/ner "Angela Merkel visited Paris on Tuesday."
    bert-predict --model runs/squad --question "Who wrote it?" --context "It was written by Pina Bausch."

--model is a model directory (config.json, model.safetensors, vocab.txt; BERT or DistilBERT), a
`bert-finetune` output directory, whose best model (summary.json's best_model) is used, or a Hugging Face Hub
id of a fine-tuned model (fetched into the HF cache; read from there offline). Its config.json's architecture
says what it predicts (finetune/predictor.py); a model without a fine-tuned head is refused. Texts are cut to
the length the model was fine-tuned with, as recorded in that summary.json (128 where no summary is found;
--max-seq-length).

A classifier prints the label and every class's probability (finetune/sentence/predict.py). --input formats:
`.jsonl`, one object per line with "text" and optionally "pair"; anything else TSV, one example per line,
`text` or `text<TAB>pair`, no header. With --text-columns NAME[,NAME], --input is read as bert-finetune reads
your own files (CSV, TSV or JSON lines with a header) and the text (and pair) come from those columns.
Results go to --output (JSON lines if it ends in .jsonl, TSV otherwise) or to stdout as TSV.

A token classifier (bert-finetune --task conll2003) prints the text's entities: character offsets, type,
score and the entity's text, one per line (finetune/token/predict.py); with --input, TSV rows `index start
end type score entity`, or one JSON object per text.

A question-answering model (bert-finetune --task squad) takes --question and --context, or --input with JSON
lines of "question" and "context" (finetune/qa/predict.py).

--onnx: --model is a folder written by bert-export, run in ONNX Runtime (fp32) instead of PyTorch.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from pathlib import Path

from finetune.predictor import PredictOptions, predict
from training import add_precision_flag
from bert.errors import InputError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bert-predict", description=" ".join(__doc__.split("\n\n")[0].split()),
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    p.add_argument("--model", required=True,
                   help="model directory, bert-finetune output directory, or Hugging Face Hub model id")
    p.add_argument("texts", nargs="*", metavar="TEXT", help='a sentence, or a sentence pair: "first" "second"')
    p.add_argument("--question", help="a question about --context (question-answering models)")
    p.add_argument("--context", help="the text that holds --question's answer")
    p.add_argument("--input", type=Path, help="predict every line of a .tsv or .jsonl file")
    p.add_argument("--text-columns", metavar="NAME[,NAME]",
                   help="read --input as a table with a header (CSV, TSV or JSON lines) and take the text, or a "
                        "pair, from these columns")
    p.add_argument("--output", type=Path, help="where --input's predictions go (default: stdout)")
    p.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    p.add_argument("--max-seq-length", type=int,
                   help="truncate to this many tokens (default: the length the model was fine-tuned with, from "
                        "bert-finetune's summary.json; 128 without one)")
    p.add_argument("--onnx", action="store_true",
                   help="--model is a bert-export folder: run its model.onnx in ONNX Runtime")
    p.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda if available")
    add_precision_flag(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    names = {f.name for f in fields(PredictOptions)}
    try:
        text = predict(PredictOptions(**{k: v for k, v in vars(args).items() if k in names}))
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
