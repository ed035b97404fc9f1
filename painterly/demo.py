"""A demo that works on any machine: a photo shipped with matplotlib and a style painting
that painterly generates itself (swirling brush strokes along a flow field)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PALETTE = [(24, 45, 110), (40, 80, 160), (70, 120, 190), (230, 200, 70), (250, 230, 120),
           (20, 30, 60), (120, 170, 210), (200, 140, 40)]


def make_style_image(width: int = 512, height: int = 384, seed: int = 1) -> Image.Image:
    """A painting of short curved strokes following a field of vortices."""
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (width, height), PALETTE[0])
    draw = ImageDraw.Draw(im)
    vortices = [(rng.uniform(0, width), rng.uniform(0, height), rng.choice([-1, 1]) *
                 rng.uniform(0.6, 1.4)) for _ in range(7)]

    def flow(x: float, y: float) -> tuple[float, float]:
        vx, vy = 0.3, 0.05
        for cx, cy, s in vortices:
            dx, dy = x - cx, y - cy
            r2 = dx * dx + dy * dy + 400.0
            vx += -s * dy * 3000.0 / r2
            vy += s * dx * 3000.0 / r2
        n = math.hypot(vx, vy) + 1e-6
        return vx / n, vy / n

    n_strokes = width * height // 90
    for i in range(n_strokes):
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        # yellow near vortex centres, blues elsewhere
        near = min(math.hypot(x - cx, y - cy) for cx, cy, _ in vortices)
        base = PALETTE[3 + rng.integers(0, 2)] if near < 40 + 20 * rng.random() else \
            PALETTE[rng.choice([1, 2, 5, 6, 1, 2])]
        if rng.random() < 0.03:
            base = PALETTE[7]
        jitter = rng.integers(-18, 19, 3)
        colour = tuple(int(np.clip(c + j, 0, 255)) for c, j in zip(base, jitter))
        pts = [(x, y)]
        for _ in range(int(rng.integers(4, 10))):
            dx, dy = flow(x, y)
            x, y = x + 4.0 * dx, y + 4.0 * dy
            pts.append((x, y))
        draw.line(pts, fill=colour, width=int(rng.integers(3, 6)), joint="curve")
        if i % 4 == 0:  # a dark outline here and there, like paint ridges
            draw.line(pts[1:-1], fill=tuple(int(c * 0.55) for c in colour), width=1)
    return im.filter(ImageFilter.SMOOTH)


def demo_photo() -> Path:
    """matplotlib's sample photograph (Grace Hopper, public domain)."""
    try:
        from matplotlib import cbook
    except ImportError as e:  # pragma: no cover - matplotlib is a dependency
        raise SystemExit("painterly demo needs matplotlib for its sample photo") from e
    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def main(out_dir: str = "out/demo", size: int = 384) -> Path:
    from .config import KEYWORDS, Options, validate
    from .render import stylize_picture

    opts = validate(Options(size=size), spelling=KEYWORDS)  # before anything is written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    style = out / "style.png"
    make_style_image().save(style)
    content = demo_photo()
    result = out / "result.png"
    stylize_picture(str(content), [str(style)], str(result), opts, quiet=False,
                    overwrite=True)  # the demo's own folder: each run replaces its files
    Image.open(content).convert("RGB").save(out / "content.png")
    print(f"demo result: {result.resolve()}")
    print(f"  content:   {content}")
    print(f"  style:     {style.resolve()} (generated)")
    return result
