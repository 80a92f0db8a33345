"""`bert-export`: write a model folder's model (an encoder, or a fine-tuned head) as ONNX, for ONNX Runtime.

    bert-export --onnx exported/cola --model runs/cola
    bert-export --onnx exported/minilm --model path/to/all-MiniLM-L6-v2
    bert-predict --onnx --model exported/cola "The book was written by John."

--model: a model folder, a bert-finetune output folder (its best model, summary.json's best_model) or a
Hugging Face Hub id. --onnx: the folder to write: model.onnx (fp32, or fp16 with --precision fp16; inputs input_ids, attention_mask and, but
for DistilBERT, token_type_ids, int64 with dynamic batch and sequence; outputs logits, start_logits and
end_logits, or last_hidden_state), config.json, the tokenizer's files and the run's summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bert.errors import InputError
from finetune.export.onnx_export import PRECISIONS, export_onnx


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bert-export", description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.split("\n")[2:]))
    p.add_argument("--onnx", type=Path, required=True, metavar="OUT", help="the folder to write model.onnx into")
    p.add_argument("--model", required=True,
                   help="model directory, bert-finetune output directory, or Hugging Face Hub model id")
    p.add_argument("--precision", choices=list(PRECISIONS), default="fp32",
                   help="the graph's weights and arithmetic (default: %(default)s; fp16 halves the file, for "
                        "runtimes with fp16 kernels)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        path = export_onnx(args.model, args.onnx, args.precision)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"exported to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
