"""BERT's WordPiece tokenizer: train a vocabulary, encode fast (HF `tokenizers`), and a readable reference.

    from tokenizer import WordPieceTokenizer
"""

from tokenizer.wordpiece import Encoding, WordPieceTokenizer

__all__ = ["Encoding", "WordPieceTokenizer"]
