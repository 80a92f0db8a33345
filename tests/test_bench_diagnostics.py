"""The pretraining diagnostics in bench/: a checkpoint's parts over random weights, rescaled embeddings that keep
the model's outputs, and the frozen-feature probe."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bert import BertConfig, BertForPreTraining, BertForSequenceClassification

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from pretrained_parts import mixed_model, scale_embeddings  # noqa: E402

WORDS = ["good", "bad", "film", "plot", "the", "was", "a", "very", "acting", "story"]


def small_config() -> BertConfig:
    return BertConfig(vocab_size=5 + len(WORDS), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)


def grown_model(seed: int = 7) -> BertForPreTraining:
    """A model whose weights are no longer BERT's start (as after pretraining): every tensor perturbed."""
    torch.manual_seed(seed)
    model = BertForPreTraining(small_config())
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model.eval()


def model_folder(model: BertForPreTraining, path: Path) -> Path:
    model.save_pretrained(path)
    (path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    return path


def test_scaled_embeddings_keep_the_encoder_and_the_masked_lm_outputs():
    model = grown_model()
    scaled = grown_model()
    scale_embeddings(scaled, 0.2)
    ids = torch.tensor([[2, 5, 9, 12, 6, 3], [2, 7, 8, 3, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        before, after = model(ids, mask), scaled(ids, mask)
        hidden_before = model.bert(ids, mask).last_hidden_state
        hidden_after = scaled.bert(ids, mask).last_hidden_state
    words_before = model.bert.embeddings.word_embeddings.weight
    words_after = scaled.bert.embeddings.word_embeddings.weight
    assert torch.allclose(words_after, 0.2 * words_before)
    assert (hidden_after - hidden_before).abs().max() < 1e-5
    assert (after.prediction_logits - before.prediction_logits).abs().max() < 1e-4


def test_mixed_model_takes_the_kept_parameters_and_draws_the_rest():
    pretrained = grown_model()
    mixed, kept = mixed_model(pretrained, re.compile("word_embeddings"), seed=3)
    torch.manual_seed(3)
    fresh = BertForPreTraining(small_config()).state_dict()
    assert kept == ["bert.embeddings.word_embeddings.weight"]
    for name, value in mixed.state_dict().items():
        source = pretrained.state_dict() if name in kept else fresh
        assert torch.equal(value, source[name]), name
    assert not torch.equal(mixed.state_dict()["bert.encoder.layers.0.attention.query.weight"],
                           pretrained.state_dict()["bert.encoder.layers.0.attention.query.weight"])


def test_pretrained_parts_writes_a_folder_a_classifier_loads(tmp_path):
    source = model_folder(grown_model(), tmp_path / "pretrained")
    out = tmp_path / "parts"
    result = subprocess.run([sys.executable, str(REPO / "bench" / "pretrained_parts.py"), str(source), "--keep",
                             "encoder", "--embedding-scale", "0.5", "--output", str(out)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (out / "vocab.txt").read_text() == (source / "vocab.txt").read_text()
    classifier = BertForSequenceClassification.from_pretrained(out, num_labels=2)
    source_model = BertForPreTraining.from_pretrained(source)
    for name, value in classifier.bert.state_dict().items():
        if "encoder" in name:  # kept as it was
            assert torch.equal(value, source_model.bert.state_dict()[name]), name
    assert not torch.allclose(classifier.bert.embeddings.word_embeddings.weight,
                              source_model.bert.embeddings.word_embeddings.weight)
    bad = subprocess.run([sys.executable, str(REPO / "bench" / "pretrained_parts.py"), str(source),
                          "--embedding-scale", "0", "--output", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--embedding-scale must be above 0" in bad.stderr


def glue_sst2(root: Path) -> Path:
    """An SST-2 folder whose label is whether 'good' or 'bad' is in the sentence: linearly separable from the
    mean of a random model's token vectors."""
    rows = {"train": 40, "dev": 12}
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    generator = torch.Generator().manual_seed(0)
    for split, count in rows.items():
        lines = ["sentence\tlabel"]
        for i in range(count):
            filler = [WORDS[2 + int(j)] for j in torch.randint(0, len(WORDS) - 2, (4,), generator=generator)]
            lines.append(f"the {'good' if i % 2 else 'bad'} {' '.join(filler)}\t{i % 2}")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return root


def test_frozen_probe_scores_a_separable_task_and_refuses_pairs(tmp_path):
    pytest.importorskip("sklearn")
    model = model_folder(grown_model(), tmp_path / "model")
    glue = glue_sst2(tmp_path / "glue")
    probe = [sys.executable, str(REPO / "bench" / "frozen_probe.py"), str(model), "--data-dir", str(glue)]
    result = subprocess.run([*probe, "--train-examples", "20,40", "--pooling", "mean"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    row = [line for line in result.stdout.splitlines() if line.startswith(str(model))]
    assert len(row) == 1
    assert all(float(x) >= 0.9 for x in row[0].split()[-2:])  # balanced dev: chance is 0.5
    pairs = subprocess.run([*probe, "--task", "mrpc"], capture_output=True, text=True, timeout=120)
    assert pairs.returncode == 2 and "single-sentence classification" in pairs.stderr
