"""Sentence and sentence-pair classification (and regression): the GLUE tasks and the user's own files.

Read tasks.py (the GLUE table and readers), file_task.py (the user's CSV / TSV / JSON-lines files as a task),
metrics.py, evaluate.py (predictions, scores and their files), family.py (the family on the training
engine), predict.py (the classifier load_predictor returns) and entry.py (its registry entry).
"""
