"""The engine's step gradient: each loss term a mean over the step's items (however the step is split into
micro-batches), or, where the job fixes a term's items per step (step_items), a sum over its items divided
by that number; and the token family fixes its loss's items at the epoch's labelled pieces per step."""

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from bert.heads import IGNORE_INDEX
from finetune.token.family import TokenClassification
from training import DistributedContext, MetricsLog, Precision
from training.engine import Engine, StopSignal


class ScaledItems(nn.Module):
    """loss = the mean of weight x item: d loss / d weight is the mean of the items."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, items):
        return SimpleNamespace(loss=(self.weight * items).mean())


class Job:
    seed, max_grad_norm = 0, 0.0

    def __init__(self, micro_batches, fixed):
        self.batches, self.fixed = micro_batches, fixed
        self.grad_accum = len(micro_batches)

    def micro_batches(self, step):
        return [{"items": torch.tensor(b)} for b in self.batches]

    def item_counts(self, batch):
        return {"loss": float(len(batch["items"]))}

    def step_items(self):
        return self.fixed

    def loss_terms(self, output):
        return {"loss": output.loss}


def step_gradient(tmp_path, micro_batches, fixed) -> float:
    """-(the weight's change) after one SGD step at lr 1: the step's gradient."""
    model = ScaledItems()
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    engine = Engine(Job(micro_batches, fixed), model, optimizer, scheduler, Precision("fp32", "cpu", "test"),
                    DistributedContext(), tmp_path, MetricsLog(tmp_path / "m.jsonl", enabled=False))
    with StopSignal() as stop:
        stats = engine.train_step(stop, lambda: 0.0)
    assert not stats["nonfinite"]
    return 1.0 - model.weight.item()


def test_a_step_is_the_mean_over_its_items_however_it_is_split(tmp_path):
    assert step_gradient(tmp_path, [[1.0, 2.0, 3.0, 6.0]], {}) == pytest.approx(3.0)
    assert step_gradient(tmp_path, [[1.0], [2.0, 3.0, 6.0]], {}) == pytest.approx(3.0)


def test_fixed_items_per_step_make_the_step_a_sum_over_them(tmp_path):
    # 4 items against a mean of 8 per step: half the weight of a step as full as the mean
    assert step_gradient(tmp_path, [[1.0, 2.0, 3.0, 6.0]], {"loss": 8.0}) == pytest.approx(12.0 / 8)
    assert step_gradient(tmp_path, [[1.0], [2.0, 3.0, 6.0]], {"loss": 8.0}) == pytest.approx(12.0 / 8)


def test_the_token_family_weighs_every_labelled_piece_of_the_epoch_alike():
    labels = [[IGNORE_INDEX, 3, IGNORE_INDEX, 0, IGNORE_INDEX], [IGNORE_INDEX, 1, IGNORE_INDEX]]
    data = SimpleNamespace(train=SimpleNamespace(labels=labels, inputs=None, lengths=[5, 3]))
    task = SimpleNamespace(name="ner", main_metric="f1")
    family = TokenClassification(task, data, eval_batch_size=8, pad_token_id=0)
    assert family.train_items() == {"loss": 3.0}
