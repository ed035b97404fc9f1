"""Frames per second of whole clips with a style network: decode, network, grid lock (when
the network's stride calls for it), flow blend and encode, in one warm process
(``painterly.video.process_clip`` with the clip function ``painterly apply`` uses).

    python benchmarks/clip_speed.py MODEL [MODEL...] [--size 854x480] [--frames 40]
        [--runs 3] [--threads 2] [--photo PHOTO] [--runtime auto torch onnxruntime]
        [--device cpu|cuda]

The clip is a camera panning over a photo (``../shared/images/tubingen.jpg`` when it is
there, else a generated picture), written once with x264.  Each model is run ``--runs``
times after one warm-up run; the table gives the median frames/s and the network alone on
the same frames.  ``--serial`` adds, interleaved run by run, the same clip with every stage
one after the other in one thread (decode, look, stylize, encode: what ``process_clip`` did
before it ran decoding and encoding beside the stylizer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

PHOTO = ROOT.parent / "shared" / "images" / "tubingen.jpg"


def make_pan(path: Path, w: int, h: int, n: int, photo: Path) -> None:
    """``n`` frames of a camera moving 3 px right and 1 px down a frame over the photo."""
    import av
    from PIL import Image

    if photo.exists():
        big = Image.open(photo).convert("RGB").resize((w + 3 * n + 8, h + n + 8), Image.LANCZOS)
        a = np.asarray(big)
    else:
        y, x = np.mgrid[0:h + n + 8, 0:w + 3 * n + 8] / 50
        a = (np.stack([np.sin(x) ** 2, np.cos(y) ** 2, np.sin(x + y) ** 2], -1) * 255)
        a = a.astype(np.uint8)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        for i in range(n):
            f = np.ascontiguousarray(a[i:i + h, 3 * i:3 * i + w])
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 25)
            out.mux(vs.encode(vf))
        out.mux(vs.encode())


def serial_clip(src: Path, dst: Path, fn) -> None:
    """The clip with every stage in turn, in this thread (the baseline of ``--serial``)."""
    from painterly import video
    from painterly.images import to_rgb8

    info = video.probe(src)
    size = video.output_size(info, None, video.encoder_for("mp4"))
    writer = video.ClipWriter(dst, info, size)
    look = getattr(fn, "look", None)
    for fr in video.read_frames(info, size):
        x = fr.tensor()
        if look is not None:
            look(x)
        writer.write(to_rgb8(fn(x)), fr.pts, fr.duration)
    writer.finish()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photo", type=Path, default=PHOTO)
    ap.add_argument("--runtime", nargs="+", default=["auto"],
                    choices=("auto", "torch", "onnxruntime"),
                    help="what runs the network (each given: a row per model)")
    ap.add_argument("--device", default="cpu", help="where the network runs (cuda: a GPU)")
    ap.add_argument("--serial", action="store_true",
                    help="also time the stages one after the other in one thread")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from benchmarks.machine import cpu_line
    from painterly import video
    from painterly.config import make
    from painterly.network.method import NetworkMethod
    from painterly.network.network import Network
    from painterly.network.options import ApplyOptions

    w, h = (int(v) for v in a.size.split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "pan.mp4"
        make_pan(src, w, h, a.frames, a.photo)
        print(f"{cpu_line()}; {w}x{h}, {a.frames} frames, {torch.get_num_threads()} threads, torch "
              f"{torch.__version__}, median of {a.runs} after a warm-up\n")
        serial = " clip frames/s, stages in turn |" if a.serial else ""
        print(f"| model | clip frames/s (all stages) |{serial} network alone frames/s |")
        print("| --- | --- |" + (" --- |" if a.serial else "") + " --- |")
        for m, runtime in [(m, r) for m in a.models for r in a.runtime]:
            method = NetworkMethod(Network.load(m, a.device, "auto", runtime))
            opts = make(ApplyOptions)
            fps, fps_serial = [], []
            for i in range(a.runs + 1):
                dst = Path(tmp) / f"out{i}.mp4"
                t0 = time.perf_counter()
                video.process_clip(src, dst, method.frames([], opts), quiet=True)
                if i:
                    fps.append(a.frames / (time.perf_counter() - t0))
                dst.unlink()
                if a.serial:
                    t0 = time.perf_counter()
                    serial_clip(src, dst, method.frames([], opts))
                    if i:
                        fps_serial.append(a.frames / (time.perf_counter() - t0))
                    dst.unlink()
            x = torch.rand(1, 3, h, w)
            net = method.net
            net.run(x)
            ts = []
            for _ in range(5):
                t0 = time.perf_counter()
                net.run(x).cpu()  # the frame back on the CPU, as a clip takes it
                ts.append(time.perf_counter() - t0)
            col = f" {statistics.median(fps_serial):.1f} |" if a.serial else ""
            print(f"| {Path(m).name} ({net.runtime}, {net.precision}) | "
                  f"{statistics.median(fps):.1f} |{col} "
                  f"{1 / statistics.median(ts):.1f} |", flush=True)


if __name__ == "__main__":
    main()
