"""bf16 autocast, on CPU and CUDA alike."""

from __future__ import annotations

import contextlib

import torch


def autocast(device: torch.device, bf16: bool):
    """Run matmuls in bfloat16 when `bf16` is set, fp32 otherwise.

    bf16 keeps fp32's exponent range, so unlike fp16 it needs no loss scaling. On CPUs with AVX-512 BF16 /
    AMX a bf16 matmul is several times faster than fp32; on GPUs it enables the tensor cores. Weights and
    optimizer state stay fp32; norms, softmax and losses run in fp32 (autocast's own lists).
    """
    if not bf16:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)
