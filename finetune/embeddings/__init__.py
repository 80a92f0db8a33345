"""Sentence embeddings (`bert-embed`): one vector per text from this project's encoder, pooled and normalised as
the model folder says (sentence-transformers' modules.json), equal to sentence-transformers' own.

Read sentence_model.py (what a folder says, and the encoder it loads; the pooling itself is bert/pooling.py),
embedder.py (batches of texts to vectors, similarity, nearest texts), text_files.py (the texts of a file),
then the command line cli.py.
"""

from finetune.embeddings.embedder import SentenceEmbedder, cosine_similarity, embed, nearest

__all__ = ["SentenceEmbedder", "embed", "cosine_similarity", "nearest"]
