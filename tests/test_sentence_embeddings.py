"""bert-embed and finetune.embeddings.embed against sentence-transformers, the library all-MiniLM-L6-v2 was made
for: the same vectors (within 1e-5 per component, fp32) and the same nearest texts, from folders that ask for
mean, cls or max pooling, with and without Normalize, BERT and DistilBERT."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from finetune.embeddings import SentenceEmbedder, embed
from finetune.embeddings.cli import main

SENTENCES = [  # written for this test: short and long, punctuation, accents, a repeat, an empty line's text
    "The ferry to the island leaves every morning at seven.",
    "Our quarterly revenue rose by twelve percent, beating every forecast we had made in the spring.",
    "A small dog chases a red ball across the garden.",
    "Il pleut à Paris depuis mardi, et les cafés sont pleins.",
    "Why?",
    "The ferry to the island leaves every morning at seven.",
    "Numbers like 3.14159 and 2,718 are tokenised into pieces.",
]
CORPUS = [
    "Bake the loaf for forty minutes until the crust is golden.",
    "The central bank raised interest rates again this quarter.",
    "Knead the dough and let it rise overnight.",
    "The striker scored twice in the second half.",
    "Sourdough needs a starter of flour and water.",
    "Shares of the carmaker fell after the earnings call.",
]
QUERY = "How do I make bread at home?"


@pytest.fixture(scope="module")
def sentence_transformers():
    return pytest.importorskip("sentence_transformers", reason="pip install sentence-transformers (in the dev extra)")


def reference(st, folder: Path, texts: list[str], **kwargs) -> np.ndarray:
    return st.SentenceTransformer(str(folder), device="cpu").encode(texts, convert_to_numpy=True, **kwargs)


def folder_like(minilm: Path, target: Path, pooling: str | None = "mean", normalize: bool = True) -> Path:
    """A copy of the MiniLM folder (weights linked, not copied) whose files ask for `pooling` (None: no
    sentence-transformers files at all, a plain BERT folder) and Normalize or not."""
    target.mkdir()
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):
        (target / name).symlink_to(minilm / name)
    if pooling is None:
        return target
    shutil.copy(minilm / "sentence_bert_config.json", target)
    modules = json.loads((minilm / "modules.json").read_text())
    (target / "modules.json").write_text(json.dumps(modules if normalize else modules[:2]))
    (target / "1_Pooling").mkdir()
    config = json.loads((minilm / "1_Pooling" / "config.json").read_text())
    config |= {f"pooling_mode_{key}": key.startswith(pooling) for key in ("mean_tokens", "cls_token", "max_tokens")}
    (target / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return target


def run_embed(tmp_path: Path, *args: str) -> np.ndarray:
    output = tmp_path / "vectors.npy"
    assert main([*args, "--output", str(output), "--precision", "fp32", "--batch-size", "3"]) == 0
    return np.load(output)


def test_minilm_vectors_equal_sentence_transformers(minilm_path, sentence_transformers, tmp_path):
    ours = run_embed(tmp_path, "--model", str(minilm_path), *SENTENCES)
    theirs = reference(sentence_transformers, minilm_path, SENTENCES, normalize_embeddings=True)
    assert ours.shape == (len(SENTENCES), 384) and ours.dtype == np.float32
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-6)  # the folder's Normalize module
    assert np.array_equal(ours[0], ours[5])  # the same text in another batch: the same vector


def test_python_api_equals_the_command_and_takes_a_single_string(minilm_path, sentence_transformers, tmp_path):
    vectors = embed(SENTENCES[:3], model=minilm_path, precision="fp32", batch_size=2)
    one = embed(SENTENCES[1], model=minilm_path, precision="fp32")
    theirs = reference(sentence_transformers, minilm_path, SENTENCES[:3], normalize_embeddings=True)
    assert vectors.shape == (3, 384) and one.shape == (384,)
    assert np.abs(vectors - theirs).max() < 1e-5 and np.abs(one - theirs[1]).max() < 1e-5


def test_nearest_texts_in_sentence_transformers_order(minilm_path, sentence_transformers, tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS[:3] + [""] + CORPUS[3:]) + "\n")  # the blank line 4 is skipped
    assert main(["--model", str(minilm_path), "--query", QUERY, "--corpus", str(corpus),
                 "--top-k", str(len(CORPUS)), "--precision", "fp32"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    model = sentence_transformers.SentenceTransformer(str(minilm_path), device="cpu")
    cosines = model.similarity(model.encode([QUERY]), model.encode(CORPUS))[0].numpy()
    expected = np.argsort(-cosines, kind="stable")
    assert [row[2] for row in rows] == [CORPUS[i] for i in expected]
    assert [int(row[1]) for row in rows] == [i + 1 + (i >= 3) for i in expected]  # line numbers in the file
    assert np.abs(np.array([float(row[0]) for row in rows]) - cosines[expected]).max() < 1e-4
    assert {CORPUS[i] for i in expected[:2]} == {CORPUS[0], CORPUS[2]}  # the two about bread come first


def test_similarity_of_two_texts(minilm_path, sentence_transformers, capsys):
    a, b = "A man is playing a guitar.", "Someone plays an instrument."
    assert main(["--model", str(minilm_path), "--similarity", a, b, "--precision", "fp32"]) == 0
    theirs = reference(sentence_transformers, minilm_path, [a, b], normalize_embeddings=True)
    assert float(capsys.readouterr().out) == pytest.approx(float(theirs[0] @ theirs[1]), abs=1e-4)


@pytest.mark.parametrize("pooling,normalize", [("cls", True), ("max", False), ("mean", False)])
def test_the_folder_decides_the_pooling(minilm_path, sentence_transformers, tmp_path, pooling, normalize):
    folder = folder_like(minilm_path, tmp_path / "model", pooling, normalize)
    ours = run_embed(tmp_path, "--model", str(folder), *SENTENCES)
    theirs = reference(sentence_transformers, folder, SENTENCES)
    assert np.abs(ours - theirs).max() < 1e-5
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-6) == normalize


def test_flags_override_the_folder(minilm_path, sentence_transformers, tmp_path):
    cls_folder = folder_like(minilm_path, tmp_path / "cls", "cls", normalize=False)
    ours = run_embed(tmp_path, "--model", str(minilm_path), "--pooling", "cls", "--no-normalize", *SENTENCES)
    assert np.abs(ours - reference(sentence_transformers, cls_folder, SENTENCES)).max() < 1e-5


def test_a_plain_bert_folder_is_mean_pooled_without_normalising(minilm_path, sentence_transformers, tmp_path):
    """sentence-transformers makes a plain folder mean-pooled too (with a warning): the same vectors."""
    folder = folder_like(minilm_path, tmp_path / "plain", pooling=None)
    ours = run_embed(tmp_path, "--model", str(folder), *SENTENCES)
    assert np.abs(ours - reference(sentence_transformers, folder, SENTENCES)).max() < 1e-5
    assert np.linalg.norm(ours, axis=1).min() > 1.5  # not unit length
    assert SentenceEmbedder.load(folder).max_seq_length == 512  # the model's positions


def test_a_distilbert_folder(sentence_transformers, tmp_path):
    """A tiny random DistilBERT written by transformers (no token types): mean pooled like sentence-transformers."""
    transformers = pytest.importorskip("transformers")
    words = sorted({w for s in SENTENCES for w in re.findall(r"\w+|[^\w\s]", s.lower())})
    folder = tmp_path / "distilbert"
    torch.manual_seed(0)
    transformers.DistilBertModel(transformers.DistilBertConfig(
        vocab_size=5 + len(words), dim=32, n_layers=2, n_heads=2, hidden_dim=64)).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    transformers.BertTokenizerFast(str(folder / "vocab.txt")).save_pretrained(folder)
    ours = run_embed(tmp_path, "--model", str(folder), *SENTENCES)
    assert np.abs(ours - reference(sentence_transformers, folder, SENTENCES)).max() < 1e-5


def test_input_files_in_every_format(minilm_path, tmp_path):
    texts = ["first text, with a comma", "second text"]
    (tmp_path / "lines.txt").write_text("first text, with a comma\r\n\nsecond text\n")
    (tmp_path / "table.csv").write_text('id,review\n1,"first text, with a comma"\n2,second text\n')
    (tmp_path / "table.tsv").write_text("review\tid\nfirst text, with a comma\t1\nsecond text\t2\n")
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"text": t, "n": 1}) + "\n" for t in texts))
    expected = embed(texts, model=minilm_path, precision="fp32")
    for name, extra in (("lines.txt", []), ("table.csv", ["--text-columns", "review"]),
                        ("table.tsv", ["--text-columns", "review"]), ("rows.jsonl", [])):
        output = tmp_path / f"{name}.jsonl"
        assert main(["--model", str(minilm_path), "--input", str(tmp_path / name), *extra, "--output", str(output),
                     "--precision", "fp32"]) == 0
        rows = [json.loads(line) for line in output.read_text().splitlines()]
        assert [row["text"] for row in rows] == texts, name
        assert np.abs(np.array([row["embedding"] for row in rows]) - expected).max() < 1e-6, name


@pytest.mark.parametrize("name,content,extra,message", [
    ("missing.txt", None, [], r"error: .*missing\.txt: no such file"),
    ("table.csv", "a,b\n1,2\n", [], r"error: .*table\.csv: a table; name its text column with --text-columns NAME"),
    ("table.csv", "a,b\n1,2\n", ["--text-columns", "text"], r"error: .*table\.csv: no column 'text' \(--text-columns\); the file has: 'a', 'b'"),
    ("rows.jsonl", '{"text": "fine"}\n{"words": "no text"}\n', [], r"error: .*rows\.jsonl:2: no 'text' on this line .*"),
    ("rows.jsonl", '{"text": "fine"}\nnot json\n', [], r"error: .*rows\.jsonl:2: not valid JSON .*"),
    ("latin1.txt", "caf\xe9\n".encode("latin-1"), [], r"error: .*latin1\.txt: not UTF-8 text .*"),
    ("blank.txt", "\n  \n", [], r"error: .*blank\.txt: no texts in the file"),
])
def test_bad_input_is_one_line(minilm_path, tmp_path, capsys, name, content, extra, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["--model", str(minilm_path), "--input", str(path), *extra]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(message + "\n", err), err


def test_a_module_not_computed_here_is_an_error(minilm_path, tmp_path, capsys):
    folder = folder_like(minilm_path, tmp_path / "dense")
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps(modules + [{"idx": 3, "name": "3", "path": "3_Dense",
                                                                "type": "sentence_transformers.models.Dense"}]))
    assert main(["--model", str(folder), "text"]) == 2
    assert capsys.readouterr().err == (f"error: {folder / 'modules.json'}: module sentence_transformers.models.Dense "
                                       "is not computed here (only Transformer, Pooling, Normalize)\n")


def test_conflicting_flags_exit_2(minilm_path, capsys):
    for args in (["--similarity", "only one"], ["--query", "q"], ["a", "--output", "vectors.txt"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(["--model", str(minilm_path), *args])
        assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("error:") == 4
