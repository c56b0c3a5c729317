"""Giving large message buffers back to the operating system once they are freed.

glibc serves an allocation above its mmap threshold with its own mmap and unmaps it on free, but
it raises that threshold (up to 32 MiB) each time such a block is freed. After one large message
the next ones come from the heap, where fragmentation keeps them resident: a listener that took
two 30 MB messages stayed ~90 MiB larger for good (bench.soak). A fixed 1 MiB threshold keeps
every buffer of a message over 1 MiB on mmap, so memory use follows the traffic; setting it
explicitly also turns glibc's adjustment off (mallopt(3), M_MMAP_THRESHOLD).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
THRESHOLD = 1 << 20


def return_big_buffers() -> bool:
    """Fix glibc's mmap threshold at 1 MiB; False where the C library has no mallopt (musl)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD))
    except (OSError, AttributeError):
        return False
