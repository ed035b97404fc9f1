"""Spatial control (Gatys et al. 2017, section 4): which style goes where.

Label image (``--mask LABELS.png``)
    Any size; it is stretched to the output.  Its distinct colours, sorted ascending as
    (R, G, B) triples (for grey masks: by brightness), are the regions.  With as many
    colours as style images, the k-th colour takes the k-th style.  With one colour more,
    the first (usually black; for a grey mask the darkest) means *content only*: no style
    there.  Colours
    covering under 0.5 % of the pixels (anti-aliased edges, JPEG noise) join the nearest
    larger colour.

Soft regions
    Each region r gives a one-hot mask that is area-resized to each scale and blurred
    with a Gaussian (sigma = 1 % of the longest side), so that neighbouring regions overlap
    a little and meet without seams.  At each style layer the mask is area-averaged to the
    layer's size, m_r.

Guided style loss
    With the guided statistic of the image's features inside region r (for Gram matrices
    g^r = (F*m_r)(F*m_r)^T / (N sum m_r^2)) and the statistic a^r of region r's style, the
    style loss is::

        L_style = sum_r pi_r c_r sum_l w_lr * E(g^r, a^r)     (Gram: 1/4 sum_ij (g - a)^2)

    where pi_r = mean(m_r^2) is the region's share of the image (so that every pixel
    is pulled about as hard as in an unmasked run), c_r the style's blend weight (relative
    to the mean, default 1) and w_lr the layer weight divided by the energy of a^r (the
    statistic's ``norm``, :mod:`painterly.statistics`).  This module makes the masks;
    :class:`painterly.objective.PerceptualLoss` computes the loss.

Style masks (``--style-masks A.png B.png``)
    One grey image per style (``-`` for none): only where it is bright does the style
    image donate, through the guided statistic of the style's own features.  They work with
    or without ``--mask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UsageError
from .images import (
    ImageLike,
    LoadedImage,
    image_list,
    load_image,
    rgb_to_yiq,
    separable_conv,
    to_tensor,
)

MIN_SHARE = 0.005  # colours below this share of the pixels are merged into their neighbours
BLUR = 0.01  # Gaussian sigma of the region masks, as a fraction of the longest side
MAX_STYLE_MASK_SIDE = 1024


def label_regions(img: LoadedImage, n_styles: int, out_hw: tuple[int, int],
                  flag: str = "--mask") -> torch.Tensor:
    """1 x S x H x W soft region masks (area-resized one-hot) from a label image."""
    if img.alpha is not None and float(img.alpha.min()) < 0.5:  # it was laid over white
        raise UsageError(f"{flag} {img.name}: has transparent parts, which a label image "
                         f"does not use; paint each region in its own flat colour")
    codes = np.rint(img.rgb * 255).astype(np.int64)
    codes = (codes[..., 0] << 16) | (codes[..., 1] << 8) | codes[..., 2]
    values, inverse, counts = np.unique(codes.ravel(), return_inverse=True, return_counts=True)
    major = np.flatnonzero(counts >= MIN_SHARE * codes.size)
    if len(major) == 0:  # a photo or a gradient: it became one label, silently
        raise UsageError(f"{flag} {img.name}: none of its {len(values)} colours covers "
                         f"{MIN_SHARE:.1%} of it; a label image has a few flat colours, one "
                         f"per style (plus black for content only)")
    k = len(major)
    if k > n_styles + 1:
        raise UsageError(f"{flag} {img.name}: {k} labels (distinct colours) for {n_styles} "
                         f"style image(s); use one colour per style, plus black for "
                         f"content only")
    if k < n_styles:
        raise UsageError(f"{flag} {img.name}: {k} label(s) for {n_styles} style images; "
                         f"give each style its own colour")
    rgb = np.stack([(values >> 16) & 255, (values >> 8) & 255, values & 255], 1)
    dist = ((rgb[:, None, :] - rgb[None, major, :]) ** 2).sum(-1)
    region_of_value = np.argmin(dist, 1)  # index into major, for every distinct value
    region = region_of_value[inverse].reshape(codes.shape)
    first = 1 if k == n_styles + 1 else 0  # region 0 is content only
    chans = [torch.from_numpy((region == first + s).astype(np.float32))[None, None]
             for s in range(n_styles)]
    return torch.cat([F.interpolate(c, size=out_hw, mode="area") for c in chans], 1)


def style_mask(img: LoadedImage) -> torch.Tensor:
    """1 x 1 x h x w soft mask in 0..1 from a (grey) image: its luminance."""
    x = to_tensor(img.rgb)
    longest = max(x.shape[-2:])
    if longest > MAX_STYLE_MASK_SIDE:
        s = MAX_STYLE_MASK_SIDE / longest
        x = F.interpolate(x, size=(max(1, round(x.shape[-2] * s)), max(1, round(x.shape[-1] * s))),
                          mode="area")
    m = rgb_to_yiq(x)[:, :1].clamp(0, 1)
    if float(m.max()) <= 0.01:
        raise UsageError(f"--style-masks {img.name}: the mask is black everywhere")
    return m


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of a 1 x C x H x W tensor with reflected borders."""
    if sigma < 0.3:
        return x
    r = max(1, min(int(3 * sigma + 0.5), min(x.shape[-2:]) - 1))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return separable_conv(x, k / k.sum(), "reflect")


def layer_mask(mask: torch.Tensor, hw: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A soft mask (B x R x H x W in 0..1) brought to a layer's size by area averaging: the
    fraction of each feature's receptive cell that lies in the region."""
    if tuple(mask.shape[-2:]) == tuple(hw):
        return mask
    return F.interpolate(mask, size=tuple(hw), mode="area")


@dataclass
class Guides:
    """Region masks at the output size (or None) and per-style donor masks (or None)."""

    regions: torch.Tensor | None
    style_masks: list[torch.Tensor | None] = field(default_factory=list)
    blur: float = BLUR

    def region_masks(self, hw: tuple[int, int]) -> torch.Tensor:
        """The soft masks at one scale: area-resized, then blurred."""
        m = F.interpolate(self.regions, size=hw, mode="area") \
            if tuple(self.regions.shape[-2:]) != tuple(hw) else self.regions
        return gaussian_blur(m, self.blur * max(hw)).clamp(0, 1)


def load_guides(mask: ImageLike | LoadedImage | None, style_masks: list | None, n_styles: int,
                out_hw: tuple[int, int]) -> Guides | None:
    """Guides from a label image and/or per-style masks (paths, PIL images or arrays; a style
    mask of ``-``, '' or None means the whole style image).  None when neither is given."""
    style_masks = image_list(style_masks)  # one mask for one style, not its letters or rows
    if mask is None or (isinstance(mask, str) and not mask):
        regions = None
    else:
        img = mask if isinstance(mask, LoadedImage) else load_image(mask, profile=False)
        regions = label_regions(img, n_styles, out_hw)
    if style_masks and len(style_masks) != n_styles:
        raise UsageError(f"--style-masks: {len(style_masks)} mask(s) for {n_styles} style "
                         f"image(s); give one per style ('-' for none)")
    sm: list[torch.Tensor | None] = []
    for m in style_masks:
        if m is None or (isinstance(m, str) and m in ("", "-")):
            sm.append(None)
        else:
            sm.append(style_mask(m if isinstance(m, LoadedImage) else load_image(m)))
    if regions is None and not any(x is not None for x in sm):
        return None
    return Guides(regions, sm if any(x is not None for x in sm) else [])
