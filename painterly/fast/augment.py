"""Style crops made more painting-like at random (photos are the only styles trained on).

:func:`jitter` changes colour and contrast, sharpens and sometimes posterizes; :func:`brush`
paints short, thick strokes over a photo: each stroke a segment of random direction, length
and width, filled with the photo's colour at its middle (a little shifted), drawn in a random
order so later strokes cover earlier ones.  Both give statistics farther from photos' than
photos have, which a model that has seen only photos would otherwise never be asked to render.
"""

from __future__ import annotations

import math

import torch


def jitter(s: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Per image: saturation x1..2.5, contrast x0.8..1.5, sharpened (unsharp mask, 0..3:
    stronger texture) and, one time in three, posterized to 3..8 levels (flat areas of colour
    with hard edges)."""
    b = s.shape[0]
    sat = 1 + 1.5 * torch.rand(b, 1, 1, 1, generator=g)
    con = 0.8 + 0.7 * torch.rand(b, 1, 1, 1, generator=g)
    sharp = 3 * torch.rand(b, 1, 1, 1, generator=g)
    blur = torch.nn.functional.avg_pool2d(s, 5, 1, 2, count_include_pad=False)
    s = s + sharp * (s - blur)
    y = s.mean(1, keepdim=True)
    s = y + (s - y) * sat
    m = s.mean((1, 2, 3), keepdim=True)
    s = ((s - m) * con + m).clamp(0, 1)
    levels = torch.randint(3, 9, (b, 1, 1, 1), generator=g).float()
    poster = (torch.rand(b, 1, 1, 1, generator=g) < 1 / 3).float()
    return poster * torch.round(s * (levels - 1)) / (levels - 1) + (1 - poster) * s


def brush(img: torch.Tensor, g: torch.Generator, strokes: int = 160) -> torch.Tensor:
    """One picture (3, H, W) in [0, 1] repainted with ``strokes`` strokes per square of its
    shorter side.
    Stroke widths are 1.5-5.5% of the shorter side, lengths 2-6 widths, one direction per picture
    with a spread of +-0.6 rad (paintings' strokes follow a hand), colours from the picture
    at the stroke's middle times 0.85..1.15 per channel."""
    _, h, w = img.shape
    side = min(h, w)
    k = max(8, int(strokes * h * w / side ** 2))
    cy = torch.rand(k, generator=g) * h
    cx = torch.rand(k, generator=g) * w
    width = side * (0.015 + 0.04 * torch.rand(k, generator=g))
    length = width * (2 + 4 * torch.rand(k, generator=g))
    base = torch.rand((), generator=g) * math.pi
    ang = base + 1.2 * (torch.rand(k, generator=g) - 0.5)
    dy, dx = torch.sin(ang), torch.cos(ang)
    yy = torch.arange(h, dtype=torch.float32).view(1, h, 1)
    xx = torch.arange(w, dtype=torch.float32).view(1, 1, w)
    py, px = yy - cy.view(k, 1, 1), xx - cx.view(k, 1, 1)
    along = py * dy.view(k, 1, 1) + px * dx.view(k, 1, 1)
    across = -py * dx.view(k, 1, 1) + px * dy.view(k, 1, 1)
    inside = ((along.abs() <= length.view(k, 1, 1) / 2)
              & (across.abs() <= width.view(k, 1, 1) / 2))
    order = torch.arange(1, k + 1, dtype=torch.float32).view(k, 1, 1)
    top = (inside.float() * order).amax(0)  # the last stroke over each pixel, 0 = none
    iy = cy.long().clamp(0, h - 1)
    ix = cx.long().clamp(0, w - 1)
    colour = img[:, iy, ix] * (0.85 + 0.3 * torch.rand(3, k, generator=g))  # (3, k)
    colour = torch.cat([torch.zeros(3, 1), colour.clamp(0, 1)], 1)  # index 0: no stroke
    painted = colour[:, top.long()]
    return torch.where(top > 0, painted, img)


def augment(s: torch.Tensor, g: torch.Generator, brushwork: float) -> torch.Tensor:
    """A batch of style crops (B, 3, H, W): a share ``brushwork`` of them repainted in
    strokes, then all jittered."""
    out = s.clone()
    for i in range(s.shape[0]):
        if torch.rand((), generator=g) < brushwork:
            out[i] = brush(s[i].float(), g).to(s.dtype)
    return jitter(out, g)
