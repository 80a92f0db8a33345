"""One process or many: the same training code runs under `python` and under `torchrun`.

torchrun sets RANK / WORLD_SIZE / LOCAL_RANK (and the rendezvous address) in each process's environment;
DistributedContext reads them, joins the process group (NCCL between GPUs, gloo between CPU processes)
and wraps the model in DistributedDataParallel, which averages gradients across processes during
backward(). Without torchrun it is a world of one and every collective is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 writes files, logs and shows progress bars; the others only compute."""
        return self.rank == 0

    @classmethod
    def from_env(cls, device: str | None = None) -> "DistributedContext":
        """Read torchrun's environment; `device` ('cpu', 'cuda') overrides the default (CUDA if present)."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        if world_size > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return cls(rank, world_size, local_rank, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world_size == 1:
            return model
        return DistributedDataParallel(model, device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum `tensor` over all processes, in place; returns it."""
        if self.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def __enter__(self) -> "DistributedContext":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        """Leave the process group. After a clean run every process first waits for the others: one that
        tore its connections down while another was still writing its files was seen to abort (SIGABRT in
        gloo's teardown). After an error there is no waiting, as the others may never arrive."""
        if self.world_size > 1 and dist.is_initialized():
            if exc_type is None:
                dist.barrier()
            dist.destroy_process_group()
