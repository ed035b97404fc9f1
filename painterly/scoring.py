"""The fixed measures of a stylized picture: how near its texture is to the painting's, how
near its content is to the photo's, how much of the painting's objects leak into it, and
how strongly a network's grid shows.  One copy of the maths: ``benchmarks/score.py`` (the
scorer of every measurement in the docs) and a style network's quality figure
(:mod:`painterly.network.quality`) both use it.

For an output O, its photo C and the style image S, all resized to O's size (the style to
O's longest side, keeping its aspect: :func:`read`) and seen through a float32 VGG-19
(:func:`scorer_net`, :func:`features`; TF32 off on GPUs, so a GPU scores like the CPU up
to rounding):

* style distance   = sum over relu1_1..relu5_1 of ||G(O) - G(S)||^2 / ||G(S)||^2, G the
  Gram matrix normalised by N*M (independent of the image size);
* texture distance = the same sum over relu1_1..relu4_1 only: the brushwork, without the
  deepest layer, whose Gram matrix also describes the painting's objects;
* content distance = ||F(O) - F(C)||^2 / ||F(C)||^2 at relu4_2;
* leak fraction    = the share of O's relu5_1 positions that some position of S explains
  better (cosine) than C's feature at the same position does, by a margin of 0.1
  (:func:`leak_fraction`);
* grid strength    = the mean absolute step between neighbouring grey pixels, taken for
  each of the P phases of the column (row) boundaries; the largest phase over the median
  phase, the largest over columns and rows and over the periods P = 4, 8 and 16
  (:func:`grid_strength`).  1 = no phase stands out; photos of buildings reach about 1.1 on
  their own; a network that downsamples by 2^k can leave a pattern at that stride.  A
  period longer than the boundaries of a side is not measured there (NaN, without a
  warning, where no period is).

Every distance is computed in float64.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
import torch
from PIL import Image

from .images import ImageLike, LoadedImage, fit_longest, load_image, resize_tensor, to_tensor
from .vgg import VGGFeatures, VGGWeights, build

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
TEXTURE_LAYERS = STYLE_LAYERS[:4]
CONTENT_LAYER = "relu4_2"
LEAK_LAYER = "relu5_1"
LEAK_MARGIN = 0.1
GRID_PERIODS = (4, 8, 16)


def read(src: ImageLike | LoadedImage, hw: tuple[int, int] | None = None,
         longest: int = 0) -> torch.Tensor:
    """An image as 1 x 3 x H x W in 0..1, resized to hw (exact) or to a longest side."""
    img = src if isinstance(src, LoadedImage) else load_image(src)
    x = to_tensor(img.rgb)
    if hw is None:
        w, h = fit_longest(*img.size, longest or max(img.size))
        hw = (h, w)
    return resize_tensor(x, hw)


def style_like(style: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """A style image (1 x 3 x H x W) resized to the longest side of an output of size hw,
    keeping its aspect (as :func:`read` does with ``longest``)."""
    w, h = fit_longest(style.shape[-1], style.shape[-2], max(hw))
    return resize_tensor(style, (h, w))


def gram(f: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of a 1 x N x H x W feature map, normalised by N*H*W (float64)."""
    _, n, h, w = f.shape
    x = f.reshape(n, h * w).double()
    return x @ x.T / (n * h * w)


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b||^2 / ||b||^2 in float64."""
    return float((a.double() - b.double()).pow(2).sum() / b.double().pow(2).sum())


def gram_distances(fo: dict[str, torch.Tensor], fs: dict[str, torch.Tensor]
                   ) -> dict[str, float]:
    """Relative Gram distance of O to S at every style layer."""
    return {k: relative(gram(fo[k]), gram(fs[k])) for k in STYLE_LAYERS}


def style_distance(fo: dict[str, torch.Tensor], fs: dict[str, torch.Tensor]) -> float:
    return sum(gram_distances(fo, fs).values())


def texture_distance(fo: dict[str, torch.Tensor], fs: dict[str, torch.Tensor]) -> float:
    d = gram_distances(fo, fs)
    return sum(d[k] for k in TEXTURE_LAYERS)


def content_distance(fo: dict[str, torch.Tensor], fc: dict[str, torch.Tensor]) -> float:
    return relative(fo[CONTENT_LAYER], fc[CONTENT_LAYER])


def leak_fraction(o: torch.Tensor, c: torch.Tensor, s: torch.Tensor,
                  margin: float = LEAK_MARGIN) -> float:
    """Share of O's positions nearer (cosine) to some position of S than to C's feature at
    the same position, by more than ``margin``.  o, c: 1 x N x H x W (same size); s:
    1 x N x H' x W'.  O = C gives 0; O a copy of the painting gives nearly 1 (cosines of an
    all-zero vector count as 0)."""
    if o.shape != c.shape:
        raise ValueError(f"output and content maps differ in shape: {tuple(o.shape)} vs "
                         f"{tuple(c.shape)}")
    n = o.shape[1]

    def unit(f: torch.Tensor) -> torch.Tensor:  # positions x channels, unit rows (0 stays 0)
        x = f.reshape(n, -1).T.double()
        norm = x.norm(dim=1, keepdim=True)
        return x / torch.where(norm > 0, norm, 1.0)

    uo, uc, us = unit(o), unit(c), unit(s)
    to_content = (uo * uc).sum(1)
    to_style = (uo @ us.T).max(1).values
    return float((to_style > to_content + margin).double().mean())


def measures(fo: dict[str, torch.Tensor], fc: dict[str, torch.Tensor],
             fs: dict[str, torch.Tensor]) -> dict[str, float]:
    """Style, texture and content distances, the leak fraction, and the Gram distance at
    each style layer (``gram_relu1_1`` ...), from the features of O, C and S."""
    grams = gram_distances(fo, fs)
    res = {"style": sum(grams.values()),
           "texture": sum(grams[k] for k in TEXTURE_LAYERS),
           "content": content_distance(fo, fc),
           "leak": leak_fraction(fo[LEAK_LAYER], fc[LEAK_LAYER], fs[LEAK_LAYER])}
    res.update({f"gram_{k}": v for k, v in grams.items()})
    return res


def grid_strength(image: str | os.PathLike | Image.Image | np.ndarray,
                  periods: tuple[int, ...] = GRID_PERIODS) -> float:
    """How much the boundaries of one phase of a grid of any of ``periods`` pixels stand out
    (see the module's text).  ``image``: a file, a PIL image, or a grey array in 0..1.
    NaN (and no warning) when the image is too small for any period: fewer boundaries than
    a period in both directions."""
    if isinstance(image, np.ndarray):
        y = image.astype(np.float64)
    elif isinstance(image, Image.Image):
        y = np.asarray(image.convert("L"), dtype=np.float64) / 255
    else:
        with Image.open(image) as im:
            y = np.asarray(im.convert("L"), dtype=np.float64) / 255
    out = []
    for a in (y, y.T):
        if min(a.shape) < 1:
            continue
        d = np.abs(np.diff(a, axis=1)).mean(0)  # mean step at each column boundary
        for period in periods:
            if len(d) < period:  # a phase without a boundary: not measured
                continue
            phases = np.array([d[p::period].mean() for p in range(period)])
            mid, top = float(np.median(phases)), float(phases.max())
            if mid > 0 or top == 0:  # flat: no phase stands out
                out.append(top / mid if mid > 0 else 1.0)
    return float(max(out)) if out else float("nan")


@contextlib.contextmanager
def no_tf32(dev: torch.device):
    """cuDNN convolutions in true float32 (GPUs use TF32 for them by default), restored
    afterwards."""
    if dev.type != "cuda":
        yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = torch.backends.cudnn.allow_tf32
        torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.cudnn.allow_tf32 = old


def scorer_net(weights: VGGWeights, device: str | torch.device = "cpu") -> VGGFeatures:
    """The VGG of the measures: float32, up to relu5_1, on ``device``, every convolution
    direct (no Winograd: the figures stay those of earlier runs, as TF32 stays off)."""
    layers = sorted({*STYLE_LAYERS, CONTENT_LAYER, LEAK_LAYER})
    return build(weights, layers, winograd_convs=False).float().to(torch.device(device))


@torch.no_grad()
def features(net: VGGFeatures, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The features the measures use (style layers and relu4_2), in float64."""
    dev = net.mean.device
    with no_tf32(dev):
        f = net(x.float().to(dev), [*STYLE_LAYERS, CONTENT_LAYER])
    return {k: v.double() for k, v in f.items()}
