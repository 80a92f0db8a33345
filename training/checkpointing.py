"""Resumable training checkpoints: weights, optimizer, LR schedule, step, RNG states and data position.

Layout: DIR/step-00000100/state.pt. Each checkpoint is written into a temporary folder and renamed into
place, so a crash (even SIGKILL) mid-write leaves only complete checkpoints behind.

The state is data only (tensors, numbers, strings, lists and dicts of them) and is read with
`torch.load(weights_only=True)`, which cannot run code: a tampered run folder cannot execute anything.
A state file of the older, pickled format is refused with one line saying to start over.
"""

from __future__ import annotations

import pickle
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from bert.errors import InputError

from .reproducibility import capture_rng_state, restore_rng_state

CHECKPOINT_NAME = re.compile(r"^step-(\d+)$")
FORMAT = 2  # 1: pickled RNG states (numpy arrays), read only with weights_only=False


class CheckpointFormatError(InputError):
    """A state file this version does not load (an older format, or not a training state)."""


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
        "format": FORMAT,
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
    file = Path(path) / "state.pt"
    try:
        saved = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        saved = None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        raise CheckpointFormatError(f"{file}: a training state of an older format, which is not loaded (it could "
                                    "run code); start the run over (--overwrite)")
    unwrap(model).load_state_dict(saved["model"])
    if optimizer is not None:
        optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    restore_rng_state(saved["rng"])
    return TrainingState(step=saved["step"], extra=saved["extra"])
