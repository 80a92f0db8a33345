"""Fill [MASK] with a pretrained checkpoint, loaded by `transformers.BertForPreTraining` (the reference), and
check that our BertForPreTraining predicts the same words.

    python bench/fill_mask.py runs/main-2h/pretrained
    python bench/fill_mask.py runs/main-2h/pretrained "the [MASK] was very happy to see her."
"""

from __future__ import annotations

import argparse

import torch
import transformers

from bert import BertForPreTraining
from tokenizer import WordPieceTokenizer

SENTENCES = [
    "she opened the [MASK] and looked out at the garden.",
    "he put his hand in his [MASK] and took out a letter.",
    "it was a cold [MASK] in the middle of december.",
    "the old man sat down by the [MASK] to warm himself.",
    "i do not know what you [MASK] by that.",
    "they walked for miles along the [MASK] of the river.",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a pretraining output directory (HF layout, with vocab.txt)")
    p.add_argument("sentences", nargs="*", help=f"sentences with one [MASK] (default: {len(SENTENCES)} built in)")
    p.add_argument("--top", type=int, default=5)
    args = p.parse_args()

    transformers.logging.disable_progress_bar()  # keep the output to the predictions
    tokenizer = WordPieceTokenizer.from_pretrained(args.model)
    reference = transformers.BertForPreTraining.from_pretrained(args.model).eval()
    ours = BertForPreTraining.from_pretrained(args.model).eval()
    mask_id = tokenizer.token_to_id("[MASK]")
    for sentence in args.sentences or SENTENCES:
        ids = torch.tensor([tokenizer.encode(sentence).ids])
        position = (ids[0] == mask_id).nonzero()
        if len(position) != 1:
            raise SystemExit(f"error: {sentence!r} needs exactly one [MASK]")
        with torch.no_grad():
            hf_logits = reference(input_ids=ids).prediction_logits[0, position[0, 0]]
            our_logits = ours(input_ids=ids).prediction_logits[0, position[0, 0]]
        top = hf_logits.softmax(-1).topk(args.top)
        assert torch.equal(our_logits.topk(args.top).indices, top.indices), "our model disagrees with transformers"
        words = ", ".join(f"{tokenizer.id_to_token(int(i))} ({p:.2f})" for p, i in zip(top.values, top.indices))
        print(f"{sentence}\n    -> {words}")


if __name__ == "__main__":
    main()
