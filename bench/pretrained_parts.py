"""Which part of a pretrained model helps or hurts a fine-tune: a model folder whose parameters come from the
pretrained checkpoint where their names match --keep and from a fresh random start (BERT's initialisation,
--seed) elsewhere, with the embeddings optionally rescaled.

    python bench/pretrained_parts.py runs/main/pretrained-task-text --keep 'word_embeddings' --output runs/parts/words
    python bench/pretrained_parts.py runs/main/pretrained-task-text --embedding-scale 0.2 --output runs/parts/scaled
    bert-finetune --task sst2 --model runs/parts/words ...     # then fine-tune each folder alike

Names are this project's (`bert.embeddings.word_embeddings.weight`, `bert.encoder.layers.0...`, `mlm_head...`);
the script prints which ones came from the checkpoint. --keep defaults to everything.

--embedding-scale F multiplies the word, position and segment embeddings by F. The embedding LayerNorm
normalises their sum, so the encoder computes the same function (to rounding); dividing the masked-LM head's
LayerNorm gain and bias by F keeps its logits too, whose output projection is the (tied) word embeddings.
What changes is training from there: Adam moves every weight by about the learning rate per step whatever its
size, so smaller embeddings are re-learned faster. A checkpoint whose weights grew during pretraining (2-5x
BERT's N(0, 0.02) start after minutes at lr 2e-3) fine-tunes more slowly than random weights for that reason
alone; this separates that from what the weights know.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bert import BertForPreTraining  # noqa: E402
from tokenizer import WordPieceTokenizer  # noqa: E402

SCALED_EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")


def mixed_model(pretrained: BertForPreTraining, keep: re.Pattern, seed: int) -> tuple[BertForPreTraining, list[str]]:
    """A model of the same config: the parameters named by `keep` from `pretrained`, the rest drawn afresh."""
    torch.manual_seed(seed)
    model = BertForPreTraining(pretrained.config)
    pretrained_state = pretrained.state_dict()
    kept = [name for name in pretrained_state if keep.search(name)]
    state = model.state_dict()
    state.update({name: pretrained_state[name] for name in kept})
    model.load_state_dict(state)
    return model, kept


@torch.no_grad()
def scale_embeddings(model: BertForPreTraining, factor: float) -> None:
    """Embeddings times `factor`, the MLM head's LayerNorm divided by it: the same outputs, smaller weights."""
    for name in SCALED_EMBEDDINGS:
        getattr(model.bert.embeddings, name).weight.mul_(factor)
    model.mlm_head.norm.weight.div_(factor)
    model.mlm_head.norm.bias.div_(factor)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("pretrained", type=Path, help="a pretrained model folder (bert-pretrain's --output)")
    p.add_argument("--output", type=Path, required=True, help="the folder to write (HF layout, tokenizer copied)")
    p.add_argument("--keep", default=".", help="regular expression: parameters taken from the checkpoint")
    p.add_argument("--seed", type=int, default=0, help="seed of the random start for the other parameters")
    p.add_argument("--embedding-scale", type=float, default=1.0, help="multiply the embeddings by this (> 0)")
    args = p.parse_args(argv)
    if not args.embedding_scale > 0:
        p.error(f"--embedding-scale must be above 0, got {args.embedding_scale}")
    try:
        keep = re.compile(args.keep)
        pretrained = BertForPreTraining.from_pretrained(args.pretrained)
        tokenizer = WordPieceTokenizer.from_pretrained(args.pretrained)
    except (re.error, FileNotFoundError) as e:
        p.error(str(e))
    model, kept = mixed_model(pretrained, keep, args.seed)
    if args.embedding_scale != 1.0:
        scale_embeddings(model, args.embedding_scale)
    model.save_pretrained(args.output)
    tokenizer.save(args.output)
    print(f"{len(kept)} of {len(model.state_dict())} tensors from {args.pretrained}, the rest random (seed "
          f"{args.seed}); embeddings x {args.embedding_scale:g}; written to {args.output}")
    for name in kept:
        print(f"  {name}")


if __name__ == "__main__":
    main()
