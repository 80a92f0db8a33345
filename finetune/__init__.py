"""finetune: turn a BERT checkpoint into a GLUE (or your own files') classifier, a CoNLL-2003 entity tagger or
a SQuAD question answerer (`bert-finetune`), and use it (`bert-predict`).

Read tasks.py (the GLUE table and readers), metrics.py, data.py (tokenising and length-grouped
batches), train.py (one seed's fine-tuning as a job of the training engine, over any task family),
sentence_classification.py (the GLUE / own-files family), evaluate.py (predictions and their files), then the
CLIs cli.py and predict.py. Named-entity recognition: conll.py (the task, its files, IOB1 -> IOB2),
entities.py (the shared task's entity scores), token_classification.py (words to pieces, batches,
predictions, and the family), predict_entities.py (entity spans of raw text). Question answering is in
finetune/qa (squad.py, windows.py, decoding.py, metrics.py, family.py, run.py: its family, predict.py).
Sentence embeddings (`bert-embed`) are in finetune/embeddings, ONNX export (`bert-export`, `bert-predict --onnx`)
in finetune/export, and run_summary.py says where a run's best model and its settings are. The training loop itself,
precision, DDP and checkpoints are in the top-level training/ package.
"""
