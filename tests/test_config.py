"""BertConfig: presets, validation with messages that name the field, JSON round trip with HF."""

import pytest

from bert import PRESETS, BertConfig


def test_presets_have_the_published_sizes():
    sizes = {name: (c.num_hidden_layers, c.hidden_size) for name in PRESETS
             for c in [BertConfig.from_preset(name)]}
    assert sizes == {"tiny": (2, 128), "mini": (4, 256), "small": (4, 512), "medium": (8, 512),
                     "base": (12, 768), "large": (24, 1024)}
    assert BertConfig.from_preset("mini", vocab_size=8000).vocab_size == 8000
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        BertConfig.from_preset("huge")


@pytest.mark.parametrize("kwargs, field", [
    (dict(hidden_size=100, num_attention_heads=3), "hidden_size"),
    (dict(num_hidden_layers=0), "num_hidden_layers"),
    (dict(vocab_size=-5), "vocab_size"),
    (dict(intermediate_size=0), "intermediate_size"),
    (dict(hidden_dropout_prob=1.5), "hidden_dropout_prob"),
    (dict(hidden_act="swish2"), "hidden_act"),
    (dict(num_attention_heads=0), "num_attention_heads"),
])
def test_invalid_configs_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f"BertConfig.{field}"):
        BertConfig(**kwargs)


def test_json_round_trip_with_hf(tmp_path):
    transformers = pytest.importorskip("transformers")
    ours = BertConfig.from_preset("mini", vocab_size=8000, num_labels=3, layer_norm_eps=1e-7)
    ours.to_json_file(tmp_path / "config.json")
    theirs = transformers.BertConfig.from_json_file(tmp_path / "config.json")
    assert (theirs.num_labels, theirs.hidden_size, theirs.vocab_size, theirs.layer_norm_eps) == (3, 256, 8000, 1e-7)
    theirs.to_json_file(tmp_path / "hf.json")
    back = BertConfig.from_json_file(tmp_path / "hf.json")
    assert back == ours
    assert BertConfig.from_json_file(tmp_path / "config.json") == ours


def test_num_labels_override_replaces_label_names():
    config = BertConfig(id2label={0: "neg", 1: "pos"})
    assert config.num_labels == 2
    assert config.with_overrides(num_labels=3).num_labels == 3
    with pytest.raises(ValueError, match="unknown BertConfig field"):
        config.with_overrides(hidden=3)
