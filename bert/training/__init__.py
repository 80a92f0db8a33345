"""Training machinery shared by pretrain/ and finetune/: optimizer, LR schedule, bf16, checkpoints,
multi-process (DDP) and metric logging. One implementation, used by both."""

from .checkpointing import (
    TrainingState,
    latest_training_checkpoint,
    list_training_checkpoints,
    load_training_checkpoint,
    save_training_checkpoint,
    unwrap,
)
from .distributed import DistributedContext
from .metrics_log import MetricsLog, plot_metrics
from .optimizer import build_optimizer
from .precision import autocast, native_bf16
from .reproducibility import set_seed
from .schedule import build_lr_schedule, lr_multiplier, parse_duration

__all__ = [
    "TrainingState", "latest_training_checkpoint", "list_training_checkpoints", "load_training_checkpoint",
    "save_training_checkpoint", "unwrap", "DistributedContext", "MetricsLog", "plot_metrics", "build_optimizer",
    "autocast", "native_bf16", "set_seed", "build_lr_schedule", "lr_multiplier", "parse_duration",
]
