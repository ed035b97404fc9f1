"""How the C library's allocator treats large freed blocks: set by the command line when it
starts (never on import, so a program that embeds painterly keeps its own settings).

glibc returns a large freed block to the system at once (above a threshold that starts at
128 KiB, or when the top of its heap grows past 128 KiB free), so the next map of the same
size comes back as fresh pages that the kernel zeroes on their first touch: in float32 on a
2-core CPU, `stylize` with its defaults spent 6-8 s of system time in 37-43 s.  Asking it to
keep freed memory (trim only above 1 GiB free, grow the heap 256 MiB at a time, map
separately only blocks above 32 MiB, its largest threshold) cut that to about 2 s and the
run to 32-37 s; the peak memory grew by 5% (docs/benchmarks.md, Float32 CPUs).
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # glibc's mallopt parameters


def keep_freed_memory() -> bool:
    """Ask glibc's allocator to keep large freed blocks for reuse.  True when it took the
    settings; False where there is no glibc (macOS, Windows, musl), which is left as is."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all([mallopt(M_TRIM_THRESHOLD, 1 << 30), mallopt(M_TOP_PAD, 256 << 20),
                mallopt(M_MMAP_THRESHOLD, 32 << 20)])
