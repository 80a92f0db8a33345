"""bert-inspect (bert/inspection/): its encoding, counts and attention against transformers on the real
all-MiniLM-L6-v2, its FLOP formula against the matmuls torch runs, its weight comparison on a model
fine-tuned with frozen embeddings, and one-line errors for bad input."""

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import bert
from bert.inspection.architectures import ARCHITECTURES
from bert.inspection.attention_plot import attention_figure
from bert.inspection.cli import build_parser, main
from bert.inspection.flops import forward_flops
from bert.model import SelfAttention
from tokenizer import WordPieceTokenizer

TEXT, PAIR = "The cat sat on the mat, unaffably.", "A cat was sitting on a rug."
TINY = dict(vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=64, num_labels=3)


@pytest.fixture(scope="module")
def transformers():
    return pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def minilm_run(minilm_path, tmp_path_factory):
    """bert-inspect on MiniLM with a sentence pair, --attention and --json; (report, png path, stdout)."""
    out = tmp_path_factory.mktemp("minilm")
    argv = ["--model", str(minilm_path), TEXT, PAIR, "--attention", str(out / "attention.png"),
            "--json", str(out / "r.json")]
    stdout = io.StringIO()  # not capsys: that is per test, and this run is shared by several
    with contextlib.redirect_stdout(stdout):
        assert main(argv) == 0
    return json.loads((out / "r.json").read_text()), out / "attention.png", stdout.getvalue()


def tiny_checkpoint(directory, model_class, tokenizer=None, **overrides):
    torch.manual_seed(0)
    model = model_class(bert.BertConfig(**{**TINY, **overrides}))
    model.save_pretrained(directory)
    if tokenizer is not None:
        tokenizer.save(directory)
    return model.eval()


# --- on the real checkpoint, against transformers -------------------------------------------------------------


def test_encoding_equals_bert_tokenizer_fast(minilm_run, minilm_path, transformers):
    report, _, stdout = minilm_run
    ref = transformers.BertTokenizerFast.from_pretrained(minilm_path)(TEXT, PAIR)
    e = report["encoding"]
    assert e["ids"] == ref["input_ids"]
    assert e["tokens"] == ref.tokens()
    assert e["token_type_ids"] == ref["token_type_ids"]
    assert e["attention_mask"] == ref["attention_mask"]
    assert [t for t, s in zip(e["tokens"], e["special"]) if s] == ["[CLS]", "[SEP]", "[SEP]"]
    assert "##" in "".join(e["tokens"])  # "unaffably" is split into word pieces
    assert "<- classification token" in stdout


def test_parameter_total_equals_transformers(minilm_run, minilm_path, transformers):
    report, _, stdout = minilm_run
    hf = transformers.BertModel.from_pretrained(minilm_path)
    total = sum(p.numel() for p in hf.parameters())
    assert report["parameters"]["total"] == total
    modules = report["parameters"]["modules"]
    assert modules["embeddings"] + modules["encoder"] + modules["pooler"] == total
    assert modules["encoder.layers.0"] == modules["encoder.layers.5"] == modules["encoder"] // 6
    assert "BertModel, in all" in stdout and f"{total:,}" in stdout
    assert "0-5 (6 x EncoderLayer), each" in stdout


def test_attention_weights_equal_transformers_eager(minilm_run, minilm_path, transformers):
    report, _, _ = minilm_run
    hf = transformers.BertModel.from_pretrained(minilm_path, attn_implementation="eager").eval()
    batch = transformers.BertTokenizerFast.from_pretrained(minilm_path)(TEXT, PAIR, return_tensors="pt")
    with torch.no_grad():
        ref = torch.stack(hf(**batch, output_attentions=True).attentions)[:, 0]  # (layers, heads, seq, seq)
    got = torch.tensor(report["attention"])
    assert got.shape == ref.shape == (6, 12, len(report["encoding"]["ids"]), len(report["encoding"]["ids"]))
    assert (got - ref).abs().max() <= 1e-5


def test_attention_picture_has_a_panel_per_layer_and_head(minilm_run):
    report, png, _ = minilm_run
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    weights, tokens = torch.tensor(report["attention"]), report["encoding"]["tokens"]
    grid = attention_figure(weights, tokens)
    assert len(grid.axes) == 6 * 12
    assert [ax.get_title() for ax in grid.axes][:2] == ["L0 H0", "L0 H1"] and grid.axes[-1].get_title() == "L5 H11"
    assert [t.get_text() for t in grid.axes[-1].get_xticklabels()] == tokens
    one = attention_figure(weights, tokens, layer=2, head=7)
    assert one.axes[0].get_title() == "layer 2, head 7"
    assert (one.axes[0].images[0].get_array() == weights[2, 7].numpy()).all()


def test_shapes_and_flops_in_the_report(minilm_run):
    report, _, _ = minilm_run
    n = len(report["encoding"]["ids"])
    shapes = report["shapes"]
    assert list(shapes)[:2] == ["input_ids", "embeddings"]
    assert shapes["input_ids"] == [1, n] and shapes["embeddings"] == shapes["encoder.layers.5"] == [1, n, 384]
    cls = shapes["[CLS] (encoder output, position 0)"]
    assert cls == shapes["pooler"] == shapes["output.pooler_output"] == [1, 384]
    flops = report["flops"]
    assert flops["tokens"] == n
    assert flops["layer"]["total"] == 8 * n * 384**2 + 4 * n * n * 384 + 4 * n * 384 * 1536
    assert flops["total"] == 6 * flops["layer"]["total"] + 2 * 384**2
    assert report["mask_fillers"] is None  # a bare BertModel has no MLM head


# --- FLOPs against what torch runs -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_flop_formula_counts_the_matmuls_the_model_runs(name):
    architecture = ARCHITECTURES[name]
    torch.manual_seed(0)
    distil = name.startswith("DistilBert")
    config = bert.DistilBertConfig(**TINY) if distil else bert.BertConfig(**TINY)
    model = architecture.model_class(config).eval()
    n = 11
    ids = torch.randint(5, TINY["vocab_size"], (1, n))
    segments = {} if distil else {"token_type_ids": (torch.arange(n) >= 6).long()[None]}
    # FlopCounterMode has no formula for the fused CPU attention kernel, so the attention runs step by step
    # (the same path bert-inspect uses for the weights): Q K^T and weights @ V are then counted as bmm.
    for m in model.modules():
        if isinstance(m, SelfAttention):
            m.keep_weights = True
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(ids, attention_mask=torch.ones_like(ids), **segments)
    assert forward_flops(architecture, model.config, n)["total"] == counter.get_total_flops()


def test_explicit_attention_equals_the_fused_kernel_with_padding():
    torch.manual_seed(0)
    model = bert.BertModel(bert.BertConfig(**TINY)).eval()
    ids = torch.randint(5, TINY["vocab_size"], (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    with torch.no_grad():
        fused = model(ids, mask).last_hidden_state
        attentions = [m for m in model.modules() if isinstance(m, SelfAttention)]
        for m in attentions:
            m.keep_weights = True
        explicit = model(ids, mask).last_hidden_state
    assert (explicit - fused).abs().max() <= 1e-5
    weights = attentions[0].weights  # (batch, heads, seq, seq)
    assert weights.shape == (2, 4, 9, 9)
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4, 9))
    assert (weights[1, :, :, 5:] == 0).all()  # padding keys get no attention


# --- task heads: fillers for [MASK], a classifier's [CLS]-only last layer ------------------------------------


@pytest.fixture(scope="module")
def minilm_tokenizer(minilm_path):
    return WordPieceTokenizer.from_pretrained(minilm_path)


def test_mask_fillers_equal_transformers(tmp_path, minilm_tokenizer, transformers):
    tiny_checkpoint(tmp_path, bert.BertForMaskedLM, minilm_tokenizer, vocab_size=30522, initializer_range=0.5)
    text = "The [MASK] sat on the [MASK]."
    assert main([str(tmp_path), text, "--top-k", "3", "--json", str(tmp_path / "r.json")]) == 0
    fillers = json.loads((tmp_path / "r.json").read_text())["mask_fillers"]
    assert [f["position"] for f in fillers] == [2, 6]

    hf = transformers.BertForMaskedLM.from_pretrained(tmp_path).eval()
    ids = torch.tensor([minilm_tokenizer.encode(text).ids])
    with torch.no_grad():
        probs = hf(ids).logits[0].softmax(-1)
    for filler in fillers:
        ref, ref_ids = probs[filler["position"]].topk(3)
        assert [c["id"] for c in filler["candidates"]] == ref_ids.tolist()
        assert [c["probability"] for c in filler["candidates"]] == pytest.approx(ref.tolist(), rel=1e-4)
        assert [c["token"] for c in filler["candidates"]] == [minilm_tokenizer.id_to_token(i) for i in ref_ids.tolist()]


def test_classifier_last_layer_is_cls_only_but_attention_covers_every_token(tmp_path, minilm_tokenizer, capsys):
    tiny_checkpoint(tmp_path, bert.BertForSequenceClassification, minilm_tokenizer, vocab_size=30522)
    assert main([str(tmp_path), TEXT, PAIR, "--attention", str(tmp_path / "a.png"), "--layer", "1", "--head", "3",
                 "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    n = len(report["encoding"]["ids"])
    shapes = report["shapes"]
    assert shapes["bert.encoder.layers.0"] == [1, n, 64] and shapes["bert.encoder.layers.1"] == [1, 1, 64]
    assert shapes["output.logits"] == [1, 3]
    assert report["flops"]["last_layer"]["total"] < report["flops"]["layer"]["total"]
    assert torch.tensor(report["attention"]).shape == (2, 4, n, n)
    assert (tmp_path / "a.png").stat().st_size > 0
    assert "last layer, [CLS] only" in capsys.readouterr().out


# --- --compare -------------------------------------------------------------------------------------------------


def test_compare_shows_fine_tuned_layers_and_frozen_embeddings(tmp_path, capsys):
    """A pretraining checkpoint, its encoder saved bare (no `bert.` prefix), and a classifier fine-tuned from
    it with the embeddings frozen: every encoder layer moved, the embeddings did not."""
    pretrained = tiny_checkpoint(tmp_path / "pretrained", bert.BertForPreTraining)
    pretrained.bert.save_pretrained(tmp_path / "bare")
    model = bert.BertForSequenceClassification.from_pretrained(tmp_path / "pretrained", num_labels=2).train()
    model.bert.embeddings.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(3):
        ids = torch.randint(5, TINY["vocab_size"], (4, 12))
        model(ids, labels=torch.randint(0, 2, (4,))).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.save_pretrained(tmp_path / "finetuned")

    for source in ("pretrained", "bare"):
        assert main([str(tmp_path / source), "--compare", str(tmp_path / "finetuned"),
                     "--json", str(tmp_path / "r.json")]) == 0
        compare = json.loads((tmp_path / "r.json").read_text())["compare"]
        change = compare["relative_change"]
        for layer in range(TINY["num_hidden_layers"]):
            in_layer = {k: v for k, v in change.items() if k.startswith(f"encoder.layer.{layer}.")}
            assert len(in_layer) == 8 and all(v > 0 for v in in_layer.values()), in_layer
        embeddings = {k: v for k, v in change.items() if k.startswith("embeddings.")}
        assert len(embeddings) == 4 and all(v == 0 for v in embeddings.values())
        assert change["pooler.dense"] > 0
        assert compare["only_in_other"] == ["classifier"]
        mlm_and_nsp = ["cls.predictions", "cls.predictions.transform.LayerNorm", "cls.predictions.transform.dense",
                       "cls.seq_relationship"]
        assert compare["only_in_checkpoint"] == ([] if source == "bare" else mlm_and_nsp)
    out = capsys.readouterr().out
    assert "encoder.layer.1.output.dense" in out and "only in" in out


# --- the checkpoint: --model, or the first argument as before ---------------------------------------------------


def test_model_flag_and_positional_checkpoint_give_the_same_report(tmp_path, minilm_tokenizer, capsys):
    tiny_checkpoint(tmp_path / "ckpt", bert.BertForMaskedLM, minilm_tokenizer, vocab_size=30522)
    ckpt = str(tmp_path / "ckpt")
    for name, argv in {"flag.json": ["--model", ckpt, TEXT, PAIR], "positional.json": [ckpt, TEXT, PAIR],
                       "single.json": ["--model", ckpt, TEXT]}.items():
        assert main([*argv, "--json", str(tmp_path / name)]) == 0
    flag, positional, single = (json.loads((tmp_path / name).read_text())
                                for name in ("flag.json", "positional.json", "single.json"))
    assert flag == positional
    assert flag["checkpoint"] == str((tmp_path / "ckpt").resolve())
    assert flag["encoding"]["ids"] == minilm_tokenizer.encode(TEXT, pair=PAIR).ids  # both texts, none taken as the model
    assert single["encoding"]["ids"] == minilm_tokenizer.encode(TEXT).ids
    assert "--model DIR" in build_parser().format_help() and "checkpoint" not in build_parser().format_usage()


@pytest.mark.parametrize("argv, message", [
    (["--model", "CKPT", "CKPT", TEXT, PAIR], "the checkpoint is given twice: --model CKPT and 'CKPT'"),
    (["--compare", "CKPT"], "give the checkpoint with --model DIR"),
    ([], "give the checkpoint with --model DIR"),
])
def test_checkpoint_given_twice_or_not_at_all_is_a_usage_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([arg.replace("CKPT", "some/checkpoint") for arg in argv])
    assert exit_.value.code == 2
    assert f"bert-inspect: error: {message.replace('CKPT', 'some/checkpoint')}" in capsys.readouterr().err


# --- bad input: one line, exit status 2 ------------------------------------------------------------------------


BAD_INPUT = {  # argv; CKPT stands for MiniLM's directory, TMP for the test's temporary one
    "missing checkpoint": ["TMP/no-such-dir", TEXT],
    "empty sentence": ["CKPT", ""],
    "blank second sentence": ["CKPT", TEXT, "   "],
    "longer than the positions": ["CKPT", "word " * 600],
    "layer out of range": ["CKPT", TEXT, "--attention", "TMP/a.png", "--layer", "6", "--head", "0"],
    "layer without head": ["CKPT", TEXT, "--attention", "TMP/a.png", "--layer", "1"],
    "missing comparison": ["CKPT", "--compare", "TMP/no-such-dir"],
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_line_and_status_2(case, minilm_path, tmp_path, capsys):
    argv = [arg.replace("CKPT", str(minilm_path)).replace("TMP", str(tmp_path)) for arg in BAD_INPUT[case]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    if case == "longer than the positions":
        assert "602 tokens" in err and "512 positions" in err
    assert not (tmp_path / "a.png").exists()


def test_command_line_exit_status(tmp_path):
    result = subprocess.run([sys.executable, "-m", "bert.inspection", str(tmp_path / "missing"), "A sentence."],
                            capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_a_distilbert_folder_written_by_transformers(minilm_path, transformers, tmp_path):
    """DistilBERT: no segment ids fed, the parameter total and the attention weights equal transformers'."""
    config = transformers.DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=4, hidden_dim=64,
                                           max_position_embeddings=64)
    torch.manual_seed(0)
    hf = transformers.DistilBertForSequenceClassification(config).eval()
    hf.save_pretrained(tmp_path)
    shutil.copy(minilm_path / "vocab.txt", tmp_path / "vocab.txt")
    assert main([str(tmp_path), TEXT, PAIR, "--attention", str(tmp_path / "a.png"), "--json",
                 str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["parameters"]["total"] == sum(p.numel() for p in hf.parameters())
    ids = torch.tensor([report["encoding"]["ids"]])
    hf.config._attn_implementation = "eager"
    with torch.no_grad():
        expected = torch.stack(hf(ids, output_attentions=True).attentions)[:, 0]  # (layers, heads, seq, seq)
    assert (torch.tensor(report["attention"]) - expected).abs().max() <= 1e-5
