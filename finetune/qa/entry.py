"""Question answering's entry in the family registry (finetune/registry.py): its checks of the options, how
its task family is built from them (SQuAD v1.1 files), its predictor, and where its default recipe differs."""

from __future__ import annotations

from finetune.family import Family
from finetune.qa.predict import QuestionAnswerer
from finetune.qa.run import is_squad, settings, squad_family
from finetune.qa.windows import Windowing

FAMILY = Family(
    name="squad", head="QuestionAnswering", owns_task=is_squad, check_options=settings, build=squad_family,
    predictor=QuestionAnswerer.for_model, benchmark="SQuAD v1.1",
    # Clipping at 1.0 scaled every early step (the gradient norm starts at 2-3) and length-grouped batches put
    # windows of one context together; without both, seed 2 went from F1 46.6 to 55.2 (docs/results.md).
    recipe={"max_seq_length": Windowing.max_seq_length, "max_grad_norm": 0.0, "batching": "random"},
)
