"""Seconds per iteration and achieved TFLOP/s of one VGG-19 forward+backward (to relu5_1).

One iteration is what one optimiser step costs: the features of the image at the style and
content layers, the Gram/content losses in float32, and the gradient with respect to the
image.  The weights are frozen, so the backward pass computes input gradients only and costs
about as much as the forward pass: FLOPs = 2 x (forward conv FLOPs), counted analytically as
2 * H_l * W_l * C_in * C_out * 9 per 3x3 convolution (ReLU, pooling and Grams not counted).

Usage: python benchmarks/iter_speed.py [--sizes 256 512 1024 2048] [--device cpu] [--reps 3]
Writes a markdown table to stdout (and to --out if given).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from machine import cpu_line  # benchmarks/, the script's folder

from painterly import device as dev
from painterly import vgg
from painterly.config import DEFAULT_CONTENT_LAYERS, DEFAULT_STYLE_LAYERS
from painterly.statistics import gram
from painterly.vgg import ARCHS, CHANNELS
from painterly.weights import random_weights, resolve

LAYERS = [*DEFAULT_STYLE_LAYERS, *DEFAULT_CONTENT_LAYERS]


def vgg19_flops(h: int, w: int, last_block: int = 5, last_conv: int = 1) -> float:
    """Forward conv FLOPs of VGG-19 up to conv{last_block}_{last_conv} on an h x w image."""
    total, cin = 0.0, 3
    for b, n in enumerate(ARCHS["vgg19"], start=1):
        for i in range(1, n + 1):
            cout = CHANNELS[b - 1]
            total += 2.0 * h * w * cin * cout * 9
            cin = cout
            if (b, i) == (last_block, last_conv):
                return total
        h, w = -(-h // 2), -(-w // 2)  # ceil-mode pooling
    return total


def time_iteration(net: vgg.VGGFeatures, side: int, precision: str, device: torch.device,
                   reps: int) -> float:
    """Median seconds of one forward+backward on a square side x side image."""
    x = torch.rand(1, 3, side, side, device=device).requires_grad_(True)
    names = set(LAYERS)
    times = []
    warm = side <= 1024  # at larger sizes one iteration is long enough to time cold
    for i in range(reps + int(warm)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        with dev.autocast(device, precision):
            feats = net(dev.to_layout(x, dev.layout_of(net)), names)
        loss = sum(gram(feats[k]).sum() for k in DEFAULT_STYLE_LAYERS)
        loss = loss + feats["relu4_2"].float().pow(2).mean()
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i or not warm:
            times.append(time.perf_counter() - t)
        x.grad = None
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--reps", type=int, default=3, help="timed runs up to 512 px (1 above)")
    p.add_argument("--layouts", nargs="+", default=["channels_last"],
                   choices=["channels_last", "nchw"], help="memory layouts to compare")
    p.add_argument("--random", action="store_true", help="random weights (same speed)")
    p.add_argument("--out", default="")
    a = p.parse_args()
    device = torch.device(a.device)
    w = random_weights() if a.random else resolve()
    net = vgg.build(w, LAYERS).to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_line()
    rows = ["| device | size | precision | layout | s/iter | GFLOP/iter | TFLOP/s |",
            "|---|---|---|---|---|---|---|"]
    for side in a.sizes:
        flops = 2 * vgg19_flops(side, side)
        for prec in a.precisions:
            for layout in a.layouts:
                net.to(memory_format=torch.channels_last if layout == "channels_last"
                       else torch.contiguous_format)
                s = time_iteration(net, side, prec, device, a.reps if side <= 512 else 1)
                rows.append(f"| {a.device} ({name}, {torch.get_num_threads()} threads) | "
                            f"{side}x{side} | {prec} | {layout} | {s:.3f} | "
                            f"{flops / 1e9:.0f} | {flops / s / 1e12:.3f} |")
                print(rows[-1], flush=True)
    text = "\n".join(rows) + "\n"
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
