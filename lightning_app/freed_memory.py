"""Keep the memory a training step frees for the next step, instead of handing it back to the kernel.

A CPU training step allocates the same multi-megabyte activations and gradients every step. glibc serves them from its
heap, but gives a free top of the heap back to the kernel beyond twice the largest buffer freed so far, so, depending
on the process's allocation history, a step may fault all their pages in again. The largest such buffer is a tied word
embedding's dense gradient (30,522 x 128 floats, 15.6 MB, for the causal LM at the MiniLM vocabulary): with glibc's
defaults, zeroing it took 7.2 ms of a 45 ms step (`torch.profiler`, steps 100 to 140 of `main.py fit --config
configs/tr_en_bce_lm.yaml` at that vocabulary), 1.6 ms with the thresholds below. Each config's share of step time is
in bench/README.md's ablation table (`freed_memory_reuse`). PyTorch has no caching allocator for CPU memory to turn on
instead; its `THP_MEM_ALLOC_ENABLE` (huge pages for tensors of 2 MB and more) removed fewer of the faults.

glibc's own environment variables win: with `MALLOC_MMAP_THRESHOLD_` or `MALLOC_TRIM_THRESHOLD_` set, nothing is
changed. Buffers of 32 MiB and more (a BERT-base embedding's gradient) still come and go as fresh pages.
"""

from __future__ import annotations

import ctypes
import os
import platform

# mallopt parameter numbers, from glibc's malloc.h
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Allocations below this come from the heap and are reused (32 MiB is the largest glibc accepts on 64-bit)
MMAP_THRESHOLD = 32 << 20
# Free memory at the top of the heap is given back only beyond this: a step's working set, not the whole machine
TRIM_THRESHOLD = 256 << 20
USER_VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory() -> dict[str, int] | None:
    """Set glibc's thresholds for this process; the settings made, or None where glibc is absent or the user chose."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    if any(name in os.environ for name in USER_VARIABLES):
        return None
    libc = ctypes.CDLL(None)
    settings = {"M_MMAP_THRESHOLD": MMAP_THRESHOLD, "M_TRIM_THRESHOLD": TRIM_THRESHOLD}
    for parameter, value in ((M_MMAP_THRESHOLD, MMAP_THRESHOLD), (M_TRIM_THRESHOLD, TRIM_THRESHOLD)):
        if libc.mallopt(ctypes.c_int(parameter), ctypes.c_int(value)) != 1:  # mallopt returns 1 on success
            return None
    return settings
