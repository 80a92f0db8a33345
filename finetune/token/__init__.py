"""Token classification: named-entity recognition on CoNLL-2003.

Read conll.py (the task, its files, IOB1 -> IOB2), entities.py (the shared task's entity scores), family.py
(words to pieces, batches, predictions, and the family on the training engine), predict.py (entity spans of
raw text: the tagger load_predictor returns) and entry.py (its registry entry).
"""
