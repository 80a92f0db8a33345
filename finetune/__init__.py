"""finetune: turn a BERT checkpoint into a sentence(-pair) classifier (GLUE, or your own files), a CoNLL-2003
entity tagger or a SQuAD question answerer (`bert-finetune`, `finetune()`), and use it (`bert-predict`,
`load_predictor()`).

    from finetune import finetune, load_predictor
    result = finetune(task="mrpc", model="runs/pretrain/final", output="runs/mrpc", seeds=[1, 2, 3])
    classifier = load_predictor(result.best_model)

Read options.py (FinetuneOptions, checked in one place), run.py (finetune(): checks, then the seeds),
train.py (one seed's fine-tuning as a job of the training engine, over any task family), registry.py and
family.py (the task families), predictor.py (load_predictor, bert-predict). Each family is a subpackage of
the same shape (data, its family on the engine, metrics, prediction, entry.py for the registry):
sentence/ (GLUE and your own files), token/ (NER), qa/ (SQuAD). Shared: checkpoint.py (models in and out,
one table of model classes), data.py (batches), inference.py (the one inference loop), table_files.py (your
CSV / TSV / JSON-lines files), run_summary.py (a run's best model and settings). Sentence embeddings
(`bert-embed`) are in embeddings/, ONNX export (`bert-export`) in export/. The command lines are cli.py
(bert-finetune) and predict_cli.py (bert-predict). The training loop itself, precision, DDP and checkpoints
are in the top-level training/ package.
"""

from finetune.options import FinetuneOptions
from finetune.predictor import PredictOptions, load_predictor, predict
from finetune.run import FinetuneResult, finetune
from training.engine import RunInterrupted, TrainingDiverged
from bert.errors import InputError

__all__ = ["FinetuneOptions", "FinetuneResult", "InputError", "PredictOptions", "RunInterrupted",
           "TrainingDiverged", "finetune", "load_predictor", "predict"]
