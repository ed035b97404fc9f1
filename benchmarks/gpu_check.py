"""One command for a machine with a CUDA GPU: tests, per-iteration speed, default runs.

``make gpu-check`` (or ``python benchmarks/gpu_check.py``) does, in order:

1. the test suite, with the network on the GPU wherever a test leaves the device on ``auto``;
2. the per-iteration table on CUDA (VGG-19 forward to relu5_1 and backward to the image),
   float32 and bfloat16, 256 to 4096 px;
3. the default stylization in-process (one :class:`painterly.Stylizer`, weights loaded once,
   one warm-up run first) at 512, 1024, 2048 and 4096 px: wall time (median of ``--runs``
   at 512 and 1024 px, one run above), the plan, and peak GPU memory;

and writes ``benchmarks/results/gpu.md``.  Without a CUDA GPU it says so in one line and
exits with status 2.  The content and style images default to ``../shared/images`` when it
exists; ``--content``/``--style`` name others, and without either generated images are used
(timings do not depend on the picture).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

SHARED = ROOT.parent / "shared" / "images"


def run_tests(extra: list[str]) -> tuple[str, float]:
    """The suite in a subprocess; returns pytest's closing line and the seconds it took."""
    t = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *extra], cwd=ROOT, env=env, capture_output=True, text=True)
    lines = [ln for ln in r.stdout.strip().splitlines() if ln.strip()]
    print(r.stdout[-3000:], flush=True)
    return (lines[-1] if lines else f"pytest exited {r.returncode}"), time.perf_counter() - t


def iter_table(sizes: list[int]) -> list[str]:
    from benchmarks.iter_speed import LAYERS, time_iteration, vgg19_flops
    from painterly import device as dev
    from painterly import vgg
    from painterly.weights import resolve

    d = torch.device("cuda")
    net = vgg.build(resolve(), LAYERS).to(d).to(memory_format=dev.memory_format(d))
    rows = ["| size | precision | s/iter | GFLOP/iter | TFLOP/s |", "|---|---|---|---|---|"]
    for side in sizes:
        flops = 2 * vgg19_flops(side, side)
        for prec in ("fp32", "bf16"):
            try:
                s = time_iteration(net, side, prec, d, 5)
                rows.append(f"| {side}x{side} | {prec} | {s:.4f} | {flops / 1e9:.0f} | "
                            f"{flops / s / 1e12:.1f} |")
            except torch.OutOfMemoryError:
                rows.append(f"| {side}x{side} | {prec} | out of memory | | |")
            torch.cuda.empty_cache()
            print(rows[-1], flush=True)
    return rows


def _images(content: str, style: str):
    if content and style:
        return content, style
    if (SHARED / "tubingen.jpg").exists():
        return str(SHARED / "tubingen.jpg"), str(SHARED / "starry_night.jpg")
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:768, 0:1024] / 1024
    photo = np.stack([x, y, 0.5 + 0.5 * np.sin(9 * x + 5 * y)], -1)
    paint = np.stack([np.sin(40 * x) ** 2, np.cos(33 * y) ** 2, (x + y) / 2], -1)
    return (np.clip(photo + 0.05 * rng.standard_normal(photo.shape), 0, 1).astype(np.float32),
            np.clip(paint, 0, 1).astype(np.float32))


def stylize_table(sizes: list[int], runs: int, content: str, style: str) -> list[str]:
    import painterly
    from painterly import engine
    from painterly.device import resolve_precision

    c, s = _images(content, style)
    st = painterly.Stylizer(device="cuda")
    rows = ["| size | plan (side x steps) | precision | wall s (median) | runs (s) | "
            "peak GPU GiB |", "|---|---|---|---|---|---|"]
    st.run(c, [s], painterly.Options(size=256))  # warm-up: cuDNN autotuning, allocator
    for side in sizes:
        opts = painterly.Options(size=side)
        times = []
        try:
            for _ in range(runs if side <= 1024 else 1):
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                t = time.perf_counter()
                img = st.run(c, [s], opts)
                torch.cuda.synchronize()
                times.append(time.perf_counter() - t)
            peak = torch.cuda.max_memory_allocated() / 2 ** 30
            hw = (img.size[1], img.size[0])
            plan = ", ".join(f"{max(p.height, p.width)}x{p.steps}" for p in engine.plan(opts, hw))
            prec = resolve_precision(opts.precision, torch.device("cuda"))
            rows.append(f"| {side} | {plan} | {prec} | {statistics.median(times):.2f} | "
                        f"{', '.join(f'{t:.2f}' for t in times)} | {peak:.1f} |")
            img.save(ROOT / "benchmarks" / "results" / f"gpu_{side}.jpg", quality=90)
        except torch.OutOfMemoryError:
            rows.append(f"| {side} | | | out of memory | | |")
        torch.cuda.empty_cache()
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iter-sizes", type=int, nargs="+", default=[256, 512, 1024, 2048, 4096])
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096])
    p.add_argument("--runs", type=int, default=3, help="timed runs at 512 and 1024 px")
    p.add_argument("--content", default="")
    p.add_argument("--style", default="")
    p.add_argument("--no-tests", action="store_true")
    p.add_argument("--pytest-args", nargs="*", default=[])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu.md"))
    a = p.parse_args()
    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA GPU is visible to torch {torch.__version__} "
              f"(CUDA build: {torch.version.cuda or 'no'}); nothing was checked",
              file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(0)
    mem = torch.cuda.get_device_properties(0).total_memory / 2 ** 30
    head = [f"# GPU check: {name}", "",
            f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {name} ({mem:.0f} GiB), "
            f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
            f"{os.cpu_count()} CPU cores; `make gpu-check`.", ""]
    out = list(head)
    if not a.no_tests:
        line, secs = run_tests(a.pytest_args)
        out += ["## Test suite on the GPU", "", f"`pytest -q {' '.join(a.pytest_args)}`: "
                f"{line} ({secs:.0f} s)", ""]
        Path(a.out).write_text("\n".join(out) + "\n")
    out += ["## Seconds per iteration (VGG-19 to relu5_1, forward and backward, square input)",
            "", *iter_table(a.iter_sizes), ""]
    Path(a.out).write_text("\n".join(out) + "\n")
    out += ["## Default stylization, in-process (`Stylizer` kept loaded, weights cached)", "",
            *stylize_table(a.sizes, a.runs, a.content, a.style), ""]
    Path(a.out).write_text("\n".join(out) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
