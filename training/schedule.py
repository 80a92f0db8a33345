"""Learning-rate schedule (warmup, then decay) and the time budgets that bound a run."""

from __future__ import annotations

import math
import re

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, decay: str = "linear") -> float:
    """Linear warmup from 0 to 1 over warmup_steps, then linear or cosine decay to 0 at total_steps.

    Post-LN BERT needs the warmup: with the full learning rate from step 0 the first updates are large
    enough to wreck the randomly initialised residual stream.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if decay == "linear":
        return 1.0 - progress
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown LR decay {decay!r}; use 'linear' or 'cosine'")


def build_lr_schedule(optimizer: Optimizer, warmup_steps: int, total_steps: int, decay: str = "linear") -> LambdaLR:
    lr_multiplier(warmup_steps, warmup_steps, total_steps, decay)  # fail now on a bad decay name, not mid-run
    return LambdaLR(optimizer, lambda step: lr_multiplier(step, warmup_steps, total_steps, decay))


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | float, allow_zero: bool = False) -> float:
    """'90s', '30m', '2h', '1.5h' or a bare number of seconds -> seconds; 0 only with allow_zero."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text))
    if not match or (float(match.group(1)) == 0 and not allow_zero):  # the pattern has no sign: never < 0
        raise ValueError(f"bad duration {text!r}: use e.g. 90s, 30m, 2h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]
