"""The content and smoothness losses of Gatys et al., with their normalisation.  The style
term's statistics (Gram matrices, and others) are in :mod:`painterly.statistics`.

Notation for one layer l: F is the feature map of the image being optimised, reshaped to
N_l x M_l (N_l channels, M_l = height * width positions); P the content image's features at
the same layer.

Content loss (mean squared error of feature maps)::

    L_content = sum_l c_l * 1/(N_l M_l) * sum_ij (F_ij - P_ij)^2

Dividing by N_l M_l (rather than the paper's 1/2) keeps the value independent of the image
size, so one weight works at every scale of coarse-to-fine.

Total variation (smoothness prior on the RGB image x in 0..1, C x H x W)::

    L_tv = 1/(C H W) * sum ((x[:, i+1, j] - x[:, i, j])^2 + (x[:, i, j+1] - x[:, i, j])^2)

Grid (a style network's prior against a pattern on its stride P = 2^downs; x RGB in 0..1,
g its grey 0.299 R + 0.587 G + 0.114 B, H x W)::

    m_j = 1/H * sum_i |g[i, j+1] - g[i, j]|        the mean step at column boundary j
    s_p = mean of m_j over j = p (mod P)            the phase p's step, p = 0..P-1
    L_grid = sum_p ((s_p - s) / (s + eps))^2,  s = mean_q s_q     + the same over the rows

zero when no phase of the boundaries stands out: the smooth form of the grid strength that
``painterly.scoring.grid_strength`` measures (the largest phase over the median one).

Total objective (:mod:`painterly.objective`)::

    L = alpha * L_content + beta * L_style + tv_weight * L_tv

Batches: every loss here is the mean over the batch (the first dimension) of the per-image
loss, so a batch of B identical images has the loss of one image.
"""

from __future__ import annotations

import torch

from .images import rgb_to_yiq

GRID_EPS = 1e-3  # added to mean_q s_q: a flat picture has no grid (real ones: 0.02-0.05)


def grid_loss(x: torch.Tensor, period: int) -> torch.Tensor:
    """L_grid (module doc) of ``x`` (B x 3 x H x W in 0..1) for a grid of ``period`` pixels
    starting at the first row and column, in float32, the mean over the batch."""
    g = rgb_to_yiq(x.float())[:, 0]  # Y: the grey of PIL's "L", as the scorer takes it
    total = x.new_zeros((), dtype=torch.float32)
    for steps in ((g[..., :, 1:] - g[..., :, :-1]).abs().mean(-2),
                  (g[..., 1:, :] - g[..., :-1, :]).abs().mean(-1)):
        n = steps.shape[-1] // period * period
        if n == 0:
            continue
        phase = steps[:, :n].reshape(steps.shape[0], -1, period).mean(1)  # B x P
        mean = phase.mean(1, keepdim=True)
        rel = (phase - mean) / (mean + GRID_EPS)
        total = total + rel.pow(2).sum(1).mean()
    return total


def content_layer_loss(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """1/(N M) * sum (F - P)^2, in float32, the mean over the batch."""
    return (f.float() - p.float()).pow(2).mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontally and vertically adjacent pixels (per image,
    the mean over the batch)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum()
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum()
    return (dh + dw) / x.numel()


def content_loss(feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                 layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    """sum_l c_l L_content,l over the content layers."""
    total = None
    for name, p in targets.items():
        c = content_layer_loss(feats[name], p)
        if layer_weights:
            c = layer_weights[name] * c
        total = c if total is None else total + c
    return total
