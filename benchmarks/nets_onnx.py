"""Speed of a style network exported to ONNX (``painterly export``) in onnxruntime against
``Network.run`` in torch, on the CPU.

Times the network alone (a 1 x 3 x H x W tensor in 0..1 to the stylized tensor), warm, in
this process, interleaved run by run so that every path sees the same machine load, and
prints the median of ``--runs`` runs and each path's largest difference from torch float32.

    python benchmarks/nets_onnx.py starry.safetensors --size 1024x768

Paths: onnxruntime float32 (the network's ONNX graph in the session ``Network`` itself runs
with ``--runtime onnxruntime``: CPU execution provider, torch's thread count, threads not
spinning when idle), torch float32 channels-last and torch bfloat16 channels-last
(``Network.run`` with ``--precision fp32`` and ``bf16``: on a CPU without bfloat16
instructions bf16 is emulated and slow).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painterly.network.export import INPUT  # noqa: E402
from painterly.network.modelfile import load_model  # noqa: E402
from painterly.network.network import Network, ort_session  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="model file (.safetensors)")
    ap.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0,
                    help="threads of both torch and onnxruntime [default: torch's choice]")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    w, h = (int(v) for v in a.size.split("x"))
    session = ort_session(load_model(a.model))
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(0))
    nets = {p: Network.load(a.model, "cpu", p, "torch") for p in ("fp32", "bf16")}
    paths = {
        "onnxruntime fp32": lambda: torch.from_numpy(session.run(None, {INPUT: x.numpy()})[0]),
        "torch fp32 channels-last": lambda: nets["fp32"].run(x),
        "torch bf16 channels-last": lambda: nets["bf16"].run(x),
    }
    ref = nets["fp32"].run(x)
    diff = {k: float((f() - ref).abs().max()) for k, f in paths.items()}  # also the warm-up
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(a.runs):
        for k, f in paths.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    print(f"{w}x{h}, batch 1, median of {a.runs} warm runs, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), onnxruntime {ort.__version__} "
          f"(as many threads), numpy {np.__version__}\n")
    print("| path | seconds | max difference from torch fp32 |")
    print("| --- | --- | --- |")
    for k in paths:
        print(f"| {k} | {statistics.median(times[k]):.3f} | {diff[k]:.1e} |")


if __name__ == "__main__":
    main()
