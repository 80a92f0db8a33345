"""Our BERT against HF transformers on the same weights: outputs, losses and gradients (fp32, eval mode)."""

import math

import pytest
import torch

import bert
from bert.checkpoint import hf_name

transformers = pytest.importorskip("transformers")

TOL = 1e-5

CONFIGS = {
    "tiny": dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
    "odd": dict(vocab_size=1000, hidden_size=48, num_hidden_layers=1, num_attention_heads=3, intermediate_size=80,
                type_vocab_size=3, hidden_act="gelu_new"),
    "wide": dict(vocab_size=1500, hidden_size=96, num_hidden_layers=3, num_attention_heads=6, intermediate_size=200,
                 max_position_embeddings=64, layer_norm_eps=1e-7, num_labels=3),
}
HEADS = ["BertModel", "BertForPreTraining", "BertForMaskedLM", "BertForNextSentencePrediction",
         "BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering"]


def make_batch(vocab_size: int, type_vocab_size: int, seed: int = 0):
    """Two segments per row, rows of different lengths (so padding), real token types."""
    g = torch.Generator().manual_seed(seed)
    batch, seq = 4, 19
    input_ids = torch.randint(5, vocab_size, (batch, seq), generator=g)
    lengths = torch.tensor([19, 11, 7, 14])
    attention_mask = (torch.arange(seq)[None] < lengths[:, None]).long()
    input_ids[attention_mask == 0] = 0
    token_type_ids = (torch.arange(seq)[None] >= (lengths // 2)[:, None]).long() * attention_mask
    token_type_ids[0, -3:] = type_vocab_size - 1
    return dict(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids), g


def labels_for(head: str, batch: dict, config: dict, g: torch.Generator) -> dict:
    b, s = batch["input_ids"].shape
    mlm = torch.full((b, s), -100)
    chosen = (torch.rand(b, s, generator=g) < 0.3) & batch["attention_mask"].bool()
    mlm[chosen] = batch["input_ids"][chosen]
    return {
        "BertModel": {},
        "BertForPreTraining": dict(labels=mlm, next_sentence_label=torch.randint(0, 2, (b,), generator=g)),
        "BertForMaskedLM": dict(labels=mlm),
        "BertForNextSentencePrediction": dict(labels=torch.randint(0, 2, (b,), generator=g)),
        "BertForSequenceClassification": dict(labels=torch.randint(0, config.get("num_labels", 2), (b,), generator=g)),
        "BertForTokenClassification": dict(labels=torch.randint(0, config.get("num_labels", 2), (b, s), generator=g)),
        "BertForQuestionAnswering": dict(start_positions=torch.tensor([1, 3, 30, 2]), end_positions=torch.tensor([4, 5, 6, 40])),
    }[head]


def output_tensors(out) -> dict:
    names = ["last_hidden_state", "pooler_output", "prediction_logits", "seq_relationship_logits", "logits",
             "start_logits", "end_logits"]
    return {n: getattr(out, n) for n in names if getattr(out, n, None) is not None}


def hf_and_ours(head: str, config: dict, tmp_path):
    torch.manual_seed(0)
    hf = getattr(transformers, head)(transformers.BertConfig(**config)).eval()
    # HF initialises biases and LayerNorms to constants; randomise them so a swapped key cannot hide.
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    hf.save_pretrained(tmp_path)
    ours = getattr(bert, head).from_pretrained(tmp_path).eval()
    return hf, ours


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("head", HEADS)
def test_outputs_losses_and_gradients_match_hf(head, config_name, tmp_path):
    config = CONFIGS[config_name]
    if head == "BertForQuestionAnswering":
        config = {**config, "num_labels": 2}  # a start and an end score per token, whatever the config says
    hf, ours = hf_and_ours(head, config, tmp_path)
    batch, g = make_batch(config["vocab_size"], config.get("type_vocab_size", 2))

    # Without labels: every output field, full size.
    with torch.no_grad():
        ref, got = output_tensors(hf(**batch)), output_tensors(ours(**batch))
    assert set(got) == set(ref)
    for name in ref:
        assert (got[name] - ref[name]).abs().max() <= TOL, name

    # With labels: the loss, and the gradient of every parameter.
    labels = labels_for(head, batch, config, g)
    if not labels:
        return
    hf_out, our_out = hf(**batch, **labels), ours(**batch, **labels)
    assert abs(our_out.loss.item() - hf_out.loss.item()) <= TOL
    if "labels" in labels and head in ("BertForPreTraining", "BertForMaskedLM"):
        hf_logits = hf_out.prediction_logits if head == "BertForPreTraining" else hf_out.logits
        masked = labels["labels"] != -100  # ours projects only the masked positions
        our_logits = our_out.prediction_logits if head == "BertForPreTraining" else our_out.logits
        assert (our_logits - hf_logits[masked]).abs().max() <= TOL
    hf_out.loss.backward()
    our_out.loss.backward()
    hf_params = dict(hf.named_parameters())
    for name, param in ours.named_parameters():
        ref_grad = hf_params[hf_name(name)].grad
        assert (param.grad - ref_grad).abs().max() <= TOL, name


def test_real_checkpoint_matches_hf(minilm_path):
    hf = transformers.BertModel.from_pretrained(minilm_path).eval()
    ours = bert.BertModel.from_pretrained(minilm_path).eval()
    tok = transformers.BertTokenizerFast.from_pretrained(minilm_path)
    batch = tok(["The cat sat on the mat.", "A much longer sentence, with commas; and an unusual wordpiece: "
                 "unaffable."], ["Short pair.", "Another second segment here"], padding=True, return_tensors="pt")
    with torch.no_grad():
        ref = hf(**batch)
        got = ours(**batch)
    assert (got.last_hidden_state - ref.last_hidden_state).abs().max() <= TOL
    assert (got.pooler_output - ref.pooler_output).abs().max() <= TOL


def test_padding_costs_nothing():
    torch.manual_seed(0)
    model = bert.BertForSequenceClassification(bert.BertConfig.from_preset("tiny", vocab_size=500)).eval()
    ids = torch.randint(5, 500, (1, 9))
    with torch.no_grad():
        alone = model.bert(ids).last_hidden_state
        for pad in (1, 7, 40):
            padded = torch.cat([ids, torch.zeros(1, pad, dtype=torch.long)], dim=1)
            mask = (padded != 0).long()
            out = model.bert(padded, attention_mask=mask).last_hidden_state[:, :9]
            assert (out - alone).abs().max() <= TOL
            logits = model(padded, attention_mask=mask).logits
            assert (logits - model(ids).logits).abs().max() <= TOL


def test_cls_only_computes_the_same_cls_state_with_less_work():
    torch.manual_seed(0)
    model = bert.BertModel(bert.BertConfig.from_preset("tiny", vocab_size=500)).eval()
    ids = torch.randint(5, 500, (3, 12))
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    with torch.no_grad():
        full, cls = model(ids, mask), model(ids, mask, cls_only=True)
    assert cls.last_hidden_state.shape == (3, 1, 128)
    assert (cls.last_hidden_state - full.last_hidden_state[:, :1]).abs().max() <= TOL
    assert (cls.pooler_output - full.pooler_output).abs().max() <= TOL


def test_sinusoidal_position_start_has_the_embedding_std_and_the_sinusoid_pattern():
    torch.manual_seed(0)
    embeddings = bert.BertModel(bert.BertConfig.from_preset("mini", vocab_size=500)).embeddings
    embeddings.init_positions_sinusoidal(std=0.02)
    table = embeddings.position_embeddings.weight  # (512, 256)
    assert 0.015 < table.std().item() < 0.022  # about the std asked for (slow frequencies barely turn)
    scale = 0.02 * 2 ** 0.5
    assert torch.allclose(table[0, 0::2], torch.zeros(128)) and torch.allclose(table[0, 1::2], torch.full((128,), scale))
    assert torch.allclose(table[5, 0], torch.tensor(scale * math.sin(5.0)))  # dimension 0: frequency 1
    assert embeddings.position_embeddings.weight.requires_grad  # still learned


@pytest.mark.parametrize("head", ["BertForPreTraining", "BertForSequenceClassification"])
def test_zeroing_every_nn_dropout_in_training_mode_matches_hf(head, tmp_path):
    """The usual idiom (`m.p = 0` for every nn.Dropout) reaches attention dropout too: in train() mode the
    loss and every gradient then equal HF's with its dropouts zeroed the same way."""
    config = {**CONFIGS["tiny"], "attention_probs_dropout_prob": 0.5, "hidden_dropout_prob": 0.5}
    hf, ours = hf_and_ours(head, config, tmp_path)
    for model in (hf, ours):
        model.train()
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    batch, g = make_batch(config["vocab_size"], 2)
    labels = labels_for(head, batch, config, g)
    hf_out, our_out = hf(**batch, **labels), ours(**batch, **labels)
    assert abs(our_out.loss.item() - hf_out.loss.item()) <= TOL
    hf_out.loss.backward()
    our_out.loss.backward()
    hf_params = dict(hf.named_parameters())
    for name, param in ours.named_parameters():
        assert (param.grad - hf_params[hf_name(name)].grad).abs().max() <= TOL, name
