"""The machine a benchmark ran on, in the words its result files use: the CPU's model name and
which bfloat16 instructions it has (they decide painterly's precision and most timings)."""

from __future__ import annotations

from pathlib import Path


def cpu_line() -> str:
    """E.g. ``AMD EPYC (no AMX, AVX512-BF16), 2 cores``."""
    name, flags, cores = "an unknown CPU", set(), 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "model name":
                name = value.strip()
                cores += 1
            elif key == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        import platform

        return platform.processor() or platform.machine()
    kinds = ("AMX" if "amx_bf16" in flags else "no AMX",
             "AVX512-BF16" if "avx512_bf16" in flags else "no AVX512-BF16")
    return f"{name} ({', '.join(kinds)}), {cores} cores"
