"""finetune.qa: extractive question answering (SQuAD v1.1) with `bert-finetune --task squad` and `bert-predict`.

Read squad.py (the data), windows.py (question + context -> overlapping windows with character offsets),
decoding.py (start/end scores -> the n best answer spans), metrics.py (the official exact match and F1),
family.py (the interface a training loop calls), run.py (the command) and predict.py (answering your own
questions).
"""
