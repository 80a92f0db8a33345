"""A probe while pretraining: a quick fine-tune of the model as it stands, at fixed points of the budget.

    bert-pretrain --corpus ... --time-budget 2h --probe cola --probe-data ../shared/data/glue --probe-every 10m

The masked-LM curve says how well the model fills in words, not whether that helps a task: CoLA moved with
the MLM loss in this project's runs, MRPC did not. At the start (the weights before any step: for a run from
random weights, the no-pretraining score), every --probe-every of training and at the end, the model is saved
and fine-tuned (finetune/, the same code as bert-finetune) for --probe-epochs (1) at --probe-lr (1e-4), clipping
gradients at --probe-max-grad-norm (by default the task family's, as bert-finetune), on --probe-examples training
examples of a GLUE task (sst2, cola, mrpc, ...), once per --probe-seeds seed, then scored on the task's dev set;
the dev figures go into metrics.jsonl as probe_<metric> (probe_accuracy for SST-2: the median over the seeds,
with probe_<metric>_min and probe_<metric>_max beside it for several seeds) and are drawn against the same clock
as the MLM curve.

A probe changes nothing in the pretraining it watches: it runs off the clock (neither the time budget nor the
LR schedule counts it), and the random-number streams of torch, numpy and Python are put back as they were
after it (the engine also re-seeds dropout at every step). Its fine-tuned model is thrown away.
"""

from __future__ import annotations

import signal
import tempfile
from pathlib import Path

from bert import BertForPreTraining
from bert.errors import InputError
from finetune import FinetuneOptions, RunInterrupted, finetune
from finetune.sentence.tasks import get_task, load_task_data
from finetune.train import Recipe
from tokenizer import WordPieceTokenizer
from training import DistributedContext
from training.reproducibility import capture_rng_state, restore_rng_state


class Probe:
    """One GLUE task and its training subset, fine-tuned anew (finetune.finetune, quietly) at every call."""

    def __init__(self, task: str, data_dir: Path | None, examples: int, tokenizer: WordPieceTokenizer,
                 ctx: DistributedContext, seeds: list[int] = (1,), epochs: int = 1, lr: float = 1e-4,
                 max_grad_norm: float | None = None):
        if ctx.world_size > 1:
            raise InputError("--probe fine-tunes in one process; run the pretraining without torchrun, or "
                             "without --probe")
        self.task = get_task(task)
        load_task_data(self.task, data_dir)  # a missing folder or file fails before the pretraining starts
        self.data_dir, self.examples, self.seeds = data_dir, examples, list(seeds)
        self.epochs, self.lr, self.max_grad_norm = epochs, lr, max_grad_norm
        self.tokenizer, self.ctx = tokenizer, ctx

    def metric_names(self) -> list[str]:
        return [f"probe_{metric}" for metric in self.task.metrics]

    def figures(self, result) -> dict[str, float]:
        """probe_<metric>: the median over the seeds; with several seeds, their lowest and highest too."""
        figures = {}
        for metric, median in result.median.items():
            figures[f"probe_{metric}"] = median
            if len(self.seeds) > 1:
                values = [row[metric] for row in result.seeds]
                figures[f"probe_{metric}_min"], figures[f"probe_{metric}_max"] = min(values), max(values)
        return figures

    def __call__(self, model: BertForPreTraining, scratch_parent: Path, precision: str) -> dict[str, float]:
        """Fine-tune a copy of `model` (saved under `scratch_parent`, removed after) in `precision` and return
        its dev figures as probe_<metric>; the random-number streams are left as they were."""
        rng = capture_rng_state()
        try:
            with tempfile.TemporaryDirectory(dir=scratch_parent, prefix="probe-") as scratch:
                checkpoint = Path(scratch) / "model"
                model.save_pretrained(checkpoint)
                self.tokenizer.save(checkpoint)
                result = finetune(FinetuneOptions(
                    task=self.task.name, model=checkpoint, output=Path(scratch) / "probe", data_dir=self.data_dir,
                    max_train_examples=self.examples, epochs=self.epochs, lr=self.lr, batch_size=32, seeds=self.seeds,
                    max_grad_norm=self.max_grad_norm,
                    max_seq_length=min(Recipe.max_seq_length, model.config.max_position_embeddings),
                    precision=precision, device=self.ctx.device.type, progress=False))
        except RunInterrupted as stopped:  # Ctrl-C / SIGTERM stopped the probe: pass it on to the pretraining
            signal.raise_signal(stopped.exit_status - 128)
            return {}
        finally:
            restore_rng_state(rng)
        return self.figures(result)
