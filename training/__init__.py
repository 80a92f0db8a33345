"""Training machinery shared by pretrain/ and finetune/: optimizer, LR schedule, precision, checkpoints,
multi-process (DDP) and metric logging. One implementation, used by both. `InputError`, the bad-input type
of every command, is defined in bert/errors.py (the bottom of the import graph) and exported here too."""

from bert.errors import InputError

from .checkpointing import (
    TrainingState,
    latest_training_checkpoint,
    list_training_checkpoints,
    load_training_checkpoint,
    save_training_checkpoint,
    unwrap,
)
from .distributed import DistributedContext
from .metrics_log import REPORT_TO, MetricsLog, check_report_to, plot_metrics
from .optimizer import build_optimizer
from .precision import Precision, PrecisionError, add_precision_flag, choose_precision, cpu_kind, device_name
from .reproducibility import set_seed
from .schedule import build_lr_schedule, lr_multiplier, parse_duration

__all__ = [
    "InputError", "TrainingState", "latest_training_checkpoint", "list_training_checkpoints",
    "load_training_checkpoint", "save_training_checkpoint", "unwrap", "DistributedContext", "MetricsLog",
    "REPORT_TO", "check_report_to", "plot_metrics", "build_optimizer",
    "Precision", "PrecisionError", "add_precision_flag", "choose_precision", "cpu_kind", "device_name", "set_seed", "build_lr_schedule", "lr_multiplier", "parse_duration",
]
