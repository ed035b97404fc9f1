"""The losses of Gatys et al., with their normalisation.

Notation for one layer l: F is the feature map of the image being optimised, reshaped to
N_l x M_l (N_l channels, M_l = height * width positions); P the content image's features at
the same layer; A the style image's Gram matrix.

Content loss (mean squared error of feature maps)::

    L_content = sum_l c_l * 1/(N_l M_l) * sum_ij (F_ij - P_ij)^2

Dividing by N_l M_l (rather than the paper's 1/2) keeps the value independent of the image
size, so one weight works at every scale of coarse-to-fine.

Style loss (Gram matrices)::

    G_ij = sum_k F_ik F_jk                      (N_l x N_l)
    E_l  = 1/(4 N_l^2 M_l^2) * sum_ij (G_ij - A_ij)^2
    L_style = sum_l w_l E_l

which we compute as E_l = 1/4 * sum_ij (g_ij - a_ij)^2 with the normalised Gram matrix
g = G / (N_l M_l), in float32 whatever the network's precision.  The style Gram matrix of
several style images is their blend  a = sum_s b_s a_s  with sum_s b_s = 1.

Total variation (smoothness prior on the RGB image x in 0..1, C x H x W)::

    L_tv = 1/(C H W) * sum ((x[:, i+1, j] - x[:, i, j])^2 + (x[:, i, j+1] - x[:, i, j])^2)

Total objective::

    L = alpha * L_content + beta * L_style + tv_weight * L_tv

Batches: every loss here is the mean over the batch (the first dimension) of the per-image
loss, so a batch of B identical images has the loss of one image.
"""

from __future__ import annotations

import torch


def gram(f: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix g = F F^T / (N M) of a B x N x H x W map, in float32."""
    b, n, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        # channels-last maps are B x (H W) x N in memory: a view, where reshape would copy
        # (forward and backward); measured 8-12% faster per iteration at 512 px on the CPU
        x = f.permute(0, 2, 3, 1).reshape(b, h * w, n).float()
        return torch.bmm(x.transpose(1, 2), x) / (n * h * w)
    x = f.reshape(b, n, h * w).float()
    return torch.bmm(x, x.transpose(1, 2)) / (n * h * w)


def style_layer_loss(g: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """E_l = 1/4 * sum (g - a)^2 = 1/(4 N^2 M^2) sum (G - A)^2 for normalised Grams g
    (B x N x N) and a (1 x N x N or B x N x N), the mean over the batch."""
    return 0.25 * (g - a.to(g.dtype)).pow(2).sum() / g.shape[0]


def content_layer_loss(f: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """1/(N M) * sum (F - P)^2, in float32, the mean over the batch."""
    return (f.float() - p.float()).pow(2).mean()


def tv_loss(x: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of horizontally and vertically adjacent pixels (per image,
    the mean over the batch)."""
    dh = (x[..., 1:, :] - x[..., :-1, :]).pow(2).sum()
    dw = (x[..., :, 1:] - x[..., :, :-1]).pow(2).sum()
    return (dh + dw) / x.numel()


def style_loss(feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
               layer_weights: dict[str, float]) -> torch.Tensor:
    """sum_l w_l E_l over the style layers."""
    total = None
    for name, a in targets.items():
        e = layer_weights[name] * style_layer_loss(gram(feats[name]), a)
        total = e if total is None else total + e
    return total


def content_loss(feats: dict[str, torch.Tensor], targets: dict[str, torch.Tensor],
                 layer_weights: dict[str, float] | None = None) -> torch.Tensor:
    total = None
    for name, p in targets.items():
        c = content_layer_loss(feats[name], p)
        if layer_weights:
            c = layer_weights[name] * c
        total = c if total is None else total + c
    return total


# --- spatial guidance (Gatys et al. 2017, section 4) ------------------------------------------

def layer_mask(mask: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A soft mask (B x R x H x W in 0..1) brought to a layer's size by area averaging: the
    fraction of each feature's receptive cell that lies in the region."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    return torch.nn.functional.interpolate(mask, size=tuple(hw), mode="area")


def guided_gram(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Guided Gram matrices of a B x N x H x W map for R soft masks m (1 x R x H x W, the
    same for every image, or B x R x H x W)::

        F^r = F * m_r  (every channel multiplied by the mask),
        g^r = F^r F^r^T / (N * sum_k m_rk^2)

    i.e. the second moments of the features inside region r, normalised by the region's
    mass so that a full mask (m = 1) gives the plain normalised Gram.  Returns
    B x R x N x N."""
    b, n, h, w = f.shape
    r = m.shape[1]
    x = f.reshape(b, 1, n, h * w).float()
    mm = m.reshape(m.shape[0], r, 1, h * w).float()
    xr = (x * mm).reshape(-1, n, h * w)  # (B R) x N x M
    mass = mm.pow(2).sum((2, 3)).clamp_min(1e-8).expand(b, r).reshape(-1)
    g = torch.bmm(xr, xr.transpose(1, 2)) / (n * mass[:, None, None])
    return g.reshape(b, r, n, n)


def guided_style_loss(g: torch.Tensor, a: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """sum_r coef_r * 1/4 sum_ij (g^r_ij - a^r_ij)^2 for guided Grams g (B x R x N x N),
    targets a (R x N x N) and R coefficients, the mean over the batch."""
    return 0.25 * ((g - a.to(g.dtype)).pow(2).sum((-2, -1)) * coef).sum() / g.shape[0]
