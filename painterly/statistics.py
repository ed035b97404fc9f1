"""Style statistics: what the style term of the objective matches at each layer.

A statistic summarises a layer's feature map F (B x N x H x W: N channels, M = H W positions)
as a target, and measures how far an image's features are from a target.  Each statistic
owns five things (:class:`Statistic`):

* ``target(f, mask=None)``: the target of a style image's features, B x ... (plain), or of
  the part of them under a soft mask m (1 x 1 x H x W in 0..1 at the layer's size: guided);
* ``blend(targets, weights)``: the target of several styles, from theirs and the weights
  (which sum to 1);
* ``norm(w, target)``: the weight w of a layer divided by the energy of its target, so that
  every layer's term is a relative error whatever its scale;
* ``distance(f, target, coef, regions=None)``: the weighted distance of the features of a
  batch, the mean over the batch in float32 (a batch of identical images has the distance
  of one).  Plain: one target (1 x ...) and a number ``coef``.  Guided: R soft masks
  ``regions`` (1 x R x H x W at the layer's size), R targets (R x ...) and R coefficients;
* ``name``: the key of its targets in :class:`painterly.objective.TargetCache`.

Gram matrices (Gatys et al. 2015), :class:`Gram`::

    g = F F^T / (N M)                                 (N x N, normalised)
    E = 1/4 * sum_ij (g_ij - a_ij)^2 = 1/(4 N^2 M^2) sum_ij (G_ij - A_ij)^2
    norm: w / (1/4 sum a^2)        blend: a = sum_s b_s a_s

guided (Gatys et al. 2017, section 4): g^r = (F m_r)(F m_r)^T / (N sum_k m_rk^2), the
second moments of the features inside region r (a full mask gives the plain g).

Mean and standard deviation per channel (as AdaIN matches them), :class:`MeanStd`::

    mu_c = 1/M sum_k F_ck       sigma_c = sqrt(1/M sum_k (F_ck - mu_c)^2 + eps)
    E = sum_c (mu_c - a_c)^2 + (sigma_c - b_c)^2
    norm: w / sum (a^2 + b^2)     blend: the weighted blend of the means and of the stds

guided: the mean and std of the features weighted by m_r (divided by sum_k m_rk).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Statistic:
    """The interface of a style statistic (see the module docstring); ``blend`` is the
    weighted sum of the targets unless a statistic says otherwise."""

    name = ""

    def target(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def blend(self, targets: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
        out = None
        for t, w in zip(targets, weights):
            out = t * w if out is None else out + t * w
        return out

    def norm(self, weight: float, target: torch.Tensor) -> float:
        raise NotImplementedError

    def distance(self, f: torch.Tensor, target: torch.Tensor, coef: float | torch.Tensor,
                 regions: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError


# --- Gram matrices -------------------------------------------------------------------------

def gram(f: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix g = F F^T / (N M) of a B x N x H x W map, in float32.

    A bfloat16 map (the network ran in bfloat16) is multiplied in bfloat16, accumulated in
    float32 and rounded once (relative error about 0.4% of an entry, far below the distances
    the style term works on).  Measured on a 2-core CPU with AMX: the products 3-4x faster
    than float32 at the shapes of VGG-19, where they had been a third of an optimisation
    step; ``painterly stylize`` at 512 px 14.8 s against 19.8 s (median of 5, side by side),
    the same texture distance."""
    b, n, h, w = f.shape
    if f.is_contiguous(memory_format=torch.channels_last) and not f.is_contiguous():
        # channels-last maps are B x (H W) x N in memory: a view, where reshape would copy
        # (forward and backward); measured 8-12% faster per iteration at 512 px on the CPU
        x = f.permute(0, 2, 3, 1).reshape(b, h * w, n)
    else:
        x = f.reshape(b, n, h * w).transpose(1, 2)
    return _products(x) / (n * h * w)


def _products(x: torch.Tensor) -> torch.Tensor:
    """X^T X of B x M x N rows in float32: bfloat16 rows multiplied in bfloat16, any other
    precision in float32."""
    if x.dtype not in (torch.float32, torch.bfloat16):
        x = x.float()
    return _Gram.apply(x)


class _Gram(torch.autograd.Function):
    """X^T X of B x M x N rows, in float32; the backward is one product, X (G + G^T)
    (autograd would take two, one for each factor)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.bmm(x.transpose(1, 2), x).float()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        return torch.bmm(x, (grad + grad.transpose(1, 2)).to(x.dtype))


def guided_gram(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Guided Gram matrices of a B x N x H x W map for R soft masks m (1 x R x H x W, the
    same for every image, or B x R x H x W): g^r = (F m_r)(F m_r)^T / (N sum_k m_rk^2), so
    that a full mask (m = 1) gives the plain normalised Gram.  Returns B x R x N x N, in
    float32; a bfloat16 map is multiplied in bfloat16, as :func:`gram` does."""
    b, n, h, w = f.shape
    r = m.shape[1]
    x = f.reshape(b, 1, n, h * w)
    mm = m.reshape(m.shape[0], r, 1, h * w).float()
    xr = (x * mm.to(x.dtype)).reshape(-1, n, h * w)  # (B R) x N x M
    mass = mm.pow(2).sum((2, 3)).clamp_min(1e-8).expand(b, r).reshape(-1)
    g = _products(xr.transpose(1, 2)) / (n * mass[:, None, None])
    return g.reshape(b, r, n, n)


class Gram(Statistic):
    """Gram matrices: targets 1 x N x N (guided: R x N x N)."""

    name = "gram"

    def target(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return gram(f) if mask is None else guided_gram(f, mask)[:, 0]

    def norm(self, weight: float, target: torch.Tensor) -> float:
        return weight / max(1e-12, 0.25 * float(target.pow(2).sum()))

    def distance(self, f: torch.Tensor, target: torch.Tensor, coef: float | torch.Tensor,
                 regions: torch.Tensor | None = None) -> torch.Tensor:
        if regions is None:
            g = gram(f)
            return coef * (0.25 * (g - target.to(g.dtype)).pow(2).sum() / g.shape[0])
        g = guided_gram(f, regions)
        e = (g - target.to(g.dtype)).pow(2).sum((-2, -1))
        return 0.25 * (e * coef).sum() / g.shape[0]


# --- mean and standard deviation per channel -------------------------------------------------

EPS = 1e-5  # added to the variance: a finite gradient where a channel is constant


def mean_std(f: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation of a B x N x H x W map: B x 2 x N, float32."""
    var, mu = torch.var_mean(f.float(), dim=(2, 3), correction=0)
    return torch.stack([mu, (var + EPS).sqrt()], 1)


def guided_mean_std(f: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Per-channel mean and standard deviation inside R soft masks m (1 x R x H x W or
    B x R x H x W), each position weighted by m_r: B x R x 2 x N, float32."""
    b, n, h, w = f.shape
    x = f.float().reshape(b, n, h * w)
    shift = x.mean(-1, keepdim=True).detach()  # centred first: no cancellation in E[x^2]-mu^2
    x = x - shift
    mm = m.float().reshape(m.shape[0], m.shape[1], h * w).expand(b, -1, -1)
    mass = mm.sum(-1, keepdim=True).clamp_min(1e-8)  # B x R x 1
    mu = torch.bmm(mm, x.transpose(1, 2)) / mass  # B x R x N, of the centred features
    var = (torch.bmm(mm, x.pow(2).transpose(1, 2)) / mass - mu.pow(2)).clamp_min(0)
    return torch.stack([mu + shift.transpose(1, 2), (var + EPS).sqrt()], 2)


class MeanStd(Statistic):
    """Per-channel mean and standard deviation: targets 1 x 2 x N (guided: R x 2 x N)."""

    name = "meanstd"

    def target(self, f: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return mean_std(f) if mask is None else guided_mean_std(f, mask)[:, 0]

    def norm(self, weight: float, target: torch.Tensor) -> float:
        return weight / max(1e-12, float(target.pow(2).sum()))

    def distance(self, f: torch.Tensor, target: torch.Tensor, coef: float | torch.Tensor,
                 regions: torch.Tensor | None = None) -> torch.Tensor:
        if regions is None:
            return coef * ((mean_std(f) - target).pow(2).sum() / f.shape[0])
        e = (guided_mean_std(f, regions) - target).pow(2).sum((-2, -1))
        return (e * coef).sum() / f.shape[0]


STATISTICS: dict[str, type[Statistic]] = {s.name: s for s in (Gram, MeanStd)}
