"""How far each module's weights moved between two checkpoints: does fine-tuning change the encoder?"""

from __future__ import annotations

import re

import torch

from bert.checkpoint import IGNORED_KEYS, normalise_legacy_name, read_state_dict, resolve_checkpoint_dir
from bert.errors import InputError


def natural_key(name: str) -> list:
    """'encoder.layer.10' after 'encoder.layer.9'."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def checkpoint_modules(path: str) -> dict[str, torch.Tensor]:
    """A checkpoint's weights by module, named as in the file without the `bert.` prefix (so a bare
    BertModel and a task model match): module name -> its parameters flattened into one vector."""
    try:
        state = read_state_dict(resolve_checkpoint_dir(path))
    except (OSError, ValueError) as e:
        raise InputError(str(e)) from None
    params: dict[str, list[torch.Tensor]] = {}
    for key in sorted(state):
        if IGNORED_KEYS.search(key):
            continue
        module = normalise_legacy_name(key).removeprefix("bert.").rsplit(".", 1)[0]
        params.setdefault(module, []).append(state[key].float().flatten())
    return {module: torch.cat(tensors) for module, tensors in params.items()}


def weight_changes(path: str, other: str) -> dict:
    """||a - b|| / ||a|| per module (a from `path`, b from `other`), over all its parameters: exactly 0 for
    a module training left alone (frozen), about 1.4 (sqrt 2) between two independent random draws."""
    a, b = checkpoint_modules(path), checkpoint_modules(other)
    changes, shape_differs = {}, []
    for name in sorted(a.keys() & b.keys(), key=natural_key):
        if a[name].shape != b[name].shape:
            shape_differs.append(name)
            continue
        norm, diff = a[name].norm().item(), (a[name] - b[name]).norm().item()
        changes[name] = diff / norm if norm > 0 else (0.0 if diff == 0 else None)  # None: from all-zero weights
    return {"other": other, "relative_change": changes, "shape_differs": shape_differs,
            "only_in_checkpoint": sorted(a.keys() - b.keys(), key=natural_key),
            "only_in_other": sorted(b.keys() - a.keys(), key=natural_key)}
