"""The painting's contrast at every scale: its band histograms given to the fast picture.

The fast model and its refining steps give a picture the painting's colours (their mean and
covariance) and much of its brushwork, but the contrast of its strokes at each scale, and
the shape of its colour distribution beyond the covariance, stay nearer the photo's.  So
the picture is taken apart into a Laplacian pyramid (Burt & Adelson 1983) in the painting's
principal colour axes, each band's histogram along each axis is given the painting's band's
(Heeger & Bergen 1995, "Pyramid-based texture analysis/synthesis"), the pyramid is put back
together and the pixels' histograms are matched once more::

    y   = P (x - mu)                  P: eigenvectors of the painting's colour covariance
    g_0 = y,  g_k+1 = down(g_k),  b_k = g_k - up(g_k+1)   (k < LEVELS; the low-pass g_LEVELS)
    b_k <- Q_k(F_k(b_k))              per axis: F the picture's band CDF, Q the painting's
                                      band quantile function (the low-pass alike)
    y'  = collapse(b, g), matched as the pixels;   x' = P^T y' + mu

``down`` is an antialiased bilinear halving, ``up`` bilinear.  On the development pairs at
512 px (docs/fast.md, Band histograms) this took the texture distance of the refined picture
from 0.371 to 0.285, most at relu1_1 and relu2_1 (0.029 to 0.009 and 0.015), and about a
sixth at relu3_1 and relu4_1; the model's picture alone from 0.776 to 0.478.

Several paintings: their bands are taken in the principal axes of the mixture's colours and
their quantile functions averaged with the blend weights (the one-dimensional Wasserstein
barycentre of the histograms).  A histogram is kept as :data:`KNOTS` quantiles; a picture's
own come from at most :data:`SAMPLE` of its values, and each value is carried from its own
quantiles to the painting's by linear interpolation between knots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .stats import Stats, _eigh

LEVELS = 3  # bands before the low-pass (measured: 3 and 5 levels alike, docs/fast.md)
KNOTS = 257  # quantiles kept of each histogram
SAMPLE = 16384  # values a picture's own quantiles are taken from, at most
TABLE = 4096  # entries of the table a histogram is matched through
MIN_SIDE = 16  # no band is made of a map smaller than this


@dataclass
class Frame:
    """The colour axes the bands are taken along: rows of ``axes`` (3 x 3, orthonormal)
    and the mean (3) they are centred on; float32."""

    axes: torch.Tensor
    mean: torch.Tensor

    @classmethod
    def of(cls, colours: Stats) -> Frame:
        """The principal axes of a picture's colours (their mean and covariance)."""
        cov = colours.cov.reshape(3, 3)
        _, vecs = _eigh((cov + cov.T) / 2)
        return cls(vecs.T.float().contiguous(), colours.mean.reshape(3).float())

    def key(self) -> tuple:
        return tuple(self.axes.flatten().tolist()) + tuple(self.mean.tolist())

    def into(self, x: torch.Tensor) -> torch.Tensor:
        """1 x 3 x H x W colours -> their coordinates along the axes (contiguous)."""
        flat = x.reshape(3, -1) - self.mean.to(x)[:, None]
        return (self.axes.to(x) @ flat).view_as(x)

    def out_of(self, y: torch.Tensor) -> torch.Tensor:
        flat = torch.addmm(self.mean.to(y)[:, None], self.axes.to(y).T, y.reshape(3, -1))
        return flat.view_as(y)


def pyramid(y: torch.Tensor, levels: int = LEVELS) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The bands (finest first) and the low-pass of a 1 x C x H x W map; fewer bands when
    the map is small."""
    bands = []
    for _ in range(levels):
        h, w = y.shape[-2:]
        if min(h, w) < MIN_SIDE:
            break
        low = F.interpolate(y, size=((h + 1) // 2, (w + 1) // 2), mode="bilinear",
                            antialias=True, align_corners=False)
        bands.append(y - _up(low, (h, w)))
        y = low
    return bands, y


def collapse(bands: Sequence[torch.Tensor], low: torch.Tensor) -> torch.Tensor:
    """The map a pyramid was made of (exactly, up to rounding)."""
    y = low
    for b in reversed(bands):
        y = _up(y, tuple(b.shape[-2:])) + b
    return y


def _up(y: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(y, size=hw, mode="bilinear", align_corners=False)


def quantiles(y: torch.Tensor) -> torch.Tensor:
    """C x KNOTS quantiles of each channel of a 1 x C x H x W map (from at most SAMPLE
    of its values, evenly spread)."""
    v = y.reshape(y.shape[1], -1)
    step = max(1, v.shape[1] // SAMPLE)
    s = v[:, ::step].float().sort(dim=1).values
    idx = torch.linspace(0, s.shape[1] - 1, KNOTS, device=s.device).round().long()
    return s[:, idx].contiguous()


def match(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """y (1 x C x H x W) with each channel's histogram made ``target``'s (C x KNOTS
    quantiles): a value at the picture's own quantile p goes to the target's quantile p.
    The map from own to target quantiles is read off a table of :data:`TABLE` evenly
    spaced values between the picture's least and greatest (values beyond them take the
    ends), with linear interpolation by ``grid_sample``: a search among the knots for
    every value took 5-10x longer, and on the bands of a picture the two differ by about
    1e-5."""
    c, p = y.shape[1], y.shape[-2] * y.shape[-1]
    own = quantiles(y)
    lo, span = own[:, :1], (own[:, -1:] - own[:, :1]).clamp_min(1e-12)
    grid = lo + span * torch.linspace(0, 1, TABLE, device=y.device)
    table = _interp(grid, own, target.to(own))  # C x TABLE
    where = torch.zeros(c, 1, p, 2, device=y.device)  # (x, y) in -1..1; y stays 0
    where[..., 0] = (y.reshape(c, -1).float() - lo).mul_(2 / span).sub_(1).view(c, 1, p)
    out = F.grid_sample(table.view(c, 1, 1, TABLE), where, mode="bilinear",
                        padding_mode="border", align_corners=True)
    return out.view_as(y).to(y.dtype)


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation per row (C x N at the C x K knots xp, values fp)."""
    k = xp.shape[1]
    i = torch.searchsorted(xp.contiguous(), x.contiguous()).clamp_(1, k - 1)
    x0, x1 = xp.gather(1, i - 1), xp.gather(1, i)
    f0, f1 = fp.gather(1, i - 1), fp.gather(1, i)
    t = ((x - x0) / (x1 - x0).clamp_min(1e-12)).clamp_(0, 1)
    return f0 + t * (f1 - f0)


@dataclass
class Bands:
    """A painting's histograms in a frame: one C x KNOTS tensor per band (finest first),
    then the low-pass's, then the pixels'."""

    frame: Frame
    hist: list[torch.Tensor]


def band_stats(style: torch.Tensor, frame: Frame, levels: int = LEVELS) -> Bands:
    """The histograms of a style picture (1 x 3 x H x W in 0..1) in ``frame``."""
    y = frame.into(style.float())
    bands, low = pyramid(y, levels)
    return Bands(frame, [quantiles(b) for b in bands] + [quantiles(low), quantiles(y)])


def blend_bands(styles: Sequence[Bands], weights: Sequence[float] | None = None) -> Bands:
    """Several paintings' histograms (in one frame) mixed: their quantile functions
    averaged with the weights (equal when None).  Band counts may differ (smaller
    paintings have fewer): the mixture has the fewest, each style's low-pass standing in
    for its missing bands' sum."""
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(styles))
    w = w / w.sum()
    n = min(len(s.hist) for s in styles)
    parts = [[*s.hist[:n - 2], s.hist[-2], s.hist[-1]] for s in styles]
    return Bands(styles[0].frame, [sum(wi * p[k] for wi, p in zip(w, parts))
                                   for k in range(n)])


def apply_bands(x: torch.Tensor, bands: Bands, strength: float = 1.0) -> torch.Tensor:
    """x (1 x 3 x H x W in 0..1) with the painting's band histograms, mixed with x by
    1 - strength."""
    if strength <= 0:
        return x
    y = bands.frame.into(x.float())
    levels = len(bands.hist) - 2
    parts, low = pyramid(y, levels)
    # a picture smaller than the painting has fewer bands: its low-pass, which then holds
    # the coarser ones, is given the painting's low-pass
    parts = [match(b, q) for b, q in zip(parts, bands.hist)]
    low = match(low, bands.hist[-2])
    y = match(collapse(parts, low), bands.hist[-1])
    out = bands.frame.out_of(y).clamp(0, 1).to(x.dtype)
    return torch.lerp(x, out, strength) if strength < 1 else out
