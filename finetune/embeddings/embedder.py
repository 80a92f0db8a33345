"""Texts in, sentence vectors out, computed by this project's encoder (bert/pooling.py on bert.BertModel).

    embedder = SentenceEmbedder.load("path/to/all-MiniLM-L6-v2")     # the folder says mean + normalise, 256
    vectors = embedder.embed(["A man is eating.", "Someone eats."])  # (2, 384) float32, in input order
    embed(texts, model="...")                                        # the same in one call
    nearest(vectors[0], corpus_vectors, top_k=3)                     # [(index, cosine), ...], best first

Texts are cut at the folder's max_seq_length, then batched by length (each batch padded to its longest text
only), and the vectors are put back in input order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from bert.errors import InputError
from bert.pooling import SentenceEncoder
from finetune.checkpoint import find_checkpoint
from finetune.data import pad_inputs, sorted_batches
from finetune.embeddings.sentence_model import load_sentence_encoder
from finetune.run_summary import resolve_model_dir
from tokenizer import WordPieceTokenizer
from training import Precision, choose_precision


@dataclass
class SentenceEmbedder:
    encoder: SentenceEncoder
    tokenizer: WordPieceTokenizer
    max_seq_length: int  # texts are cut to this many tokens, [CLS] and [SEP] included

    @classmethod
    def load(cls, model: str | Path, pooling: str | None = None, normalize: bool | None = None,
             max_seq_length: int | None = None) -> SentenceEmbedder:
        """`model`: a model folder (a sentence-transformers one too), a bert-finetune output folder (its best
        model) or a Hugging Face Hub id. The other arguments override what the folder says."""
        directory = resolve_model_dir(find_checkpoint(str(model)))
        return cls(*load_sentence_encoder(directory, pooling, normalize, max_seq_length))

    @property
    def dimension(self) -> int:
        return self.encoder.config.hidden_size

    @torch.no_grad()
    def embed(self, texts: list[str], batch_size: int = 32, precision: Precision | None = None) -> np.ndarray:
        """(len(texts), hidden) float32, row i for texts[i] (fp32 unless `precision` says otherwise)."""
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, got {batch_size}")
        precision = precision or Precision("fp32", "cpu", "default")
        device = torch.device(precision.device_type)
        encoder = self.encoder.to(device)
        try:
            encodings = [self.tokenizer.encode(text, max_length=self.max_seq_length) for text in texts]
        except (TypeError, ValueError) as e:
            raise InputError(str(e)) from None
        ids = [list(e.ids) for e in encodings]
        types = [list(e.token_type_ids) for e in encodings]
        vectors = torch.zeros(len(texts), self.dimension)
        for positions in sorted_batches([len(row) for row in ids], batch_size):
            batch = pad_inputs(ids, types, positions, self.tokenizer.pad_token_id)
            with precision.autocast():
                vectors[positions] = encoder(**{k: v.to(device) for k, v in batch.items()}).float().cpu()
        return vectors.numpy()


def embed(texts: str | list[str], model: str | Path, pooling: str | None = None, normalize: bool | None = None,
          max_seq_length: int | None = None, batch_size: int = 32, precision: str = "auto") -> np.ndarray:
    """Sentence vectors of `texts` from `model` (see SentenceEmbedder.load): (len(texts), hidden) float32, or
    (hidden,) for a single string. `precision` as the commands' --precision: auto, fp32 or bf16 (on a GPU,
    fp16 too)."""
    single = isinstance(texts, str)
    embedder = SentenceEmbedder.load(model, pooling, normalize, max_seq_length)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    vectors = embedder.embed([texts] if single else list(texts), batch_size, choose_precision(precision, device))
    return vectors[0] if single else vectors


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, d) and (m, d) -> (n, m) cosines; (d,) vectors give a scalar."""
    a64, b64 = np.atleast_2d(a).astype(np.float64), np.atleast_2d(b).astype(np.float64)
    a64 /= np.maximum(np.linalg.norm(a64, axis=1, keepdims=True), 1e-12)
    b64 /= np.maximum(np.linalg.norm(b64, axis=1, keepdims=True), 1e-12)
    cosines = a64 @ b64.T
    return cosines[0, 0] if a.ndim == b.ndim == 1 else cosines


def nearest(query: np.ndarray, corpus: np.ndarray, top_k: int) -> list[tuple[int, float]]:
    """The `top_k` rows of `corpus` (n, d) most cosine-similar to `query` (d,): (row, cosine), best first; ties
    in row order."""
    cosines = cosine_similarity(query[None], corpus)[0]
    order = np.argsort(-cosines, kind="stable")[:top_k]
    return [(int(i), float(cosines[i])) for i in order]
