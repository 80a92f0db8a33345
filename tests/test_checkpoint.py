"""Loading and saving HF-layout checkpoints: round trips both ways, legacy names, and clear errors."""

import json
import logging
import os
import stat

import pytest
import torch
from safetensors.torch import load_file, save_file

import bert
from bert import BertConfig
from bert.files import atomic_write_text

transformers = pytest.importorskip("transformers")

TINY = dict(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def batch():
    ids = torch.randint(5, 300, (2, 10), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return dict(input_ids=ids, attention_mask=mask, token_type_ids=(torch.arange(10) >= 5).long().expand(2, -1))


@pytest.mark.parametrize("head", ["BertForPreTraining", "BertForSequenceClassification", "BertForMaskedLM",
                                  "BertForTokenClassification", "BertForQuestionAnswering",
                                  "BertForNextSentencePrediction", "BertModel"])
def test_ours_to_hf_round_trip(head, tmp_path):
    torch.manual_seed(0)
    ours = getattr(bert, head)(BertConfig(**TINY)).eval()
    ours.save_pretrained(tmp_path)
    hf, info = getattr(transformers, head).from_pretrained(tmp_path, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    field = {"BertModel": "last_hidden_state", "BertForPreTraining": "prediction_logits",
             "BertForQuestionAnswering": "start_logits"}.get(head, "logits")
    with torch.no_grad():
        assert (getattr(hf.eval()(**batch()), field) - getattr(ours(**batch()), field)).abs().max() <= 1e-5
    reloaded = getattr(bert, head).from_pretrained(tmp_path)
    for (name, a), b in zip(ours.state_dict().items(), reloaded.state_dict().values()):
        assert torch.equal(a, b), name


def test_pretraining_checkpoint_loads_into_every_head(tmp_path, caplog):
    """The fine-tuning path: pretraining heads are dropped (reported), a fresh classifier is initialised."""
    torch.manual_seed(0)
    pre = bert.BertForPreTraining(BertConfig(**TINY))
    pre.save_pretrained(tmp_path)
    with caplog.at_level(logging.WARNING, logger="bert"):
        clf = bert.BertForSequenceClassification.from_pretrained(tmp_path, num_labels=3)
    assert clf.classifier.out_features == 3 and clf.config.num_labels == 3
    assert "classifier.weight" in caplog.text and "cls.predictions.bias" in caplog.text
    assert torch.equal(clf.bert.encoder.layers[1].feed_forward.up.weight, pre.bert.encoder.layers[1].feed_forward.up.weight)
    base = bert.BertModel.from_pretrained(tmp_path)  # keys carry "bert.", BertModel's do not
    assert torch.equal(base.embeddings.word_embeddings.weight, pre.bert.embeddings.word_embeddings.weight)


def test_bare_encoder_checkpoint_loads_into_pretraining_model(minilm_path, caplog):
    """all-MiniLM-L6-v2 is a BertModel: no `bert.` prefix, no heads, a position_ids buffer in the file."""
    with caplog.at_level(logging.WARNING, logger="bert"):
        model = bert.BertForPreTraining.from_pretrained(minilm_path)
    assert "cls.predictions.transform.dense.weight" in caplog.text
    file = load_file(minilm_path / "model.safetensors")
    assert torch.equal(model.bert.encoder.layers[5].attention.query.weight, file["encoder.layer.5.attention.self.query.weight"])


def write_checkpoint(directory, state, config=TINY):
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    save_file({k: v.clone().contiguous() for k, v in state.items()}, directory / "model.safetensors")
    return directory


def hf_state(head="BertForPreTraining"):
    torch.manual_seed(0)
    model = getattr(transformers, head)(transformers.BertConfig(**TINY))
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_legacy_gamma_beta_and_decoder_keys(tmp_path):
    state = hf_state()
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
              for k, v in state.items()}
    legacy["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    legacy["bert.embeddings.position_ids"] = torch.arange(512)[None]
    model = bert.BertForPreTraining.from_pretrained(write_checkpoint(tmp_path / "ckpt", legacy))
    assert torch.equal(model.bert.embeddings.norm.weight, state["bert.embeddings.LayerNorm.weight"])
    assert torch.equal(model.mlm_head.norm.bias, state["cls.predictions.transform.LayerNorm.bias"])


@pytest.mark.parametrize("damage, message", [
    (lambda s: s.update({"bert.encoder.layer.0.attention.self.rotary.weight": torch.zeros(2)}), "unexpected key"),
    (lambda s: s.update({"bert.encoder.layer.1.output.dense.weight": torch.zeros(32, 65)}), "output.dense.weight"),
    (lambda s: s.pop("bert.encoder.layer.1.attention.self.key.bias"), "attention.self.key.bias"),
    (lambda s: s.update({"bert.embeddings.word_embeddings.weight": torch.zeros(299, 32)}), "config.vocab_size is 300"),
])
def test_mismatches_are_errors_naming_the_key(tmp_path, damage, message):
    state = hf_state()
    damage(state)
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        bert.BertForPreTraining.from_pretrained(write_checkpoint(tmp_path / "ckpt", state))


def test_missing_directory_and_weights_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a checkpoint directory"):
        bert.BertModel.from_pretrained(tmp_path / "nope" / "deeper")
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        bert.BertModel.from_pretrained(tmp_path)


def test_pytorch_model_bin_is_read(tmp_path):
    state = hf_state("BertModel")
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    torch.save(state, tmp_path / "pytorch_model.bin")
    model = bert.BertModel.from_pretrained(tmp_path)
    assert torch.equal(model.pooler.dense.weight, state["pooler.dense.weight"])


def test_save_is_atomic(tmp_path, monkeypatch):
    """A crash in the middle of writing leaves the previous checkpoint loadable and unchanged."""
    model = bert.BertModel(BertConfig(**TINY))
    model.save_pretrained(tmp_path)
    before = (tmp_path / "model.safetensors").read_bytes()

    def crash(state, path, metadata=None):
        open(path, "wb").write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr("bert.checkpoint.save_file", crash)
    with torch.no_grad():
        model.pooler.dense.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    bert.BertModel.from_pretrained(tmp_path)


def test_atomic_write_gives_the_umask_permissions_and_leaves_no_temporary_file(tmp_path):
    """Files written through bert.files get the permissions a plain open() gives (not a temp file's 0600)."""
    old_umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "vocab.txt", "[PAD]\n")
        bert.BertModel(BertConfig(**TINY)).save_pretrained(tmp_path / "model")
    finally:
        os.umask(old_umask)
    for path in (tmp_path / "vocab.txt", tmp_path / "model" / "config.json"):  # safetensors makes its own 0600
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model", "vocab.txt"]
    assert (tmp_path / "vocab.txt").read_bytes() == b"[PAD]\n"
