"""Seeds and random-number-generator state: what makes a run, and a resumed run, repeatable.

The states are kept as tensors and plain numbers, so a checkpoint holding them loads with
`torch.load(weights_only=True)`: data, never code.
"""

from __future__ import annotations

import random

import numpy as np
import torch


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def capture_rng_state() -> dict:
    version, python_state, gauss = random.getstate()
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {"python": torch.tensor(python_state, dtype=torch.int64), "python_version": version,
             "python_gauss": gauss,
             "numpy": torch.from_numpy(keys.astype(np.int64)), "numpy_kind": kind, "numpy_position": int(position),
             "numpy_has_gauss": int(has_gauss), "numpy_cached_gaussian": float(cached_gaussian),
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    random.setstate((state["python_version"], tuple(state["python"].tolist()), state["python_gauss"]))
    np.random.set_state((state["numpy_kind"], state["numpy"].numpy().astype(np.uint32), state["numpy_position"],
                         state["numpy_has_gauss"], state["numpy_cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
