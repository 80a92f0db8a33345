"""Which arithmetic a run uses: one policy for every command, chosen by the machine unless the user says.

`--precision auto` (the default) picks
  - bf16 autocast where the hardware runs it natively: CPUs with AVX512-BF16 or AMX, CUDA GPUs with bf16
    (Ampere and later). bf16 keeps fp32's exponent range, so it needs no loss scaling;
  - fp16 autocast with dynamic loss scaling on CUDA GPUs without bf16 (T4, V100, P100): fp16's small range
    would flush small gradients to zero, so the loss is multiplied by a large factor before backward and the
    gradients divided by it before the update; a step whose gradients overflow is skipped and the factor
    lowered (torch.amp.GradScaler). Such skips are normal, not a divergence;
  - fp32 everywhere else. On a CPU without native bf16 (AVX2) bf16 is emulated: a 1024x1024 matmul measured
    0.9 GFLOP/s in bf16 against 101 GFLOP/s in fp32.
Weights and optimizer state stay fp32 in every mode; autocast runs matmuls in 16 bits and keeps norms,
softmax and losses in fp32 (autocast's own op lists).

Recipes carry no precision: the same recipe trains on any machine, and the machine picks its arithmetic.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass

import torch

from bert.errors import InputError

CHOICES = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(InputError):
    """A precision this device cannot run (fp16 on a CPU)."""


@dataclass(frozen=True)
class Precision:
    name: str  # "fp32", "bf16" or "fp16"
    device_type: str  # "cpu" or "cuda"
    reason: str  # why this one, for the log line

    def autocast(self):
        """The context a forward pass runs in: autocast to bf16/fp16, or nothing for fp32."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=_DTYPES[self.name])

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        """Dynamic loss scaling, for fp16 only (bf16 and fp32 have fp32's range and need none)."""
        return torch.amp.GradScaler(self.device_type) if self.name == "fp16" else None

    def describe(self) -> str:
        return f"precision: {self.name} ({self.reason})"


def cpu_capability() -> str:
    """The widest vector instruction set torch's CPU kernels use here: 'AVX2', 'AVX512', 'DEFAULT', ..."""
    return torch.backends.cpu.get_cpu_capability()


def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, or AMX tiles)."""
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def cpu_kind() -> str:
    """A short name for the CPU's arithmetic, written beside every figure: 'AVX2', 'AVX512', 'AVX512+AMX'."""
    capabilities = torch.cpu.get_capabilities() if hasattr(torch.cpu, "get_capabilities") else {}
    kind = cpu_capability()
    if capabilities.get("amx_bf16"):
        return f"{kind}+AMX"
    if capabilities.get("avx512_bf16"):
        return f"{kind}-BF16"
    return kind


def cuda_has_bf16(device: torch.device) -> bool:
    """Native bf16: compute capability 8.0 (Ampere) and later, or ROCm. torch.cuda.is_bf16_supported() says
    yes on older GPUs too (T4, V100), where bf16 is only emulated and fp16 with loss scaling is the fast choice."""
    return bool(torch.version.hip) or torch.cuda.get_device_properties(device).major >= 8


def choose_precision(requested: str, device: torch.device | str, warn=None) -> Precision:
    """The precision a run on `device` uses, given --precision (`auto` or a forced choice).

    Forcing bf16 where it is emulated is allowed, with a warning (a fixed message; nothing is timed).
    fp16 on a CPU is refused: CPU autocast has no loss scaling path worth using.
    """
    device = torch.device(device)
    if requested not in CHOICES:
        raise PrecisionError(f"--precision {requested!r}: choose one of {', '.join(CHOICES)}")
    warn = warn or (lambda message: print(f"warning: {message}", file=sys.stderr))
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        has_bf16 = cuda_has_bf16(device)
        if requested == "auto":
            if has_bf16:
                return Precision("bf16", "cuda", f"{name} runs bf16 natively")
            return Precision("fp16", "cuda", f"{name} has no bf16: fp16 with dynamic loss scaling")
        if requested == "bf16" and not has_bf16:
            warn(f"--precision bf16 on {name}, which has no native bf16: it is emulated and slow")
        return Precision(requested, "cuda", "asked for with --precision")
    native = cpu_has_native_bf16()
    kind = cpu_kind()
    if requested == "fp16":
        raise PrecisionError("--precision fp16 needs a CUDA GPU; on a CPU use fp32 or bf16")
    if requested == "auto":
        if native:
            return Precision("bf16", "cpu", f"this CPU has native bf16: {kind}")
        return Precision("fp32", "cpu", f"this CPU has no native bf16: {kind}")
    if requested == "bf16" and not native:
        warn(f"--precision bf16 on a CPU without native bf16 ({kind}): bf16 is emulated here and much "
             "slower than fp32 (about 100x for a large matmul on AVX2)")
    return Precision(requested, "cpu", "asked for with --precision")


def device_name(device: torch.device | str) -> str:
    """The device a figure was measured on: the GPU's name, or the CPU with its vector instruction set."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({cpu_kind()}, {torch.get_num_threads()} threads)"


def add_precision_flag(parser) -> None:
    """--precision, with --bf16 / --no-bf16 kept as aliases of --precision bf16 / fp32 (dest: precision)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--precision", choices=CHOICES, default="auto",
                       help="arithmetic of the run (default: auto = bf16 where the hardware runs it natively: CPUs "
                            "with AVX512-BF16 or AMX, CUDA GPUs with bf16; fp16 with loss scaling on CUDA GPUs "
                            "without bf16; fp32 elsewhere, e.g. AVX2 CPUs)")
    group.add_argument("--bf16", dest="precision", action="store_const", const="bf16",
                       help="alias of --precision bf16")
    group.add_argument("--no-bf16", dest="precision", action="store_const", const="fp32",
                       help="alias of --precision fp32")
