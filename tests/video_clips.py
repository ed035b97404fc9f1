"""Small generated clips for the video tests (made with PyAV, nothing from outside)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np


def texture(h: int, w: int, seed: int = 0, freq: tuple[float, float] = (0.02, 0.15)
            ) -> np.ndarray:
    """A smooth random texture, float32 H x W x 3 in 0..1 (flow can lock onto it)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(*freq, 2) * rng.choice([-1, 1], 2)
            ph = rng.uniform(0, 2 * np.pi)
            img[..., c] += np.sin(fx * x + fy * y + ph)
    img = img / 12 + 0.5
    return np.clip(img, 0, 1)


def translated_frames(n: int = 10, h: int = 48, w: int = 64, dx: int = 2, dy: int = 1,
                      seed: int = 0, freq: tuple[float, float] = (0.02, 0.15)
                      ) -> list[np.ndarray]:
    """Frames of a camera moving over a larger texture: frame t is the window at
    (t*dx, t*dy) (dx, dy >= 0), so the content moves by (-dx, -dy) pixels per frame."""
    big = texture(h + n * dy + 2, w + n * dx + 2, seed, freq)
    return [big[t * dy:t * dy + h, t * dx:t * dx + w] for t in range(n)]


def moving_square(n: int = 10, h: int = 48, w: int = 64, v: int = 3, side: int | None = None,
                  top: int | None = None, left: int = 4) -> list[np.ndarray]:
    """Frames of a textured square (``side``, default h/2; at row ``top``, default h/4, and
    column ``left``) sliding ``v`` px right a frame over a still background."""
    side = h // 2 if side is None else side
    top = h // 4 if top is None else top
    bg = texture(h, w, seed=3)
    fg = texture(side, side, seed=7, freq=(0.3, 0.7))
    frames = []
    for t in range(n):
        f = bg.copy()
        f[top:top + side, left + v * t:left + v * t + side] = fg
        frames.append(f)
    return frames


def make_clip(path: Path, n: int = 10, rate: int = 10, size: tuple[int, int] = (64, 48),
              audio: bool = True, rotation: int = 0, faststart: bool = False,
              scene: str = "pan") -> Path:
    """A clip of ``n`` frames, with a 440 Hz tone when ``audio``: a camera panning over a
    texture (``scene`` "pan") or a square sliding over a still background ("object")."""
    import av

    w, h = size
    frames = translated_frames(n, h, w) if scene == "pan" else moving_square(n, h, w)
    opts = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=opts) as out:
        vs = out.add_stream("libx264", rate=rate)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if rotation:
            vs.set_display_rotation(rotation)
        a = None
        if audio:
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray((f * 255).astype(np.uint8), format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, rate)
            out.mux(vs.encode(vf))
        if a is not None:
            total = 16000 * n // rate
            t = np.arange(total) / 16000
            s = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for k in range(0, total, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(s[:, k:k + 1024]),
                                                format="fltp", layout="mono")
                af.sample_rate, af.pts = 16000, k
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        out.mux(vs.encode(None))
    return path
