"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style
Transfer", section 5).  Images are RGB tensors B x 3 x H x W in 0..1; statistics are per
image, so a batch of identical images gives identical results.

Luminance-only transfer (``--preserve-color luminance``)
    Convert content and style to YIQ and keep only the luminance Y.  The style's luminance
    is first matched to the content's first two moments::

        Y_s' = (sigma_c / sigma_s) * (Y_s - mu_s) + mu_c

    Both are optimised as grey images (Y in all three channels), and the output's
    luminance Y_o is recombined with the content's chroma: RGB = YIQ^-1 (Y_o, I_c, Q_c).

Colour histogram matching (``--preserve-color histogram``)
    Before the transfer, every style pixel x (a 3-vector) is mapped linearly so that the
    style's mean and covariance become the content's::

        x' = A (x - mu_s) + mu_c,   A = Sigma_c^(1/2) Sigma_s^(-1/2)

    with symmetric matrix square roots from the eigen-decomposition
    Sigma = U diag(l) U^T,  Sigma^(+-1/2) = U diag(l^(+-1/2)) U^T.  Then A Sigma_s A^T =
    Sigma_c exactly (up to the small ridge added to keep Sigma_s invertible), and the
    symmetric choice of A rotates the colours least.

With spatial control (``--style-masks``, ``--mask``) both maps take their moments from the
parts that meet: the style's donor part (each pixel weighted by its mask,
mu = sum m x / sum m, Sigma = sum m (x - mu)(x - mu)^T / sum m) and the content's region
that the style paints, so a painting's sky given to a photo's sky takes that sky's colours.

The palette start (``--init palette``, the default)
    The same map the other way round gives the optimisation its start image: the photo with
    the painting's colour mean and covariance (:func:`match_colors`).  Several style images
    count as one mixture of their pixels, weighted by their blend weights:
    mu = sum_i w_i mu_i and Sigma = sum_i w_i (Sigma_i + mu_i mu_i^T) - mu mu^T.  Started
    from the photo's own colours, the Gram matrices of a painting with another palette stop
    far from their targets (tubingen x shipwreck at 384 px: texture distance 0.105); started
    from its palette they get there (0.034), with the photo as recognizable as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .images import resize_tensor, rgb_to_yiq, yiq_to_rgb

EPS = 1e-5
STATS_PIXELS = 1 << 20  # a style image's colour statistics are taken on about this many pixels
MODES = ("none", "luminance", "histogram")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Y of YIQ, B x 1 x H x W."""
    return rgb_to_yiq(x.float())[:, :1]


def grey(y: torch.Tensor) -> torch.Tensor:
    """A 1-channel luminance as an RGB image (Y in every channel), clamped to 0..1."""
    return y.clamp(0, 1).expand(-1, 3, -1, -1).contiguous()


def match_luminance(style_y: torch.Tensor, content_y: torch.Tensor,
                    style_part: torch.Tensor | None = None,
                    content_part: torch.Tensor | None = None) -> torch.Tensor:
    """Y_s' = sigma_c / sigma_s * (Y_s - mu_s) + mu_c, per image of a batch; the moments
    of the parts given (see :func:`stats`)."""
    mu_s, sd_s = _moments(style_y, style_part)
    mu_c, sd_c = _moments(content_y, content_part)
    return (style_y - mu_s) * (sd_c / sd_s.clamp_min(EPS)) + mu_c


def _moments(y: torch.Tensor, part: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of each B x 1 x H x W luminance, as B x 1 x 1 x 1."""
    w = _part(part, y)
    if w is None:
        dims = (1, 2, 3)
        return y.mean(dims, keepdim=True), y.std(dims, keepdim=True)
    p = y.double().reshape(y.shape[0], 1, -1)
    mu = (p * w).sum(2, keepdim=True) / w.sum(2, keepdim=True)
    var = ((p - mu) ** 2 * w).sum(2, keepdim=True) / w.sum(2, keepdim=True)
    return mu[..., None].to(y.dtype), var.sqrt()[..., None].to(y.dtype)


def _part(part: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor | None:
    """A soft mask (1 x 1 x h x w in 0..1) at ``x``'s size as B x 1 x H*W weights, float64;
    None for the whole picture, and where the part holds less than a pixel at this size."""
    if part is None:
        return None
    hw = tuple(x.shape[-2:])
    m = part.float() if tuple(part.shape[-2:]) == hw else \
        torch.nn.functional.interpolate(part.float(), size=hw, mode="area")
    w = m.to(x.device).double().clamp(0, 1).reshape(m.shape[0], 1, -1)
    if float(w.sum(2).min()) < 1.0:
        return None
    return w.expand(x.shape[0], 1, -1)


def recombine(y: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """RGB from the luminance ``y`` (B x 1 x H x W) and the chroma (I, Q) of ``content``."""
    iq = rgb_to_yiq(resize_tensor(content.float(), tuple(y.shape[-2:])))[:, 1:]
    return yiq_to_rgb(torch.cat([y.float(), iq.to(y.device)], 1)).clamp(0, 1)


def stats(x: torch.Tensor, part: torch.Tensor | None = None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image of a B x 3 x H x W batch: the mean (B x 3) and covariance (B x 3 x 3) of its
    pixels, in float64; of the ``part`` given (a soft mask, 1 x 1 x h x w in 0..1, resized to
    the picture: each pixel counted by its weight) or of them all."""
    p = x.double().reshape(x.shape[0], 3, -1)
    w = _part(part, x)
    if w is None:
        mu = p.mean(2)
        d = p - mu[..., None]
        return mu, d @ d.transpose(1, 2) / max(1, d.shape[2] - 1)
    total = w.sum(2)
    mu = (p * w).sum(2) / total
    d = p - mu[..., None]
    return mu, (d * w) @ d.transpose(1, 2) / total[..., None]


def _sqrtm(cov: torch.Tensor, power: float) -> torch.Tensor:
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag_embed(vals.clamp_min(EPS) ** power) @ vecs.transpose(-2, -1)


def _recolor(x: torch.Tensor, mu: torch.Tensor, cov: torch.Tensor,
             part: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` (per image) mapped to the colour mean ``mu`` and covariance ``cov``:
    A (x - mu_x) + mu, A = cov^(1/2) cov_x^(-1/2), with ``x``'s moments taken on ``part``
    (the whole picture is mapped: that part ends with exactly those moments)."""
    mu_x, cov_x = stats(x, part)
    eye = torch.eye(3, dtype=cov_x.dtype) * EPS
    a = _sqrtm(cov + eye, 0.5) @ _sqrtm(cov_x + eye, -0.5)
    p = x.double().reshape(x.shape[0], 3, -1)
    out = a @ (p - mu_x[..., None]) + mu[..., None]
    return out.reshape(x.shape).to(x.dtype).clamp(0, 1)


def match_histogram(style: torch.Tensor, content: torch.Tensor,
                    style_part: torch.Tensor | None = None,
                    content_part: torch.Tensor | None = None) -> torch.Tensor:
    """The style with the content's colour mean and covariance: A (x - mu_s) + mu_c, per
    image (``content``: one image for every style image, or one per style image); with
    parts (soft masks), the moments of the style's donor part are matched to those of the
    content's region."""
    return _recolor(style, *stats(content, content_part), style_part)


def match_styles(mode: str, content: torch.Tensor, styles: Sequence[torch.Tensor],
                 style_masks: Sequence[torch.Tensor | None] | None = None,
                 regions: torch.Tensor | None = None) -> list[torch.Tensor]:
    """The style images as ``--preserve-color`` paints with them: given the content's colours
    (``histogram``), or its light, in grey (``luminance``); as they are for ``none``.  With
    spatial control each style is matched on its donor part (``style_masks``, per style) to
    the content's region it paints (``regions``: 1 x S x H x W, one per style): a sky
    painted from a painting's sky takes the photo's sky colours, not the whole photo's."""
    if mode not in ("histogram", "luminance"):
        return list(styles)
    donors = list(style_masks) if style_masks else [None] * len(styles)
    where = [None if regions is None else regions[:, i:i + 1] for i in range(len(styles))]
    if mode == "histogram":
        return [match_histogram(st, content, d, r) for st, d, r in zip(styles, donors, where)]
    cy = luminance(content)
    return [grey(match_luminance(luminance(st), cy, d, r))
            for st, d, r in zip(styles, donors, where)]


def match_colors(x: torch.Tensor, styles: list[torch.Tensor],
                 weights: list[float] | None = None) -> torch.Tensor:
    """``x`` (1 x 3 x H x W) with the colour mean and covariance of the style images' pixels,
    taken together as a mixture weighted by ``weights`` (default equal): the palette start."""
    w = torch.tensor(weights or [1.0] * len(styles), dtype=torch.float64)
    w = w / w.sum()
    mu = torch.zeros(3, dtype=torch.float64)
    second = torch.zeros(3, 3, dtype=torch.float64)
    for wi, st in zip(w, styles):
        step = max(1, math.isqrt(st.shape[-2] * st.shape[-1] // STATS_PIXELS))
        m, c = stats(st[:1, :, ::step, ::step].detach().float().cpu())
        mu += wi * m[0]
        second += wi * (c[0] + m[0][:, None] * m[0][None, :])
    cov = second - mu[:, None] * mu[None, :]
    return _recolor(x, mu[None].to(x.device), cov[None].to(x.device))


@dataclass
class Prepared:
    """Inputs of the optimisation after colour handling, and how to finish its output."""

    content: torch.Tensor
    styles: list[torch.Tensor]
    init: torch.Tensor | None
    finish: Callable[[torch.Tensor], torch.Tensor]


def prepare(mode: str, content: torch.Tensor, styles: list[torch.Tensor],
            init: torch.Tensor | None = None,
            style_masks: Sequence[torch.Tensor | None] | None = None,
            regions: torch.Tensor | None = None) -> Prepared:
    """Apply ``--preserve-color`` to the inputs (the styles: :func:`match_styles`);
    ``finish`` maps the optimised image back."""
    s = match_styles(mode, content, styles, style_masks, regions)
    if mode == "luminance":
        i = grey(luminance(init)) if init is not None else None
        return Prepared(grey(luminance(content)), s, i,
                        lambda x: recombine(luminance(x), content))
    return Prepared(content, s, init, lambda x: x)
