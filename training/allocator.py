"""Keeping freed memory in the process from one training step to the next (glibc's malloc).

Every training step allocates and frees the same large tensors: activations, their gradients, the weight
gradients. glibc's malloc gives a freed block above its mmap threshold straight back to the kernel and
trims the top of its heap when enough is free, so the next step asks the kernel again and takes a page
fault on the first touch of every 4 KB page. Measured on a 2-core AVX2 CPU, base preset, batch 8 x 128:
~186,000 page faults and ~1.5 CPU-seconds of kernel time per step of ~5 s. With the mmap threshold fixed
at its maximum (32 MB) and trimming off, freed blocks stay in the heap for the next step: ~71,000 faults
and half the kernel time. (PyTorch's CPU tensors come from malloc; it has no caching allocator of its
own on CPU, unlike CUDA's.) Other C libraries (macOS, musl) are left as they are.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc refuses larger values on 64-bit machines


def keep_freed_memory() -> bool:
    """Tell glibc to keep freed blocks up to 32 MB in the process and never trim the heap; returns
    whether it applied (False on other C libraries). Process-wide: it also applies to anything else
    running in the process (the benchmarks' `transformers` side, for instance)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL("libc.so.6")
    return bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1) and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX))
