"""Feature statistics of the fast model: per-channel mean and covariance, their blend,
and the transforms that give one picture's features another's statistics.

* ``wct``: whitening and colouring (Li et al. 2017): t = S^1/2 C^-1/2 (f - mu_c) + mu_s,
  so t has the style's mean and covariance (hence its Gram matrix, mean included);
* ``adain``: per-channel mean and standard deviation (Huang & Belongie 2017).

The matrix square roots come from ``eigh`` in float64 on the small C x C covariance with a
ridge (a share of the mean eigenvalue added to every eigenvalue): stable on flat or
low-rank inputs, where an SVD of the features is not.  The maps are never differentiated
through the statistics (they are computed without gradient); the features are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

RIDGE = 1e-3  # share of the mean eigenvalue added before the square roots
STATISTICS = ("wct", "adain")
MAX_POSITIONS = 65536


@dataclass
class Stats:
    """Mean (B x C) and covariance (B x C x C) of feature maps, in float64."""

    mean: torch.Tensor
    cov: torch.Tensor

    def std(self) -> torch.Tensor:
        return torch.diagonal(self.cov, dim1=-2, dim2=-1).clamp_min(0).sqrt()

    def to(self, device: torch.device) -> Stats:
        return Stats(self.mean.to(device), self.cov.to(device))


def feature_stats(f: torch.Tensor, mask: torch.Tensor | None = None) -> Stats:
    """Statistics of a B x C x H x W map, over the positions (weighted by a B x 1 x H x W
    or 1 x 1 x H x W mask in 0..1 when given)."""
    with torch.autocast(f.device.type, enabled=False):
        return _stats(f, mask)


def _stats(f: torch.Tensor, mask: torch.Tensor | None) -> Stats:
    b, c = f.shape[:2]
    step = _stride(f.shape[-2] * f.shape[-1])
    f = f.detach()[..., ::step, ::step]
    x = f.reshape(b, c, -1).float()
    if mask is None:
        mean = x.mean(-1)
        d = x - mean[..., None]
        cov = d @ d.transpose(1, 2) / x.shape[-1]
        return Stats(mean.double(), cov.double())
    mask = mask.detach()[..., ::step, ::step]
    x = x.double()
    m = mask.reshape(mask.shape[0], 1, -1).double().expand(b, 1, -1)
    total = m.sum(-1).clamp_min(1e-8)
    mean = (x * m).sum(-1) / total
    d = x - mean[..., None]
    cov = (d * m) @ d.transpose(1, 2) / total[..., None]
    return Stats(mean, cov)


def _stride(positions: int) -> int:
    """Every s-th row and column: at most about MAX_POSITIONS positions (statistics of a
    large map from a regular subsample are as good and several times cheaper)."""
    s = 1
    while positions / (s * s) > MAX_POSITIONS:
        s += 1
    return s


def blend(stats: Sequence[Stats], weights: Sequence[float] | None = None) -> Stats:
    """The statistics of the mixture of several styles' features, mixed in proportion
    ``weights`` (equal when None): mean sum w_i mu_i, covariance
    sum w_i (C_i + mu_i mu_i^T) - mu mu^T."""
    if not stats:
        raise ValueError("no statistics to blend")
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(stats),
                     dtype=torch.float64)
    w = w / w.sum()
    mean = sum(wi * s.mean for wi, s in zip(w, stats))
    second = sum(wi * (s.cov + s.mean[..., :, None] * s.mean[..., None, :])
                 for wi, s in zip(w, stats))
    return Stats(mean, second - mean[..., :, None] * mean[..., None, :])


def _powers(cov: torch.Tensor, ridge: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(C^1/2, C^-1/2) of B x C x C covariances, with a ridge."""
    c = cov.shape[-1]
    eye = torch.eye(c, dtype=cov.dtype, device=cov.device)
    sym = (cov + cov.transpose(-1, -2)) / 2
    scale = torch.diagonal(sym, dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
    vals, vecs = _eigh(sym + ridge * scale[..., None, None] * eye)
    vals = vals.clamp_min(ridge * scale[..., None] * 1e-3)
    root = (vecs * vals.sqrt()[..., None, :]) @ vecs.transpose(-1, -2)
    inv = (vecs * vals.rsqrt()[..., None, :]) @ vecs.transpose(-1, -2)
    return root, inv


def _eigh(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.linalg.eigh`` on one thread: on small matrices the threaded LAPACK measured
    5-50x slower on a busy 2-core CPU (its threads wait for each other)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.linalg.eigh(a)
    finally:
        torch.set_num_threads(threads)


def transform_matrix(content: Stats, style: Stats, statistic: str = "wct",
                     ridge: float = RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, b), B x C x C and B x C in float64, such that M f + b has the style's
    statistics when f has the content's."""
    if statistic == "adain":
        ratio = style.std() / content.std().clamp_min(1e-6)
        m = torch.diag_embed(ratio)
    elif statistic == "wct":
        _, c_inv = _powers(content.cov, ridge)
        s_root, _ = _powers(style.cov, ridge)
        m = s_root @ c_inv
    else:
        raise ValueError(f"unknown statistic {statistic!r}")
    b = style.mean - (m @ content.mean[..., None])[..., 0]
    return m, b


def apply_matrix(f: torch.Tensor, m: torch.Tensor, b: torch.Tensor,
                 strength: float = 1.0) -> torch.Tensor:
    """M f + b per position (mixed with f by 1 - strength), in f's dtype."""
    if strength != 1.0:
        eye = torch.eye(m.shape[-1], dtype=m.dtype, device=m.device)
        m = strength * m + (1 - strength) * eye
        b = strength * b
    w = m.to(f.device, f.dtype)[..., None, None]  # B x C x C x 1 x 1: one 1x1 conv each
    bias = b.to(f.device, f.dtype)
    out = [F.conv2d(f[i:i + 1], w[i], bias[i]) for i in range(f.shape[0])]
    return out[0] if len(out) == 1 else torch.cat(out)  # one picture: no copy


def transfer(f: torch.Tensor, style: Stats, statistic: str = "wct", strength: float = 1.0,
             ridge: float = RIDGE, mask: torch.Tensor | None = None) -> torch.Tensor:
    """f with the style's statistics (over the masked positions when a mask is given)."""
    m, b = transform_matrix(feature_stats(f, mask), style.to(f.device), statistic, ridge)
    return apply_matrix(f, m, b, strength)
