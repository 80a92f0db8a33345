"""finetune: turn a BERT checkpoint into a GLUE classifier or a SQuAD question answerer (`bert-finetune`)
and use it (`bert-predict`).

Read tasks.py (the GLUE table and readers), metrics.py, data.py (tokenising and length-grouped
batches), train.py (the loop), evaluate.py (predictions and their files), then the CLIs cli.py and
predict.py. Question answering is its own task family, in finetune.qa. Shared training machinery
(optimizer, schedule, bf16, DDP, logging) is in training.
"""
