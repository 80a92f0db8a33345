"""bench/gpu_payload.py's bf16 copy of a checkpoint: half the bytes, and our reader loads it as fp32 weights that
are the original's rounded to bf16."""

import json

import torch
from safetensors.torch import load_file

import bert
from bench.gpu_payload import write_bf16_copy


def test_the_bf16_copy_loads_as_fp32_weights_rounded_from_the_original(minilm_path, tmp_path):
    write_bf16_copy(minilm_path, tmp_path / "bf16")
    stored = load_file(tmp_path / "bf16" / "model.safetensors")
    assert {t.dtype for t in stored.values() if t.is_floating_point()} == {torch.bfloat16}
    assert (tmp_path / "bf16" / "model.safetensors").stat().st_size < 0.51 * (minilm_path / "model.safetensors").stat().st_size
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    assert (tmp_path / "bf16" / "vocab.txt").read_text() == (minilm_path / "vocab.txt").read_text()

    original, copy = bert.BertModel.from_pretrained(minilm_path), bert.BertModel.from_pretrained(tmp_path / "bf16")
    for (name, p), q in zip(original.state_dict().items(), copy.state_dict().values()):
        assert q.dtype == torch.float32, name
        assert torch.equal(q, p.to(torch.bfloat16).float()), name
    ids = torch.tensor([[101, 7592, 2088, 2003, 2307, 102]])
    with torch.no_grad():
        a, b = original(ids).last_hidden_state, copy(ids).last_hidden_state
    assert torch.nn.functional.cosine_similarity(a, b, dim=-1).min() > 0.999
    assert (a - b).abs().max().item() < 0.1
