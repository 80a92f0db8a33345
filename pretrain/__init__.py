"""Pretraining BERT from scratch: corpus -> WordPiece vocabulary -> MLM + NSP examples -> checkpoint.

Reading order: corpus.py (text -> documents), cache.py (documents -> cached token stream), examples.py
(token stream -> NSP pairs), masking.py and batches.py (examples -> masked batches), train.py (the run),
cli.py (`bert-pretrain`).
"""

from .options import PretrainOptions
from .train import PretrainResult, pretrain

__all__ = ["PretrainOptions", "PretrainResult", "pretrain"]
