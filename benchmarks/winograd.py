"""VGG-19's 3x3 convolutions in float32 on the CPU: the direct convolution (oneDNN) against
Winograd's F(4x4, 3x3) (painterly/winograd.py), forward and forward + backward to the input,
at the map sizes of a picture of a given size.

    PYTHONPATH=. python benchmarks/winograd.py --size 512 384 --runs 5
    PYTHONPATH=. python benchmarks/winograd.py --size 512 384 --bands 2 4 8 16 64

Random weights (the time does not depend on them), the threads torch is given, medians.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from painterly import winograd
from painterly.vgg import ARCHS, CHANNELS


def layers(width: int, height: int) -> list[tuple[str, int, int, int, int]]:
    """(name, channels in, out, height, width) of VGG-19's convolutions up to conv5_1."""
    out, cin, h, w = [], 3, height, width
    for b, n in enumerate(ARCHS["vgg19"]):
        for i in range(n):
            out.append((f"conv{b + 1}_{i + 1}", cin, CHANNELS[b], h, w))
            cin = CHANNELS[b]
            if b == 4:
                return out
        h, w = -(-h // 2), -(-w // 2)
    return out


def timed(f, runs: int) -> float:
    f()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts) * 1e3


def time_layer(cin: int, cout: int, h: int, w: int, runs: int,
               bands: list[float]) -> tuple[list[float], list[float]]:
    """ms of one convolution: direct and Winograd forward, the same with the backward to
    the input; and Winograd's forward with each band size (MB)."""
    x = torch.randn(1, cin, h, w).contiguous(memory_format=torch.channels_last)
    wt = (torch.randn(cout, cin, 3, 3) / (3 * cin ** 0.5)).contiguous(
        memory_format=torch.channels_last)
    b = torch.randn(cout)
    u = winograd.kernel(wt)
    xg = x.clone().requires_grad_()
    gy = torch.randn(1, cout, h, w).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        t = [timed(lambda: F.conv2d(x, wt, b, padding=1), runs),
             timed(lambda: winograd.correlate(x, u, b), runs)]
        by_band = [timed(lambda m=m: winograd.correlate(x, u, b, int(m * 2 ** 20)), runs)
                   for m in bands]
    t += [timed(lambda: torch.autograd.grad(F.conv2d(xg, wt, b, padding=1), xg, gy), runs),
          timed(lambda: torch.autograd.grad(winograd.conv3x3(xg, u, b), xg, gy), runs)]
    return t, by_band


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, nargs=2, default=(512, 384), metavar=("W", "H"))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--bands", type=float, nargs="*", default=[],
                   help="also time these band sizes (MB) of the forward pass")
    a = p.parse_args()
    print(f"VGG-19 convolutions for a {a.size[0]}x{a.size[1]} picture, float32, "
          f"{torch.get_num_threads()} threads, median of {a.runs} (ms)")
    head = "| layer | in -> out | map | direct fwd | winograd fwd | direct fwd+bwd | " \
           "winograd fwd+bwd |"
    extra = [f"band {b:g} MB" for b in a.bands]
    print(head + "".join(f" {e} |" for e in extra))
    print("|" + " --- |" * (7 + len(extra)))
    tot = [0.0] * 4
    for name, cin, cout, h, w in layers(*a.size):
        t, bands = time_layer(cin, cout, h, w, a.runs, a.bands)
        tot = [s + v for s, v in zip(tot, t)]
        print(f"| {name} | {cin} -> {cout} | {w}x{h} | " + " | ".join(f"{v:.1f}" for v in t)
              + "".join(f" | {v:.1f}" for v in bands) + " |")
    print("| **all** | | | " + " | ".join(f"**{v:.0f}**" for v in tot) + " |")


if __name__ == "__main__":
    main()
