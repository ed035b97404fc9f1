"""How much brushwork survives the video encoder.

A style network's clip (``painterly apply`` with its defaults: grid lock and blend) is made
from the pans, zooms and sliding cut-outs of benchmarks/video.py at 854x480, 1280x720 and
1920x1080.  Its frames, exactly as painted (8-bit RGB), are the lossless reference.  Each
encoder setting writes them through painterly.video.ClipWriter (the code that writes every
clip), the file is decoded again, and the texture distance of benchmarks/score.py (Gram
matrices at relu1_1..relu4_1 against the painting; lower is stronger style) of every
``--score-every``-th frame is set against that of the same frame before encoding.  Also
reported: the file's bit rate at 25 frames/s and the encoder's time per frame.

With ``--image PAINTED.png`` (a picture made by ``painterly stylize``, larger than the
frames) the frames are instead cut from that picture, shrunk to the frame width (+ 40 px):
a pan (the window moves 4 px right and 1 down a frame) and a disc cut from elsewhere in the
picture sliding 5 px right and 2 down a frame over a still part (a moving object); whole-pixel
moves, no resampling between frames.

Writes benchmarks/results/encoder.md.

Usage: python benchmarks/encoder.py --model MODEL [--sizes 854,1280,1920] [--frames 10]
       [--settings NAME,...] [--clips pan,zoom,cut-out]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from benchmarks.machine import cpu_line  # noqa: E402
from painterly import video  # noqa: E402
from painterly.images import fit_longest, load_image, to_tensor  # noqa: E402
from painterly.network.options import CLIP_BLEND  # noqa: E402
from painterly.scoring import gram, relative  # noqa: E402

SHARED = ROOT.parent / "shared"
X = "libx264"


def _e(codec: str, pix: str, **opts: str) -> video.Encoder:
    return video.Encoder(codec, pix, tuple((k.replace("_", "-"), v) for k, v in opts.items()))


X265_QUIET = "log-level=error"
SETTINGS: dict[str, video.Encoder] = {
    "x264 4:2:0 veryfast crf 15": _e(X, "yuv420p", crf="15", preset="veryfast"),
    "x264 4:2:0 veryfast crf 10": _e(X, "yuv420p", crf="10", preset="veryfast"),
    "x264 4:2:0 veryfast crf 12 tune grain": _e(X, "yuv420p", crf="12", preset="veryfast",
                                                 tune="grain"),
    "x264 4:2:0 medium crf 15": _e(X, "yuv420p", crf="15", preset="medium"),
    "x264 4:2:0 medium crf 12 tune grain": _e(X, "yuv420p", crf="12", preset="medium",
                                              tune="grain"),
    "x264 4:2:0 medium crf 15 tune grain": _e(X, "yuv420p", crf="15", preset="medium",
                                              tune="grain"),
    "x264 4:2:0 lossless (qp 0)": _e(X, "yuv420p", qp="0", preset="veryfast"),
    "x264 4:4:4 veryfast crf 15": _e(X, "yuv444p", crf="15", preset="veryfast"),
    "x264 4:4:4 veryfast crf 12 tune grain": _e(X, "yuv444p", crf="12", preset="veryfast",
                                                 tune="grain"),
    "x264 4:4:4 veryfast crf 10 tune grain": _e(X, "yuv444p", crf="10", preset="veryfast",
                                                 tune="grain"),
    "x265 4:2:0 fast crf 15": _e("libx265", "yuv420p", crf="15", preset="fast",
                                 x265_params=X265_QUIET),
    "x265 4:4:4 fast crf 15": _e("libx265", "yuv444p", crf="15", preset="fast",
                                 x265_params=X265_QUIET),
    "VP9 4:2:0 crf 30 cpu-used 4": _e("libvpx-vp9", "yuv420p", crf="30", b="0", row_mt="1",
                                      cpu_used="4"),
    "VP9 4:2:0 crf 15 cpu-used 4": _e("libvpx-vp9", "yuv420p", crf="15", b="0", row_mt="1",
                                      cpu_used="4"),
    "VP9 4:4:4 crf 15 cpu-used 4": _e("libvpx-vp9", "yuv444p", crf="15", b="0", row_mt="1",
                                      cpu_used="4"),
    "AV1 (SVT) 4:2:0 crf 20 preset 8": _e("libsvtav1", "yuv420p", crf="20", preset="8"),
    "x264 RGB lossless (qp 0)": _e("libx264rgb", "rgb24", qp="0", preset="veryfast"),
}
SUFFIX = {"libx264": ".mp4", "libx264rgb": ".mp4", "libx265": ".mp4", "libvpx-vp9": ".webm",
          "libsvtav1": ".mp4"}


class Texture:
    """Texture distance (benchmarks/score.py) of frames against the painting."""

    def __init__(self, style_path: Path):
        import score

        self.score = score
        self.scorer = score.default_scorer("cpu", None)
        self.style = to_tensor(load_image(str(style_path)).rgb)
        self._grams: dict[tuple[int, int], dict] = {}

    @torch.no_grad()
    def _features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.scorer.net(x.float(), list(self.score.TEXTURE_LAYERS))

    def __call__(self, x: torch.Tensor) -> float:
        hw = tuple(x.shape[-2:])
        if hw not in self._grams:
            s = self.style
            size = fit_longest(s.shape[-1], s.shape[-2], max(hw))[::-1]
            s = F.interpolate(s, size=size, mode="bilinear", antialias=True,
                              align_corners=False)
            self._grams[hw] = {k: gram(v) for k, v in self._features(s).items()}
        fo = self._features(x)
        return sum(relative(gram(fo[k]), g)
                   for k, g in self._grams[hw].items())


def to_t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1)[None].float().div_(255.0)


def network_frames(net, frames: list[torch.Tensor]) -> list[np.ndarray]:
    """The clip as ``painterly apply`` paints it (grid lock, blend), 8-bit RGB."""
    from painterly.network.steady import frame_fn

    fn = frame_fn(net, blend=CLIP_BLEND)
    out = []
    for f in frames:
        y = fn(f).detach().float().clamp(0, 1)[0].permute(1, 2, 0).numpy()
        out.append((y * 255.0 + 0.5).astype(np.uint8))
    return out


def image_clips(path: Path, w: int, h: int, n: int) -> dict[str, list[np.ndarray]]:
    """A pan and a sliding disc cut from a painted picture (see the module's docstring)."""
    from PIL import Image

    im = Image.open(path).convert("RGB")
    big = im.resize((w + 40, round(im.height * (w + 40) / im.width)), Image.Resampling.BOX)
    a = np.asarray(big)
    if a.shape[0] < h + n:
        raise SystemExit(f"{path}: too small for {w}x{h} frames")
    pan = [a[t:t + h, 4 * t:4 * t + w].copy() for t in range(n)]
    r = h // 4
    ys, xs = np.mgrid[0:2 * r, 0:2 * r]
    disc = (xs - r + 0.5) ** 2 + (ys - r + 0.5) ** 2 < r * r
    src = a[-2 * r:, -2 * r:]  # the disc: the picture's lower right corner
    obj = []
    for t in range(n):
        f = a[:h, :w].copy()
        y0, x0 = h // 2 - r + 2 * t, w // 6 + 5 * t
        f[y0:y0 + 2 * r, x0:x0 + 2 * r][disc] = src[disc]
        obj.append(f)
    return {"pan": pan, "cut-out": obj}


def encode(frames: list[np.ndarray], enc: video.Encoder, folder: Path
           ) -> tuple[list[np.ndarray], float, float]:
    """(decoded frames, kbit/s at 25 frames/s, ms per frame to encode)."""
    h, w = frames[0].shape[:2]
    path = folder / f"clip{SUFFIX[enc.codec]}"
    info = video.ClipInfo("", w, h, 0, Fraction(25), len(frames), len(frames) / 25,
                          Fraction(1, 25), None)
    t0 = time.perf_counter()
    writer = video.ClipWriter(path, info, (w, h), audio=False, encoder=enc)
    for i, a in enumerate(frames):
        writer.write(a, i, 1)
    writer.finish()
    ms = (time.perf_counter() - t0) * 1000 / len(frames)
    kbps = path.stat().st_size * 8 / 1000 / (len(frames) / 25)
    got = [f.rgb for f in video.read_frames(video.probe(path))]
    path.unlink()
    return got, kbps, ms


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", help="a style network (painterly train)")
    p.add_argument("--style", type=Path, default=SHARED / "images" / "starry_night.jpg",
                   help="the painting the network was trained on")
    p.add_argument("--photos", type=Path, default=SHARED / "photos")
    p.add_argument("--sizes", default="854,1280,1920", help="frame widths (16:9)")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--score-every", type=int, default=3)
    p.add_argument("--clips", default="pan,zoom,cut-out")
    p.add_argument("--settings", default="", help="names of SETTINGS, comma-separated "
                                                  "(default: all)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--image", type=Path, help="a painted picture to cut the frames from "
                                              "(instead of a network's clip)")
    p.add_argument("--cache", type=Path, help="folder that keeps the network's frames")
    p.add_argument("--out", type=Path, default=HERE / "results" / "encoder.md")
    a = p.parse_args()
    from video import make_clips

    from painterly.network.network import Network

    names = [s for s in a.settings.split(",") if s] or list(SETTINGS)
    net = Network.load(a.model, "cpu", a.precision) if a.model else None
    tex = Texture(a.style)
    rows = ["| size | encoder | texture vs lossless (per clip: " + a.clips.replace(",", ", ")
            + ") | mean | kbit/s (25 fps, mean) | ms/frame to encode |",
            "| --- | --- | --- | --- | --- | --- |"]
    wanted = a.clips.split(",")
    for size in (int(s) for s in a.sizes.split(",")):
        ref, picked = [], []
        if a.image:
            h = round(size * 9 / 16) // 2 * 2
            for name, frames in image_clips(a.image, size, h, a.frames).items():
                if name in wanted:
                    picked.append(frames)
                    ref.append([tex(to_t(f)) for f in frames[a.score_every - 1::a.score_every]])
        clips = [] if a.image else [c for c in make_clips(a.photos, a.frames, size)
                                    if c.name in wanted]
        for c in clips:
            cached = a.cache / f"{Path(a.model).stem}_{size}_{a.frames}_{c.name}.npz" \
                if a.cache else None
            if cached and cached.exists():
                frames = list(np.load(cached)["frames"])
            else:
                frames = network_frames(net, c.frames)
                if cached:
                    np.savez(cached, frames=np.stack(frames))
            picked.append(frames)
            ref.append([tex(to_t(f)) for f in frames[a.score_every - 1::a.score_every]])
        hw = f"{picked[0][0].shape[1]}x{picked[0][0].shape[0]}"
        print(f"{hw}: lossless texture per clip "
              + ", ".join(f"{np.mean(r):.4f}" for r in ref), flush=True)
        for name in names:
            rel, kb, ms = [], [], []
            with tempfile.TemporaryDirectory() as tmp:
                for frames, r in zip(picked, ref):
                    got, kbps, t = encode(frames, SETTINGS[name], Path(tmp))
                    d = [tex(to_t(f)) for f in got[a.score_every - 1::a.score_every]]
                    rel.append(100 * (np.mean(d) / np.mean(r) - 1))
                    kb.append(kbps)
                    ms.append(t)
            rows.append(f"| {hw} | {name} | " + ", ".join(f"{v:+.1f}%" for v in rel)
                        + f" | {np.mean(rel):+.1f}% | {np.mean(kb):.0f} | "
                          f"{np.median(ms):.0f} |")
            print(rows[-1], flush=True)
    cpu = cpu_line()
    lines = [f"# Brushwork through the encoder ({a.frames} frames per clip)", "",
             f"Machine: {cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
             + (f"frames cut from {a.image.name} (whole-pixel moves). " if a.image else
                f"network {Path(a.model).name} ({net.precision}), frames as `painterly apply` "
                f"paints them (grid lock, blend {CLIP_BLEND:g}).  ")
             + f"Texture distance of every "
             f"{a.score_every}-th frame after decoding, against the same frames before "
             "encoding (+ = weaker brushwork).", "", *rows]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
