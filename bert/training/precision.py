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


def native_bf16(device: torch.device) -> bool:
    """bf16 where it is fast: CUDA GPUs that support it, and CPUs with native bf16 instructions
    (AVX512-BF16 or AMX), where it is ~1.5-4x faster than fp32 with the same dev scores (README).
    Elsewhere bf16 is emulated and slower, so fp32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))
