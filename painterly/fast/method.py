"""``--method fast``: the fast model through the "ways of stylizing" seam.

:class:`FastMethod` is built once (the model loaded, by default the one shipped in
``painterly/data/fast.safetensors``) and kept: a style's statistics are computed once per
style picture, size and donor mask, and cached.  The controls that carry over:

* several styles: their statistics are blended (``--style-blend-weights``, the mixture's
  mean and covariance);
* ``--style-scale``: the style picture is seen at ``size * style_scale`` (larger: larger
  brush strokes);
* ``--preserve-color luminance`` (as the optimiser does: the painting's light, matched to
  the photo's mean and spread, painted on the photo's light in grey, then the photo's
  colours put back) and ``histogram`` (the style recoloured to the photo's colours first);
* strength (``opts.strength`` where the options have it): the features' statistics are moved
  that share of the way from the photo's to the painting's, and what the decoder loses of
  the photo is added back in the photo's share (strength 0 is the photo);
* ``--mask`` regions (each region takes its style's statistics, measured over the region;
  a content-only region keeps the photo) and ``--style-masks`` (the style's
  statistics over the bright part of its mask only).

Then ``--refine`` steps of optimisation at 256 px give the picture the painting's larger
strokes (:mod:`.refine`; 0: the model's picture alone), and the picture is given the
painting's histograms at three scales (:mod:`.bands`): not with ``--mask`` regions, nor
where the refining steps painted the whole picture at its own size (up to 256 px), whose
texture they would take away from the painting's (measured at 256 px: +14%).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from PIL import Image

from .. import color, engine
from .. import device as dev
from ..config import KEYWORDS, Options, make_options, validate
from ..engine import check_callback, gradients
from ..errors import Interrupted, UsageError
from ..images import (
    ImageLike,
    LoadedImage,
    check_content,
    check_style,
    image_list,
    image_tensor,
    load_image,
    resize_tensor,
    to_pil,
)
from ..objective import MAX_STYLE_SIDE
from ..weights import SharedWeights
from .bands import Bands, Frame, apply_bands, band_stats, blend_bands
from .model import MARGIN, FastNet, _mask_at
from .modelfile import SHIPPED, FastModelError, FastModelFile, load_fast
from .refine import Refiner
from .stats import Stats, blend, feature_stats, transfer

KIND = "fast"
NEEDS_STYLES = True  # its models paint with a painting given at run time (not by apply)
MODEL_FLAG = "--fast-model"  # how stylize is given one of its model files (Runtime)
# Flow blend of clips, by measurement (docs/fast.md, Clips): against 0.5 it cut the flicker
# 12-17 points further on a pan, a zoom and a moving object, for about 3% of texture at
# 256 px and 5-9% at 854x480 (over frame by frame)
CLIP_BLEND = 0.7
MAX_CACHE = 32  # styles kept


def _cached(cache: dict, key: tuple, make: Callable[[], Any]) -> Any:
    """``cache[key]``, made by ``make()`` when missing; past :data:`MAX_CACHE` entries the
    oldest is dropped."""
    if key not in cache:
        cache[key] = make()
        while len(cache) > MAX_CACHE:
            cache.pop(next(iter(cache)))
    return cache[key]


class Painting(NamedTuple):
    """What a photo is painted with: the style pictures at its scale, their statistics
    and (without regions) their band histograms."""

    styles: list[torch.Tensor]
    stats: list[list[Stats]]
    bands: Bands | None


def _digest(x: torch.Tensor) -> str:
    return hashlib.blake2b(x.detach().float().cpu().contiguous().numpy().tobytes(),
                           digest_size=16).hexdigest()


class FastMethod:
    """The fast model as a method (``kind = "fast"``).  ``weights``: the VGG-19 of the
    refining steps, a file or weights shared with another method (default: the cached
    original, as for ``stylize``), loaded when first needed."""

    kind = KIND

    def __init__(self, model: str | os.PathLike | FastModelFile | None = None,
                 device: str = "auto", precision: str = "auto",
                 weights: SharedWeights | str | None = None, temporal: bool = True):
        if model is None and not SHIPPED.exists():
            raise FastModelError(f"{SHIPPED}: the fast model is not installed; train one "
                                 f"with 'painterly train-fast' and pass it")
        if model is not None and not isinstance(model, (str, os.PathLike, FastModelFile)):
            raise UsageError(f"model={type(model).__name__}: give a fast model file's path "
                             f"(str or os.PathLike), or None for the shipped one")
        mf = model if isinstance(model, FastModelFile) else load_fast(model or SHIPPED)
        self.model = mf
        self.device = dev.pick_device(device)
        self.precision = dev.resolve_precision(precision, self.device)
        self.net: FastNet = mf.network().to(self.device,
                                            memory_format=dev.memory_format(self.device))
        self._cache: dict[tuple, list[Stats]] = {}
        self._bands: dict[tuple, Bands] = {}
        self.refiner = Refiner(weights or None, self.device)
        self.temporal = temporal  # clips: blended along the flow (False: frame by frame)

    # --- statistics ------------------------------------------------------------------
    def precision_for(self, opts) -> str:
        """The arithmetic of a call: ``opts.precision`` where it names one, else the
        method's own (bfloat16 where fast, unless built otherwise)."""
        asked = getattr(opts, "precision", "auto")
        return self.precision if asked == "auto" else dev.resolve_precision(asked, self.device)

    def style_stats(self, style: torch.Tensor, mask: torch.Tensor | None = None,
                    precision: str | None = None, digest: str | None = None) -> list[Stats]:
        """A style picture's statistics at every level and, last, of its pixels' colours
        (1 x 3 x H x W in 0..1; an optional donor mask 1 x 1 x H x W at its size), cached
        by its pixels (``digest``: their digest, when the caller has it), mask and
        precision (default: the method's)."""
        precision = precision or self.precision
        key = (digest or _digest(style), None if mask is None else _digest(mask), precision)

        def make() -> list[Stats]:
            x = style.to(self.device).contiguous(memory_format=dev.memory_format(self.device))
            with torch.no_grad(), dev.autocast(self.device, precision):
                feats = self.net.encode(x)
            m = None if mask is None else mask.to(self.device)
            levels = [feature_stats(f.float(), None if m is None else _mask_at(m, f))
                      for f in feats]
            return [*levels, feature_stats(x.float(), m)]  # and the colours

        return _cached(self._cache, key, make)

    # --- painting ---------------------------------------------------------------------
    def paint(self, x: torch.Tensor, styles: Sequence[Sequence[Stats]],
              regions: torch.Tensor | None = None,
              strength: float | Sequence[float] = 1.0,
              precision: str | None = None) -> torch.Tensor:
        """x (1 x 3 x H x W) painted with one set of statistics (``styles`` of one item), or
        per region: ``regions`` 1 x R x H x W soft masks with R == len(styles) or one more
        (the first: the photo's own features); where the masks add up to less than one (a
        ``--mask`` colour that keeps the photo), the photo's own features fill the rest.
        ``strength``: between photo (0) and painting (1); per style with regions.
        The decoded picture is then given the style's colour mean and covariance (the last
        statistics; measured: it brought the texture distance of an early model from
        2.2-2.5 to 0.9-1.1)."""
        h, w = x.shape[-2:]
        x = x.to(self.device).contiguous(memory_format=dev.memory_format(self.device))
        stat = self.net.arch.statistic
        if regions is not None and isinstance(strength, (int, float)):
            strength = [float(strength)] * len(styles)
        with torch.no_grad(), dev.autocast(self.device, precision or self.precision):
            feats = self.net.encode(x)
            if regions is None:
                out = [transfer(f, s, stat, strength) for f, s in zip(feats, styles[0])]
            else:
                out = [self._regional(f, k, styles, regions.to(self.device), strength)
                       for k, f in enumerate(feats)]
            y = self.net.decoder(out)[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w].float()
            kept = _photo_share(regions, len(styles), strength)
            if float(kept.max()) > 0:  # what the decoder loses of the photo, added back
                again = self.net.decoder(feats)[..., MARGIN:MARGIN + h, MARGIN:MARGIN + w]
                y = y + kept.to(y.device) * (x.float() - again.float())
        if regions is None:
            y = transfer(y, styles[0][-1], "wct", strength)
        else:
            y = self._regional(y, -1, styles, regions.to(self.device), strength)
        return y.clamp(0, 1).cpu()

    def _regional(self, f: torch.Tensor, level: int, styles: Sequence[Sequence[Stats]],
                  regions: torch.Tensor, strength: Sequence[float]) -> torch.Tensor:
        stat = self.net.arch.statistic if level >= 0 else "wct"
        skip = regions.shape[1] - len(styles)
        out = torch.zeros_like(f, dtype=torch.float32)
        total = torch.zeros_like(out[:, :1])
        for r in range(regions.shape[1]):
            m = _mask_at(regions[:, r:r + 1], f).float() if level >= 0 else \
                regions[:, r:r + 1].float()
            part = f.float() if r < skip else transfer(
                f, styles[r - skip][level], stat, strength[r - skip], mask=m).float()
            out += m * part
            total += m
        rest = (1 - total).clamp_min(0)  # where no region's mask reaches: the photo's own
        out += rest * f.float()
        total += rest
        return (out / total.clamp_min(1e-6)).to(f.dtype)

    # --- the seam ----------------------------------------------------------------------
    @gradients()  # the refining steps, whatever the caller's mode; the tensors made inside
    def picture(self, content: LoadedImage, styles: Sequence[LoadedImage], opts,
                callback: Callable | None = None, *,
                mask: ImageLike | LoadedImage | None = None,
                style_masks: Sequence[ImageLike | LoadedImage | None] | None = None,
                init: LoadedImage | None = None) -> Image.Image:
        """One stylized picture (RGBA when the content had alpha); the callback is told the
        refining steps' progress, and ``init`` does not apply."""
        from ..masks import load_guides

        styles = image_list(styles)  # one style given alone, not a sequence of them
        _need_styles(styles)
        if not isinstance(opts, Options):  # None: the defaults; a dict: its fields
            opts = make_options(opts, spelling=KEYWORDS)
        validate(opts, len(styles), spelling=KEYWORDS)
        check_callback(callback)
        c_img = check_content(content if isinstance(content, LoadedImage)
                              else load_image(content), opts.size)
        s_imgs = [check_style(s if isinstance(s, LoadedImage) else load_image(s))
                  for s in styles]
        c = image_tensor(c_img, opts.size)
        guides = load_guides(mask, style_masks, len(s_imgs), tuple(c.shape[-2:]))
        try:
            out = self.paint_tensor(c, s_imgs, opts, guides, callback)
        except Interrupted as e:  # stopped while refining: the picture so far
            e.image = to_pil(e.image, c_img.alpha)
            raise
        return to_pil(out, c_img.alpha)

    def band_stats(self, style: torch.Tensor, frame: Frame, digest: str | None = None
                   ) -> Bands:
        """A style picture's band histograms in a colour frame, cached by its pixels (or
        their ``digest``) and the frame."""
        return _cached(self._bands, (digest or _digest(style), frame.key()),
                       lambda: band_stats(style, frame))

    def styles_for(self, c: torch.Tensor, s_imgs: Sequence[LoadedImage], opts,
                   guides=None) -> Painting:
        """The style pictures at the scale of the content ``c`` (given its colours or light
        with ``--preserve-color``: :func:`painterly.color.match_styles`), their
        statistics and their band histograms (none with regions, nor where the refining
        steps paint the whole picture): what :meth:`paint_tensor` paints ``c`` with."""
        side = max(16, min(MAX_STYLE_SIDE, round(max(c.shape[-2:]) * opts.style_scale)))
        donors = guides.style_masks if guides is not None and guides.style_masks else \
            [None] * len(s_imgs)
        regions = guides is not None and guides.regions is not None
        s = color.match_styles(opts.preserve_color, c,
                               [image_tensor(im, side) for im in s_imgs], donors,
                               guides.regions if regions else None)
        precision = self.precision_for(opts)
        digests = [_digest(st) for st in s]  # each style's pixels hashed once
        stats = [self.style_stats(st, None if dm is None else resize_tensor(
            dm.float(), tuple(st.shape[-2:])), precision, d)
                 for st, dm, d in zip(s, donors, digests)]
        bands = None  # not where the refining steps paint the whole picture (.bands)
        if not regions and not self.refiner.whole(opts, tuple(c.shape[-2:])):
            weights = opts.style_blend_weights or None
            frame = Frame.of(blend([st[-1] for st in stats], weights))
            bands = blend_bands([self.band_stats(st, frame, d) for st, d in zip(s, digests)],
                                weights)
        return Painting(s, stats, bands)

    def paint_tensor(self, c: torch.Tensor, s_imgs: Sequence[LoadedImage], opts,
                     guides=None, callback: Callable | None = None,
                     styles: Painting | None = None) -> torch.Tensor:
        """The content tensor (1 x 3 x H x W) painted per the options (see the module);
        ``styles``: :meth:`styles_for` of it, when the caller keeps them."""
        s, stats, bands = styles or self.styles_for(c, s_imgs, opts, guides)
        precision = self.precision_for(opts)
        photo = c  # with luminance kept, its light is painted and its colours put back
        if opts.preserve_color == "luminance":
            c = color.grey(color.luminance(c))
        strength = float(getattr(opts, "strength", 1.0))
        regions = guides.region_masks(tuple(c.shape[-2:])) \
            if guides is not None and guides.regions is not None else None
        weights = opts.style_blend_weights or None
        if regions is None:
            mixed = [blend([st[k] for st in stats], weights) for k in range(len(stats[0]))]
            out = self.paint(c, [mixed], None, strength, precision)
        else:  # the weights scale each region's strength, the largest painting fully
            top = max(weights) if weights else 1.0
            out = self.paint(c, stats, regions, [strength * wt / top for wt in
                                                 weights or [1.0] * len(stats)], precision)
        def finish(x: torch.Tensor) -> torch.Tensor:
            if opts.preserve_color == "luminance":
                return color.recombine(color.luminance(x), photo)
            return x

        try:
            out = self.refiner(out, c, s, opts, guides, strength,
                               engine.finishing(callback, finish))
        except Interrupted as e:  # stopped while refining: the picture so far, finished
            e.image = finish(e.image)
            raise
        if bands is not None:
            out = apply_bands(out, bands, strength)
        return finish(out)

    def frames(self, styles: Sequence[LoadedImage], opts) -> Callable[[torch.Tensor],
                                                                       torch.Tensor]:
        """A per-frame function for one clip (1 x 3 x H x W in 0..1 -> the same): the
        frames painted with the styles' statistics, then blended along the optical flow
        with the previous output (:func:`painterly.temporal.temporal_blend`)."""
        _need_styles(styles)
        from ..temporal import temporal_blend

        s_imgs = [s if isinstance(s, LoadedImage) else load_image(s) for s in styles]
        kept: dict[tuple, tuple] = {}  # the styles at a frame size: resized and looked up
        # once a clip, not every frame (at 854x480: 24 ms to resize starry night, 10 ms to
        # find its statistics again), but for the histogram, which follows each frame

        def one(frame: torch.Tensor) -> torch.Tensor:
            size = tuple(frame.shape[-2:])
            if opts.preserve_color in ("histogram", "luminance"):  # matched to each frame
                return self.paint_tensor(frame, s_imgs, opts)
            if size not in kept:
                kept.clear()
                kept[size] = self.styles_for(frame, s_imgs, opts)
            return self.paint_tensor(frame, s_imgs, opts, styles=kept[size])

        return temporal_blend(one, CLIP_BLEND if self.temporal else 0.0)


# Options of optimisation that the fast method does not use: its refining steps are
# --refine at 256 px, always L-BFGS at its own rate, from the model's picture
_NOT_USED = ("steps", "scales", "min_scale_size", "optimizer", "lr", "seed", "model",
             "frame_steps", "temporal_weight")  # the last two: an optimised clip's
_NOT_REFINED = ("content_weight", "style_weight", "tv_weight", "content_layers",
                "style_layers", "style_layer_weights", "pooling", "structure")


def ignored(opts) -> tuple[str, ...]:
    """The fields of ``opts`` that this method does not use (the command line names those
    given): the optimiser's, a start image other than ``fast``, and with ``refine`` 0 the
    objective's too."""
    out = _NOT_USED + (() if opts.init in ("palette", KIND) else ("init",))
    return out + (_NOT_REFINED if opts.refine <= 0 else ())


def _photo_share(regions: torch.Tensor | None, n_styles: int,
                 strength: float | Sequence[float]) -> torch.Tensor:
    """How much of each pixel is the photo's own (1 x 1 x H x W, or a 1 x 1 x 1 x 1
    constant): ``1 - strength`` of the painted part (per style with regions), and all of a
    ``--mask`` region that keeps the photo or that no mask reaches.  The decoder gives the
    photo back a little blurred and tinted, so strength 0 was not the photo (10 levels off
    per channel); the difference is added back in this share."""
    if regions is None:
        return torch.full((1, 1, 1, 1), 1.0 - float(strength))
    r = regions.float()
    total = r.sum(1, keepdim=True)
    rest = (1 - total).clamp_min(0)
    skip = r.shape[1] - n_styles
    own = r[:, :skip].sum(1, keepdim=True) + rest
    per = [strength] * n_styles if isinstance(strength, (int, float)) else strength
    keep = torch.tensor([1 - float(s) for s in per]).view(1, -1, 1, 1)
    painted = (r[:, skip:] * keep).sum(1, keepdim=True)
    return (own + painted) / (total + rest).clamp_min(1e-6)


def _need_styles(styles: Sequence) -> None:
    if not styles:
        raise UsageError("the any-painting model paints with a painting: give one or more "
                         "style pictures")


def shipped_info() -> dict:
    """The shipped model's metadata (FastModelError if it is missing or damaged)."""
    return load_fast(SHIPPED).meta


def make(runtime, model: str | os.PathLike | None = None,
         vgg: SharedWeights | None = None, clip: Any = None) -> FastMethod:
    """The method ``--method fast`` chooses: the shipped model (or ``model``, or the
    runtime's ``--fast-model``), on the
    runtime's device, refining with the runtime's VGG weights (``vgg``: weights shared
    with another method; ``clip``: a clip's options, of which ``temporal`` False paints
    its frames one by one, ``--no-temporal``)."""
    return FastMethod(model or runtime.fast_model or None,
                      device=runtime.device, weights=vgg or runtime.weights,
                      temporal=getattr(clip, "temporal", True))


def load(path: str | os.PathLike, runtime, vgg: SharedWeights | None = None) -> FastMethod:
    """The method of a fast model file."""
    return FastMethod(path, device=runtime.device, weights=vgg or runtime.weights)
