"""A bert-finetune run's folder and its summary.json: which model is the run's best (best_model), and how the
model was made (the length texts were cut to, question-answering windows and decoding), which bert-predict
follows.

A run's model is OUT/seed-N/model and the summary OUT/summary.json; a folder exported from it (bert-export)
keeps a copy beside its model as fine_tuning_summary.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from bert.errors import InputError

EXPORTED_SUMMARY = "fine_tuning_summary.json"


def run_summary_file(model_dir: Path) -> Path:
    """The summary.json that describes `model_dir`'s run; it may not exist (a model from elsewhere)."""
    copy = model_dir / EXPORTED_SUMMARY
    return copy if copy.is_file() else model_dir.parent.parent / "summary.json"


def resolve_model_dir(path: Path) -> Path:
    """A bert-finetune output directory means its best model."""
    summary = path / "summary.json"
    if summary.is_file() and not (path / "config.json").exists():
        try:
            return path / json.loads(summary.read_text(encoding="utf-8"))["best_model"]
        except (ValueError, KeyError, TypeError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise InputError(f"{summary}: not a bert-finetune summary (no readable \"best_model\")") from None
    return path


DEFAULT_MAX_SEQ_LENGTH = 128  # bert-finetune's default --max-seq-length (finetune.train.Recipe)
DEFAULT_THRESHOLD = 0.5  # bert-finetune's default --threshold for a multi-label classifier


def fine_tuned_length(model_dir: Path) -> int:
    """The --max-seq-length of the bert-finetune run that wrote `model_dir`, where its summary.json says;
    the default otherwise."""
    summary = run_summary_file(model_dir)
    try:
        return int(json.loads(summary.read_text())["recipe"]["max_seq_length"])
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_SEQ_LENGTH


def recorded_value(model: str, *keys: str):
    """What the summary.json of the run that fine-tuned `model` (a local model folder or bert-finetune output
    folder) holds under `keys` ("recipe", "max_seq_length"), or None where none says (a Hub id, a model from
    elsewhere)."""
    try:
        value = json.loads(run_summary_file(resolve_model_dir(Path(model))).read_text())
        for key in keys:
            value = value[key]
        return value
    except (OSError, ValueError, KeyError, TypeError, InputError):
        return None
