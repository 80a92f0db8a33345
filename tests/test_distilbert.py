"""DistilBERT against HF transformers on the same weights (outputs, losses, gradients; fp32, eval mode), its
checkpoints both ways, and its config.

No real DistilBERT checkpoint installs offline (no pip package ships one), so every checkpoint here is a
randomly initialised one written by `transformers`, in shapes BERT-base never has.
"""

import json
import logging

import pytest
import torch
from safetensors.torch import load_file, save_file

import bert
from bert import DistilBertConfig
from bert.checkpoint import DISTILBERT_LAYOUT, hf_name

transformers = pytest.importorskip("transformers")

TOL = 1e-5

# HF's DistilBertConfig field names. Odd widths, head counts, depths, both activations, both position starts.
CONFIGS = {
    "tiny": dict(vocab_size=1000, dim=64, n_layers=2, n_heads=4, hidden_dim=128),
    "odd": dict(vocab_size=700, dim=45, n_layers=1, n_heads=5, hidden_dim=70, activation="relu",
                sinusoidal_pos_embds=True, max_position_embeddings=40),
    "deep": dict(vocab_size=1500, dim=96, n_layers=3, n_heads=8, hidden_dim=200, max_position_embeddings=64,
                 sinusoidal_pos_embds=True, num_labels=3),
}
HEADS = ["DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification",
         "DistilBertForTokenClassification", "DistilBertForQuestionAnswering"]



def make_batch(vocab_size: int, seed: int = 0):
    """Rows of different lengths, so padding; no token types (DistilBERT has none)."""
    g = torch.Generator().manual_seed(seed)
    batch, seq = 4, 19
    input_ids = torch.randint(5, vocab_size, (batch, seq), generator=g)
    lengths = torch.tensor([19, 11, 7, 14])
    attention_mask = (torch.arange(seq)[None] < lengths[:, None]).long()
    input_ids[attention_mask == 0] = 0
    return dict(input_ids=input_ids, attention_mask=attention_mask), g


def labels_for(head: str, batch: dict, num_labels: int, g: torch.Generator) -> dict:
    b, s = batch["input_ids"].shape
    mlm = torch.full((b, s), -100)
    chosen = (torch.rand(b, s, generator=g) < 0.3) & batch["attention_mask"].bool()
    mlm[chosen] = batch["input_ids"][chosen]
    return {
        "DistilBertModel": {},
        "DistilBertForMaskedLM": dict(labels=mlm),
        "DistilBertForSequenceClassification": dict(labels=torch.randint(0, num_labels, (b,), generator=g)),
        "DistilBertForTokenClassification": dict(labels=torch.randint(0, num_labels, (b, s), generator=g)),
        "DistilBertForQuestionAnswering": dict(start_positions=torch.tensor([1, 3, 30, 2]),
                                               end_positions=torch.tensor([4, 5, 6, 40])),
    }[head]


def output_tensors(out) -> dict:
    names = ["last_hidden_state", "logits", "start_logits", "end_logits"]
    return {n: getattr(out, n) for n in names if getattr(out, n, None) is not None}


def hf_checkpoint(head: str, config: dict, directory):
    """A randomly initialised HF model, saved; biases and LayerNorms randomised so a swapped key cannot hide."""
    torch.manual_seed(0)
    hf = getattr(transformers, head)(transformers.DistilBertConfig(**config)).eval()
    with torch.no_grad():
        for p in hf.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    hf.save_pretrained(directory)
    return hf


@pytest.mark.parametrize("config_name", list(CONFIGS))
@pytest.mark.parametrize("head", HEADS)
def test_outputs_losses_and_gradients_match_hf(head, config_name, tmp_path):
    config = CONFIGS[config_name]
    if head == "DistilBertForQuestionAnswering":
        config = {**config, "num_labels": 2}  # HF's QA head insists on two outputs
    hf = hf_checkpoint(head, config, tmp_path)
    ours = getattr(bert, head).from_pretrained(tmp_path).eval()
    assert type(ours.config) is DistilBertConfig
    batch, g = make_batch(config["vocab_size"])

    # Without labels: every output field, full size.
    with torch.no_grad():
        ref, got = output_tensors(hf(**batch)), output_tensors(ours(**batch))
    assert set(got) == set(ref)
    for name in ref:
        assert got[name].shape == ref[name].shape, name
        assert (got[name] - ref[name]).abs().max() <= TOL, name

    # With labels: the loss, and the gradient of every parameter.
    labels = labels_for(head, batch, config.get("num_labels", 2), g)
    if not labels:
        return
    hf_out, our_out = hf(**batch, **labels), ours(**batch, **labels)
    assert abs(our_out.loss.item() - hf_out.loss.item()) <= TOL
    if head == "DistilBertForMaskedLM":
        masked = labels["labels"] != -100  # ours projects only the masked positions
        assert (our_out.logits - hf_out.logits[masked]).abs().max() <= TOL
    hf_out.loss.backward()
    our_out.loss.backward()
    hf_params = dict(hf.named_parameters())
    for name, param in ours.named_parameters():
        ref_grad = hf_params[hf_name(name, DISTILBERT_LAYOUT)].grad
        assert (param.grad - ref_grad).abs().max() <= TOL, name


def test_regression_head_matches_hf(tmp_path):
    config = {**CONFIGS["tiny"], "num_labels": 1}
    hf = hf_checkpoint("DistilBertForSequenceClassification", config, tmp_path)
    ours = bert.DistilBertForSequenceClassification.from_pretrained(tmp_path).eval()
    batch, _ = make_batch(config["vocab_size"])
    scores = torch.tensor([0.5, 4.2, 3.0, 1.7])
    hf_loss, our_loss = hf(**batch, labels=scores).loss, ours(**batch, labels=scores).loss
    assert hf.config.problem_type == "regression"
    assert abs(our_loss.item() - hf_loss.item()) <= TOL


def test_training_mode_drops_out_where_hf_does(tmp_path, monkeypatch):
    """Same seed, same dropout masks, same outputs: only possible if every dropout sits where HF's does (in
    particular, none on the attention output, which BERT has and DistilBERT lacks). Our Dropout draws its
    CPU masks with another sampler (bert.model.Dropout), so here it samples as nn.Dropout does."""
    monkeypatch.setattr(bert.model.Dropout, "forward", torch.nn.Dropout.forward)
    config = {**CONFIGS["tiny"], "dropout": 0.3, "attention_dropout": 0.0}
    hf = hf_checkpoint("DistilBertForTokenClassification", config, tmp_path).train()
    ours = bert.DistilBertForTokenClassification.from_pretrained(tmp_path).train()
    batch, _ = make_batch(config["vocab_size"])
    torch.manual_seed(7)
    ref = hf(**batch).logits
    torch.manual_seed(7)
    got = ours(**batch).logits
    assert (got - ref).abs().max() <= TOL
    torch.manual_seed(8)
    assert (ours(**batch).logits - ref).abs().max() > 1e-3  # dropout is on: another seed differs


@pytest.mark.parametrize("head", HEADS)
def test_ours_to_hf_round_trip(head, tmp_path):
    """Ours -> save -> transformers loads it with no missing or unexpected key and computes the same."""
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=300, hidden_size=36, num_hidden_layers=2, num_attention_heads=3,
                              intermediate_size=50, hidden_act="relu", sinusoidal_pos_embds=True,
                              max_position_embeddings=32)
    ours = getattr(bert, head)(config).eval()
    ours.save_pretrained(tmp_path)
    hf, info = getattr(transformers, head).from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == [head]
    batch, _ = make_batch(300)
    with torch.no_grad():
        ref, got = output_tensors(hf.eval()(**batch)), output_tensors(ours(**batch))
    assert set(got) == set(ref)
    for name in ref:
        assert (got[name] - ref[name]).abs().max() <= TOL, name
    reloaded = getattr(bert, head).from_pretrained(tmp_path)
    for (name, a), b in zip(ours.state_dict().items(), reloaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_fresh_sinusoidal_positions_are_hf_sinusoids():
    torch.manual_seed(0)
    config = dict(vocab_size=100, dim=45, n_layers=1, n_heads=5, hidden_dim=60, sinusoidal_pos_embds=True,
                  max_position_embeddings=50)
    hf = transformers.DistilBertModel(transformers.DistilBertConfig(**config))
    ours = bert.DistilBertModel(DistilBertConfig.from_dict({**config, "model_type": "distilbert"}))
    table, ref = ours.embeddings.position_embeddings.weight, hf.embeddings.position_embeddings.weight
    assert (table - ref).abs().max() <= 1e-4  # HF computes in float64, ours in float32
    assert table.requires_grad == ref.requires_grad


def test_config_json_round_trip_with_hf(tmp_path):
    ours = DistilBertConfig(vocab_size=500, hidden_size=48, num_hidden_layers=3, num_attention_heads=4,
                            intermediate_size=100, hidden_act="relu", hidden_dropout_prob=0.05,
                            attention_probs_dropout_prob=0.15, seq_classif_dropout=0.3, qa_dropout=0.25,
                            sinusoidal_pos_embds=True, max_position_embeddings=128, id2label={0: "no", 1: "yes"})
    ours.to_json_file(tmp_path / "config.json")
    theirs = transformers.DistilBertConfig.from_json_file(tmp_path / "config.json")
    sizes = (theirs.dim, theirs.n_layers, theirs.n_heads, theirs.hidden_dim, theirs.activation)
    assert sizes == (48, 3, 4, 100, "relu")
    dropouts = (theirs.dropout, theirs.attention_dropout, theirs.seq_classif_dropout, theirs.qa_dropout)
    assert dropouts == (0.05, 0.15, 0.3, 0.25)
    assert theirs.sinusoidal_pos_embds and theirs.max_position_embeddings == 128
    assert theirs.id2label == {0: "no", 1: "yes"}
    assert "type_vocab_size" not in json.loads((tmp_path / "config.json").read_text())
    theirs.to_json_file(tmp_path / "hf.json")
    assert DistilBertConfig.from_json_file(tmp_path / "hf.json") == ours
    assert bert.read_config(tmp_path / "hf.json") == ours  # read_config picks the class from model_type
    assert type(bert.read_config(tmp_path / "hf.json")) is DistilBertConfig


@pytest.mark.parametrize("kwargs, message", [
    (dict(type_vocab_size=2), "type_vocab_size must be 0"),
    (dict(layer_norm_eps=1e-5), "layer_norm_eps must be 1e-12"),
    (dict(seq_classif_dropout=1.0), "seq_classif_dropout must be in"),
    (dict(num_attention_heads=5), "hidden_size .768. must be divisible"),
])
def test_invalid_configs_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=f"DistilBertConfig.{message}"):
        DistilBertConfig(**kwargs)


def test_no_token_type_ids_for_a_model_without_token_types():
    model = bert.DistilBertModel(DistilBertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=32))
    assert model.embeddings.token_type_embeddings is None
    ids = torch.randint(5, 50, (2, 6))
    with pytest.raises(TypeError, match="token_type_ids"):
        model(ids, token_type_ids=torch.zeros_like(ids))


def test_masked_lm_checkpoint_loads_into_every_head(tmp_path, caplog):
    """The fine-tuning path: the MLM head is dropped (reported), a fresh classifier is initialised."""
    hf_checkpoint("DistilBertForMaskedLM", CONFIGS["tiny"], tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    with caplog.at_level(logging.WARNING, logger="bert"):
        clf = bert.DistilBertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert clf.classifier.out_features == 3 and clf.pre_classifier.in_features == 64
    assert "pre_classifier.weight" in caplog.text and "vocab_transform.weight" in caplog.text
    assert torch.equal(clf.distilbert.encoder.layers[1].feed_forward.up.weight,
                       state["distilbert.transformer.layer.1.ffn.lin1.weight"])
    base = bert.DistilBertModel.from_pretrained(tmp_path)  # keys carry "distilbert.", DistilBertModel's do not
    assert torch.equal(base.embeddings.word_embeddings.weight, state["distilbert.embeddings.word_embeddings.weight"])


def test_tied_projector_and_position_ids_in_old_checkpoints_are_skipped(tmp_path):
    hf_checkpoint("DistilBertForMaskedLM", CONFIGS["tiny"], tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state["vocab_projector.weight"] = state["distilbert.embeddings.word_embeddings.weight"].clone()
    state["distilbert.embeddings.position_ids"] = torch.arange(512)[None]
    save_file(state, tmp_path / "model.safetensors")
    model = bert.DistilBertForMaskedLM.from_pretrained(tmp_path)
    assert torch.equal(model.mlm_head.bias, state["vocab_projector.bias"])


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.update({"distilbert.transformer.layer.0.attention.rotary.weight": torch.zeros(2)}),
     "unexpected key 'distilbert.transformer.layer.0.attention.rotary.weight'"),
    (lambda s: s.update({"distilbert.transformer.layer.1.ffn.lin2.weight": torch.zeros(64, 129)}),
     "'distilbert.transformer.layer.1.ffn.lin2.weight' has shape (64, 129)"),
    (lambda s: s.pop("distilbert.transformer.layer.1.sa_layer_norm.bias"),
     "missing weight(s) distilbert.transformer.layer.1.sa_layer_norm.bias"),
    (lambda s: s.update({"distilbert.embeddings.token_type_embeddings.weight": torch.zeros(2, 64)}),
     "unexpected key 'distilbert.embeddings.token_type_embeddings.weight'"),
])
def test_mismatches_are_errors_naming_the_key(tmp_path, damage, message):
    hf_checkpoint("DistilBertForSequenceClassification", CONFIGS["tiny"], tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    damage(state)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")):
        bert.DistilBertForSequenceClassification.from_pretrained(tmp_path)


def test_a_checkpoint_loads_only_into_its_own_family(tmp_path):
    hf_checkpoint("DistilBertModel", CONFIGS["tiny"], tmp_path / "distil")
    with pytest.raises(ValueError, match="model_type is 'distilbert', not 'bert' .use the DistilBert"):
        bert.BertModel.from_pretrained(tmp_path / "distil")
    bert.BertModel(bert.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32)).save_pretrained(tmp_path / "bert")
    with pytest.raises(ValueError, match="model_type is 'bert', not 'distilbert'"):
        bert.DistilBertModel.from_pretrained(tmp_path / "bert")
