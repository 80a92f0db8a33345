"""Resumable training checkpoints: weights, optimizer, LR schedule, step, RNG states and data position.

Layout: DIR/step-00000100/state.pt. Each checkpoint is written into a temporary folder and renamed into
place, so a crash (even SIGKILL) mid-write leaves only complete checkpoints behind.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .reproducibility import capture_rng_state, restore_rng_state

CHECKPOINT_NAME = re.compile(r"^step-(\d+)$")


@dataclass
class TrainingState:
    step: int = 0  # optimizer steps taken
    extra: dict = field(default_factory=dict)  # e.g. the data position, the best eval score


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel or torch.compile wrapper."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "module", None) or model._orig_mod
    return model


def list_training_checkpoints(directory: str | Path) -> list[Path]:
    """Complete checkpoints in `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if CHECKPOINT_NAME.match(p.name) and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(CHECKPOINT_NAME.match(p.name).group(1)))


def latest_training_checkpoint(directory: str | Path) -> Path | None:
    checkpoints = list_training_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save_training_checkpoint(directory: str | Path, model: nn.Module, optimizer, scheduler,
                             state: TrainingState, keep_last: int = 2) -> Path:
    """Write DIR/step-N atomically, then delete all but the newest `keep_last` checkpoints."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step-{state.step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=directory, prefix=".tmp-"))
    torch.save({
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": state.step,
        "extra": state.extra,
        "rng": capture_rng_state(),
    }, tmp / "state.pt")
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
    for old in list_training_checkpoints(directory)[:-keep_last] if keep_last > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_training_checkpoint(path: str | Path, model: nn.Module, optimizer=None, scheduler=None) -> TrainingState:
    """Restore everything `save_training_checkpoint` wrote, RNG states included."""
    saved = torch.load(Path(path) / "state.pt", map_location="cpu", weights_only=False)
    unwrap(model).load_state_dict(saved["model"])
    if optimizer is not None:
        optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    restore_rng_state(saved["rng"])
    return TrainingState(step=saved["step"], extra=saved["extra"])
