"""finetune: turn a BERT checkpoint into a GLUE classifier or a CoNLL-2003 entity tagger (`bert-finetune`)
and use it (`bert-predict`).

Read tasks.py (the GLUE table and readers), metrics.py, data.py (tokenising and length-grouped
batches), train.py (the loop), evaluate.py (predictions and their files), then the CLIs cli.py and
predict.py. Named-entity recognition: conll.py (the task, its files, IOB1 -> IOB2), entities.py (the
shared task's entity scores), token_classification.py (words to pieces, batches, predictions: the
interface a loop calls), token_training.py (today's loop for it), predict_entities.py (entity spans of raw
text). Shared training machinery (optimizer, schedule, bf16, DDP, logging) is in training.
"""
