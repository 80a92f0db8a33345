"""Pretraining's part of the training loop: the `PretrainingJob` the engine (training/engine.py) runs.

What is pretraining's own: which examples and masks step s sees (pretrain/batches.py), the MLM and NSP loss
terms, the time budget and its LR schedule (`RunLength`), held-out evaluation every --eval-every steps and
at step 0, the metrics log, and the model in HF layout with summary.json at the end.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from tqdm.auto import tqdm

from bert import BertConfig, BertForPreTraining
from bert.checkpoint import load_hf_state_dict, read_state_dict
from bert.errors import InputError
from bert.files import atomic_write
from training import (DistributedContext, MetricsLog, build_optimizer, choose_precision, device_name, lr_multiplier,
                      plot_metrics, set_seed)
from training.engine import Engine

from .batches import PretrainingBatches
from .options import PretrainOptions
from .probe import Probe

DEFAULT_WARMUP_FRACTION = 0.05  # warmup over the first 5% of the run unless --warmup-steps says otherwise


class RunLength:
    """When the run ends: after --max-steps, or once --time-budget seconds of training have passed.

    With a time budget the number of steps is not known in advance, so (as in Geiping & Goldstein 2022,
    "Cramming") it is re-estimated from the speed so far, and the LR schedule decays to zero exactly when
    the budget runs out. Time spent before an interruption counts (the engine keeps it in the checkpoint).
    Every decision uses the time all processes agreed on at the last step (the mean of their clocks): with
    per-process clocks, processes could take different LRs, or stop at different steps.
    """

    def __init__(self, max_steps: int | None, time_budget: float | None, warmup_steps: int | None):
        self.max_steps, self.time_budget, self.warmup = max_steps, time_budget, warmup_steps
        self.elapsed = 0.0  # agreed seconds of training so far, updated once per step

    def finished(self, step: int) -> bool:
        if self.max_steps is not None:
            return step >= self.max_steps
        return self.elapsed >= self.time_budget

    def total_steps(self, step: int) -> int:
        if self.max_steps is not None:
            return self.max_steps
        if step == 0 or self.elapsed <= 0:
            return 1_000_000  # no speed measured yet; warmup (a fraction of this) keeps the first LR tiny
        return max(step + 1, round(step * self.time_budget / self.elapsed))

    def lr_factor(self, step: int, decay: str) -> float:
        total = self.total_steps(step)
        warmup = self.warmup if self.warmup is not None else round(DEFAULT_WARMUP_FRACTION * total)
        return lr_multiplier(step, warmup, total, decay)


def set_dropout(model: nn.Module, p: float) -> None:
    """Every dropout of the model (hidden and attention) at probability p, for this run only.

    Short pretraining runs learn faster without dropout (Cramming: there is too little training to overfit),
    but fine-tuning wants BERT's 0.1: the config, and so the saved config.json, keeps its own values.
    """
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = p


# =========================================================================== the job


class PretrainingJob:
    """Pretraining's part of the training loop (see training.engine.TrainingJob): MLM + NSP on the cached
    examples, a time or step budget, held-out evaluation, and the model in HF layout at the end."""

    def __init__(self, opts: PretrainOptions, ctx: DistributedContext, config: BertConfig,
                 batches: PretrainingBatches, probe: Probe | None = None):
        self.opts, self.ctx, self.config, self.batches, self.probe = opts, ctx, config, batches, probe
        self.next_probe = opts.probe_every  # seconds of training at which the next probe is due
        self.seed, self.grad_accum, self.max_grad_norm = opts.seed, opts.grad_accum, opts.max_grad_norm
        self.precision = choose_precision(opts.precision, ctx.device,
                                          warn=None if ctx.is_main else (lambda message: None))
        set_seed(opts.seed)  # the same initial weights on every process
        self.model = BertForPreTraining(config)
        if opts.init_from is not None:  # e.g. a second phase with NSP after an MLM-only run
            load_hf_state_dict(self.model, read_state_dict(opts.init_from), source=str(opts.init_from))
        elif opts.position_init == "sinusoidal":  # a resumed run overwrites it with its checkpoint
            self.model.bert.embeddings.init_positions_sinusoidal(config.initializer_range)
        if opts.dropout is not None:
            set_dropout(self.model, opts.dropout)
        self.model.to(ctx.device)
        if not opts.nsp:  # without NSP the pooler and NSP head get no gradient; DDP needs them frozen
            for module in (self.model.bert.pooler, self.model.nsp_head):
                module.requires_grad_(False)
        self.length = RunLength(opts.max_steps, opts.time_budget, opts.warmup_steps)
        optimizer = build_optimizer(self.model, opts.lr, opts.weight_decay)
        scheduler = LambdaLR(optimizer, lambda step: self.length.lr_factor(step, opts.lr_decay))
        self.metrics = MetricsLog(opts.output / "metrics.jsonl", enabled=ctx.is_main, report_to=opts.report_to)
        self.engine = Engine(self, self.model, optimizer, scheduler, self.precision, ctx, opts.output / "checkpoints",
                             self.metrics, keep_checkpoints=opts.keep_checkpoints, compile_model=opts.compile)
        self.tokens_seen = 0
        self.skipped_steps = 0  # steps fp16's loss scaler skipped (gradients overflowed)
        self.window = LogWindow()
        self.progress = None

    def run(self) -> int:
        if self.ctx.is_main:
            print(self.precision.describe(), file=sys.stderr)
        if not self.engine.restore():
            if self.ctx.is_main:
                (self.opts.output / "checkpoints").mkdir(parents=True, exist_ok=True)
                self.config.to_json_file(self.opts.output / "checkpoints" / "config.json")
                self.metrics.clear()
            if self.opts.eval_every > 0:
                self.evaluate_untrained()
            if self.probe is not None:  # the weights before any step: what the pretraining is measured against
                self.run_probe(0, 0.0)
        self.progress = self.progress_bar()
        try:
            return self.engine.run()
        finally:
            self.progress.close()

    # ------------------------------------------------------------------ the steps

    def micro_batches(self, step: int) -> list[dict[str, torch.Tensor]]:
        return [self.batches.train_batch(step, micro, self.ctx.rank) for micro in range(self.opts.grad_accum)]

    def item_counts(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """MLM averages over masked tokens, NSP over examples; tokens are counted for the throughput."""
        counts = {"mlm_loss": float((batch["labels"] != -100).sum()), "tokens": float(batch["attention_mask"].sum())}
        if self.opts.nsp:
            counts["nsp_loss"] = float(len(batch["input_ids"]))
        return counts

    def step_items(self) -> dict[str, float]:
        return {}  # each step's own mean: packed sequences give every step about the same masked tokens

    def loss_terms(self, output) -> dict[str, torch.Tensor]:
        terms = {"mlm_loss": output.mlm_loss}
        if output.nsp_loss is not None:
            terms["nsp_loss"] = output.nsp_loss
        return terms

    def finished(self, step: int, elapsed: float) -> bool:
        self.length.elapsed = elapsed
        return self.length.finished(step)

    def checkpoint_due(self, step: int, last: bool) -> bool:
        return last or (self.opts.save_every > 0 and step % self.opts.save_every == 0)

    def after_step(self, step: int, stats: dict, elapsed: float) -> None:
        """Progress bar, metrics line (with evaluation when due)."""
        opts = self.opts
        self.tokens_seen += int(stats["items"]["tokens"])
        self.skipped_steps += stats["skipped"]
        self.window.add(stats)
        last = self.length.finished(step)
        self.progress.update(1 if opts.max_steps is not None else round(elapsed) - self.progress.n)
        self.progress.set_postfix(step=step, loss=f"{stats['loss']:.3f}", lr=f"{stats['lr']:.2e}",
                                  tok_s=f"{self.window.tokens_per_s():,.0f}", refresh=False)
        evaluate_now = opts.eval_every > 0 and (step % opts.eval_every == 0 or last)
        if step % opts.log_every == 0 or evaluate_now or last:
            record = {"step": step, "epoch": round(self.batches.epoch_of(step), 4), **self.window.summary(),
                      "elapsed_s": round(elapsed, 2), "precision": self.precision.name}
            if self.engine.scaler is not None:  # fp16: how many steps of this window the loss scaler skipped
                record["skipped_steps"] = self.window.skipped
            if evaluate_now:
                record.update(self.evaluate())
                tqdm.write(f"step {step}: eval MLM loss {record['eval_mlm_loss']:.4f}, "
                           f"MLM accuracy {record['eval_mlm_acc']:.4f}"
                           + (f", NSP accuracy {record['eval_nsp_acc']:.4f}" if opts.nsp else ""))
            self.metrics.write(record)
            self.window.reset()
        if self.probe is not None and (elapsed >= self.next_probe or last):
            self.run_probe(step, elapsed)

    def run_probe(self, step: int, elapsed: float) -> None:
        """Fine-tune a copy of the model on the probe's task, off the clock; its dev figures join metrics.jsonl
        at this step's time."""
        with self.engine.off_the_clock():
            figures = self.probe(self.model, self.opts.output, self.precision.name)
        self.metrics.write({"step": step, "elapsed_s": round(elapsed, 2), **figures})
        tqdm.write(f"step {step}: probe " + ", ".join(f"{name} {value:.4f}" for name, value in figures.items()))
        while self.next_probe <= elapsed:
            self.next_probe += self.opts.probe_every

    # ------------------------------------------------------------------ evaluation

    def evaluate_untrained(self) -> None:
        """Held-out MLM loss and accuracy before the first step: the start the run's figures compare with."""
        self.metrics.write({"step": 0, "epoch": 0.0, "elapsed_s": 0.0, "precision": self.precision.name,
                            **self.evaluate()})

    @torch.no_grad()
    def evaluate(self) -> dict:
        """MLM loss and accuracy (over masked tokens) and NSP accuracy on the held-out sample, over all
        processes; each evaluates its own share."""
        self.model.eval()
        sums = torch.zeros(5, dtype=torch.float64, device=self.ctx.device)  # mlm loss x n, correct, n, nsp ok, n
        for batch in self.batches.held_out_batches(self.ctx.rank, self.ctx.world_size, self.batches.batch_size):
            batch = {k: v.to(self.ctx.device) for k, v in batch.items()}
            with self.precision.autocast():
                out = self.model(**batch)
            targets = batch["labels"][batch["labels"] != -100]  # the order of out.prediction_logits' rows
            sums[0] += out.mlm_loss.double() * len(targets)
            sums[1] += (out.prediction_logits.argmax(-1) == targets).sum()
            sums[2] += len(targets)
            if self.opts.nsp:
                sums[3] += (out.seq_relationship_logits.argmax(-1) == batch["next_sentence_label"]).sum()
                sums[4] += batch["next_sentence_label"].numel()
        sums = self.ctx.all_reduce_sum(sums).cpu()
        self.model.train()
        result = {"eval_mlm_loss": (sums[0] / sums[2].clamp(min=1)).item(),
                  "eval_mlm_acc": (sums[1] / sums[2].clamp(min=1)).item()}
        if self.opts.nsp:
            result["eval_nsp_acc"] = (sums[3] / sums[4].clamp(min=1)).item()
        return result

    # ------------------------------------------------------------------ state and results

    def state_dict(self) -> dict:
        return {"data_settings": self.opts.data_settings(), "global_batch_size": self.batches.global_batch_size,
                "tokens_seen": self.tokens_seen, "skipped_steps": self.skipped_steps, "next_probe_s": self.next_probe}

    def load_state_dict(self, state: dict) -> None:
        """A resumed run must see the data the interrupted one would have: same settings, same global batch."""
        now = {**self.opts.data_settings(), "global_batch_size": self.batches.global_batch_size}
        then = {**state.get("data_settings", {}), "global_batch_size": state.get("global_batch_size")}
        changed = [f"{k} was {then.get(k)!r}, now {v!r}" for k, v in now.items() if then.get(k) != v]
        if changed:
            raise InputError("--resume with different data settings than the checkpoint: " + "; ".join(changed))
        self.tokens_seen = state.get("tokens_seen", 0)
        self.skipped_steps = state.get("skipped_steps", 0)
        self.next_probe = state.get("next_probe_s", self.opts.probe_every)

    def export(self, interrupted: bool) -> None:
        """The model in HF layout beside the tokenizer, summary.json, and (at the end) the loss plot."""
        if not self.ctx.is_main:
            return
        self.model.save_pretrained(self.opts.output)  # usable now (fine-tune it, fill a [MASK]); --resume goes on
        self.write_summary()
        if interrupted:
            print(f"the model as of this step is saved to {self.opts.output}")
            return
        panels = {"loss": ["loss", "mlm_loss", "eval_mlm_loss"]}
        if self.opts.eval_every > 0:
            panels["held-out accuracy"] = ["eval_mlm_acc", "eval_nsp_acc"] if self.opts.nsp else ["eval_mlm_acc"]
        if self.probe is not None:
            panels[f"probe: {self.probe.task.name} dev"] = self.probe.metric_names()
        plot_metrics(self.metrics.path, self.opts.output / "loss.png", panels)
        print(f"done: {self.engine.state.step} steps in {self.engine.elapsed:.0f}s; model, vocabulary and metrics "
              f"saved to {self.opts.output}")

    def write_summary(self) -> None:
        """OUT/summary.json: what the run's budget bought on this machine (steps, tokens, speed, precision)
        and the held-out figures at its first and last evaluation."""
        evaluations = [r for r in self.metrics.read() if "eval_mlm_loss" in r]
        eval_keys = ("step", "eval_mlm_loss", "eval_mlm_acc", "eval_nsp_acc")
        pick = lambda record: {k: record[k] for k in eval_keys if k in record}  # noqa: E731
        elapsed = self.engine.elapsed
        summary = {"steps": self.engine.state.step, "tokens": self.tokens_seen, "elapsed_s": round(elapsed, 2),
                   "tokens_per_s": round(self.tokens_seen / max(elapsed, 1e-9), 1), "precision": self.precision.name,
                   "precision_reason": self.precision.reason, "skipped_steps": self.skipped_steps,
                   "device": device_name(self.ctx.device),
                   "global_batch_size": self.batches.global_batch_size,
                   "eval_first": pick(evaluations[0]) if evaluations else None,
                   "eval_last": pick(evaluations[-1]) if evaluations else None}
        atomic_write(self.opts.output / "summary.json",
                     lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=2) + "\n"))

    def progress_bar(self):
        disable = not (self.opts.progress and self.ctx.is_main)
        step, elapsed = self.engine.state.step, self.engine.elapsed
        if self.opts.max_steps is not None:
            return tqdm(total=self.opts.max_steps, initial=step, desc="pretraining", disable=disable)
        return tqdm(total=round(self.opts.time_budget), initial=round(elapsed), unit="s", desc="pretraining",
                    disable=disable)


class LogWindow:
    """Averages of the step statistics since the last log line, and the throughput over that time."""

    def __init__(self):
        self.reset()
        self.last: dict = {}

    def reset(self) -> None:
        self.steps, self.sums, self.tokens, self.skipped, self.started = 0, {}, 0, 0, time.perf_counter()

    def add(self, stats: dict) -> None:
        self.steps += 1
        self.tokens += stats["items"]["tokens"]
        self.skipped += stats["skipped"]
        for key in ("loss", "mlm_loss", "nsp_loss"):
            self.sums[key] = self.sums.get(key, 0.0) + stats.get(key, 0.0)
        self.last = stats

    def tokens_per_s(self) -> float:
        return self.tokens / max(time.perf_counter() - self.started, 1e-9)

    def summary(self) -> dict:
        means = {key: total / self.steps for key, total in self.sums.items()}
        return {**means, "lr": self.last["lr"], "tokens_per_s": round(self.tokens_per_s(), 1)}
