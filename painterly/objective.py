"""The perceptual objective: one loss for image optimisation and for training networks.

A :class:`PerceptualLoss` holds the VGG feature extractor, the content and style layer
weights, the weights alpha, beta and TV, the style statistic (:mod:`painterly.statistics`,
Gram matrices by default) and the targets, and maps a batch of images (B x 3 x H x W, RGB in
0..1) to a :class:`Loss`: the differentiable total and its weighted parts by name.  It is
built in one call from the options:

* **image optimisation** (:mod:`painterly.engine`): :func:`build` gives the objective of one
  content image at each coarse-to-fine scale, with fixed targets;
* **network training**: :func:`for_training` fixes the style targets once; the content
  target is the batch of photos itself (``loss(stylized, content=photos)``: their features
  are computed under ``no_grad``).

What the options make of the objective is decided here too: the layers and their weights
(:func:`layer_setup`, ``--structure``; :func:`network_layers` for the feature extractor) and
the size a style image is used at (:func:`style_size`; :func:`load_styles` loads them).

Terms (``losses.py`` and ``statistics.py`` have the per-layer formulas)::

    total = alpha * sum_l c_l L_content,l + beta * sum_l w_l E_l + tv_weight * L_tv
            + sum_k weight_k * extra_k(x)

with E_l the statistic's distance at style layer l.  Every term is the mean over the batch
of the per-image loss: a batch of B identical images gives the loss of one (see
``tests/test_objective.py``).

Normalisation, computed once from the fixed targets and never per batch:

* style layer l: w_l divided by the energy of its target (the statistic's ``norm``; for
  Gram matrices 1/4 sum a_l^2), unless the layer weights are explicit, so every layer
  counts as a relative error;
* content layer l: c_l / mean(P_l^2), the mean square of the content target's features.
  With a fixed content image (:meth:`set_content`) that is the target's own energy.  When the
  content changes with every batch (training), it is fixed by :meth:`calibrate_content` on a
  batch of photos, or else by the first batch passed as ``content=``, and then kept.

Guided (mask) style: with soft region masks m_r (1 x R x H x W at the image size) the style
term is the statistic's guided distance (:mod:`painterly.masks`), per region r with its own
target and coefficient pi_r * c_r * w_lr (share of the image, relative blend weight,
normalised layer weight).

Extra terms (e.g. a temporal loss for video) are added with :meth:`add_term`: a name, a
weight and a function of the image batch that returns a scalar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from . import device as dev
from . import losses
from .images import LoadedImage, fit_longest, image_tensor, resize_tensor
from .masks import layer_mask
from .statistics import Gram, Statistic
from .vgg import VGGFeatures, canonical
from .vgg import build as build_vgg

if TYPE_CHECKING:
    from .config import Options
    from .masks import Guides
    from .weights import VGGWeights

@dataclass
class Loss:
    """The value of the objective for one batch."""

    total: torch.Tensor  # scalar, float32, differentiable
    terms: dict[str, torch.Tensor]  # weighted parts by name: content, style, tv, extras

    def values(self) -> dict[str, float]:
        """Every part and the total as Python floats."""
        return {**{k: float(v.detach()) for k, v in self.terms.items()},
                "total": float(self.total.detach())}


@dataclass
class Term:
    """An extra weighted term: ``weight * fn(x)`` for the image batch x."""

    name: str
    weight: float
    fn: Callable[[torch.Tensor], torch.Tensor]


@dataclass
class StyleTarget:
    """What the style term pulls toward, in the terms of a statistic.

    Plain: ``targets[l]`` is the (blended) 1 x ... target of layer l and ``coef[l]`` its
    normalised weight.  Guided (``regions`` given): ``targets[l]`` is R x ... (one target per
    region) and ``coef[l]`` a tensor of R coefficients."""

    statistic: Statistic
    targets: dict[str, torch.Tensor]
    coef: dict[str, float | torch.Tensor]
    regions: torch.Tensor | None = None  # 1 x R x H x W soft masks at the image size
    _layer_masks: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def loss(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """sum_l coef_l E_l, the mean over the batch."""
        total = None
        for k, a in self.targets.items():
            f = feats[k]
            m = None
            if self.regions is not None:
                if k not in self._layer_masks:
                    self._layer_masks[k] = layer_mask(self.regions, f.shape[-2:])
                m = self._layer_masks[k]
            e = self.statistic.distance(f, a, self.coef[k], m)
            total = e if total is None else total + e
        return total


class PerceptualLoss:
    """Content, style, TV and extra terms of a batch of images (see the module docstring).

    ``content_layers`` and ``style_layers`` map canonical layer names to their weights (before
    normalisation).  ``precision`` is ``fp32`` or ``bf16`` (resolved, see
    :func:`painterly.device.resolve_precision`).  ``statistic``: what the style term matches
    (default :class:`~painterly.statistics.Gram`).  ``cache`` keeps target features between
    objectives (:class:`TargetCache`)."""

    def __init__(self, net: VGGFeatures, content_layers: dict[str, float],
                 style_layers: dict[str, float], *, content_weight: float = 1.0,
                 style_weight: float = 1.0, tv_weight: float = 0.0, precision: str = "fp32",
                 explicit_style_weights: bool = False, cache: TargetCache | None = None,
                 statistic: Statistic | None = None):
        self.net = net
        self.content_layers = dict(content_layers)
        self.style_layers = dict(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.precision = precision
        self.explicit_style_weights = explicit_style_weights
        self.cache = cache
        self.statistic = statistic or Gram()
        self.device = dev.module_device(net)
        self.layout = dev.layout_of(net)
        self.bf16_products = dev.fast_bf16_products(self.device)
        self.layers = set(self.content_layers) | set(self.style_layers)
        self.content_target: dict[str, torch.Tensor] | None = None
        self.content_coef: dict[str, float] | None = None
        self.style: StyleTarget | None = None
        self.extra: list[Term] = []

    @classmethod
    def from_options(cls, net: VGGFeatures, opts: Options, cache: TargetCache | None = None,
                     statistic: Statistic | None = None) -> PerceptualLoss:
        """The objective with the layers, weights and precision of ``opts`` (no targets)."""
        return cls(net, cache=cache, statistic=statistic, **_settings(net, opts))

    # --- targets ------------------------------------------------------------------------

    def features(self, x: torch.Tensor, layers: Sequence[str] | set[str] | None = None
                 ) -> dict[str, torch.Tensor]:
        """The network's features of ``x`` at ``layers`` (default: every layer in use)."""
        with dev.autocast(self.device, self.precision):
            return self.net(dev.to_layout(x, self.layout),
                            self.layers if layers is None else layers)

    def _content_features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        def compute() -> dict[str, torch.Tensor]:
            with torch.no_grad():
                cf = self.features(image.to(self.device), self.content_layers.keys())
            return {k: v.detach().clone() for k, v in cf.items() if k in self.content_layers}

        if self.cache is None:
            return compute()
        key = ("content", id(self.net), TargetCache.digest(image),
               tuple(sorted(self.content_layers)), self.precision)
        return self.cache.get(key, compute)

    def set_content(self, image: torch.Tensor) -> None:
        """A fixed content target: the features of ``image`` (1 x 3 x H x W), and the content
        normalisation from them.  No content term when alpha = 0."""
        if self.content_weight <= 0:
            self.content_target, self.content_coef = {}, {}
            return
        self.content_target = self._content_features(image)
        self.content_coef = content_norm(self.content_layers, self.content_target)

    def calibrate_content(self, images: torch.Tensor) -> None:
        """Fix the content normalisation from a batch of photos (training), once."""
        with torch.no_grad():
            feats = self.features(images.to(self.device), self.content_layers.keys())
        self.content_coef = content_norm(self.content_layers, feats)

    def set_style(self, styles: Sequence[torch.Tensor], blend: Sequence[float] | None = None,
                  *, side: int | None = None, style_scale: float = 1.0,
                  style_masks: Sequence[torch.Tensor | None] | None = None,
                  regions: torch.Tensor | None = None) -> None:
        """Fixed style targets from one or more style images (1 x 3 x h x w each).

        ``blend``: weights of the styles (normalised to sum 1; default equal).  ``side``: the
        longest side of the images the loss will see; each style is resized to ``side *
        style_scale`` (default: used as given).  ``style_masks``: per style, a 1 x 1 x h x w
        mask in 0..1 of the part that donates (or None).  ``regions``: 1 x R x H x W soft
        masks at the image size, one region per style (guided style loss)."""
        b = list(blend) if blend else [1.0] * len(styles)
        b = [w / sum(b) for w in b]
        smasks = list(style_masks) if style_masks else [None] * len(styles)
        per_style = [self._style_targets(s, side, style_scale, m)
                     for s, m in zip(styles, smasks)]
        stat = self.statistic
        if regions is None:
            blended = {k: stat.blend([t[k] for t in per_style], b) for k in self.style_layers}
            self.style = StyleTarget(stat, blended, {k: self._style_norm(k, blended[k])
                                                     for k in self.style_layers})
            return
        regions = regions.to(self.device)
        share = regions.pow(2).mean((0, 2, 3))  # pi_r
        rel = [w * len(b) for w in b]  # blend weights relative to their mean
        stacked = {k: torch.cat([t[k] for t in per_style], 0) for k in self.style_layers}
        coef: dict[str, float | torch.Tensor] = {}
        for k in self.style_layers:
            per = [self._style_norm(k, t[k]) for t in per_style]
            coef[k] = torch.tensor([p * float(s) * c for p, s, c in zip(per, share, rel)],
                                   device=self.device)
        self.style = StyleTarget(stat, stacked, coef, regions)

    def _for_statistic(self, f: torch.Tensor) -> torch.Tensor:
        """Features as the statistic takes them: bfloat16 maps stay bfloat16 where bfloat16
        products are fast (:func:`painterly.device.fast_bf16_products`), else float32."""
        return f if self.bf16_products or f.dtype != torch.bfloat16 else f.float()

    def _style_norm(self, layer: str, target: torch.Tensor) -> float:
        """The normalised weight of a style layer: explicit weights are used as given (Gatys
        et al.); by default divided by the energy of the target (the statistic's ``norm``),
        so that every layer's term is a relative error whatever its scale."""
        w = self.style_layers[layer]
        return w if self.explicit_style_weights else self.statistic.norm(w, target)

    def _style_targets(self, style: torch.Tensor, side: int | None, style_scale: float,
                       mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        s_hw = style_size(tuple(style.shape[-2:]), side, style_scale)

        def compute() -> dict[str, torch.Tensor]:
            with torch.no_grad():
                sf = self.features(resize_tensor(style, s_hw).to(self.device),
                                   self.style_layers.keys())
            m = None if mask is None else mask.to(self.device).float()
            return {k: self.statistic.target(
                self._for_statistic(sf[k]), None if m is None else layer_mask(m, sf[k].shape[-2:]))
                for k in self.style_layers}

        if self.cache is None:
            return compute()
        key = ("style", self.statistic.name, id(self.net), TargetCache.digest(style), s_hw,
               tuple(sorted(self.style_layers)), self.precision,
               self.bf16_products, TargetCache.digest(mask))
        return self.cache.get(key, compute)

    def add_term(self, name: str, weight: float,
                 fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """An extra term ``weight * fn(x)`` reported under ``name``."""
        if name in ("content", "style", "tv", "total") or any(t.name == name for t in self.extra):
            raise ValueError(f"a loss term named {name!r} exists already")
        self.extra.append(Term(name, weight, fn))

    # --- the loss -------------------------------------------------------------------------

    def __call__(self, x: torch.Tensor, content: torch.Tensor | None = None) -> Loss:
        """The loss of the batch ``x`` (B x 3 x H x W in 0..1).  ``content``: a batch of
        photos (B x 3 x H x W) whose features are this call's content targets (training);
        without it, the fixed target of :meth:`set_content`."""
        if self.style is None:
            raise RuntimeError("PerceptualLoss: set_style() first")
        feats = self.features(x)
        target, coef = self.content_target, self.content_coef
        if content is not None and self.content_weight > 0:
            with torch.no_grad():
                cf = self.features(content, self.content_layers.keys())
            target = {k: v.detach() for k, v in cf.items() if k in self.content_layers}
            if self.content_coef is None:
                self.content_coef = content_norm(self.content_layers, target)
            coef = self.content_coef
        terms: dict[str, torch.Tensor] = {}
        loss = x.new_zeros((), dtype=torch.float32)
        if target:
            terms["content"] = self.content_weight * losses.content_loss(feats, target, coef)
            loss = loss + terms["content"]
        terms["style"] = self.style_weight * self.style.loss(
            {k: self._for_statistic(feats[k]) for k in self.style.targets})
        loss = loss + terms["style"]
        if self.tv_weight > 0:
            terms["tv"] = self.tv_weight * losses.tv_loss(x.float())
            loss = loss + terms["tv"]
        for t in self.extra:
            terms[t.name] = t.weight * t.fn(x)
            loss = loss + terms[t.name]
        return Loss(loss, terms)


# --- the objective from the options, in one call ----------------------------------------

def build(net: VGGFeatures, opts: Options, content: torch.Tensor,
          styles: Sequence[torch.Tensor], guides: Guides | None = None,
          cache: TargetCache | None = None, statistic: Statistic | None = None
          ) -> Callable[[tuple[int, int]], PerceptualLoss]:
    """The objective of stylizing ``content`` at each scale: ``hw -> PerceptualLoss`` with
    the content resized to ``hw`` and the styles to match (targets computed once per scale,
    and kept between runs in ``cache``).  ``guides``: spatial control
    (:mod:`painterly.masks`)."""
    kw = _settings(net, opts)
    blend = opts.style_blend_weights or None
    smasks = (guides.style_masks if guides is not None else None) or None

    def at(hw: tuple[int, int]) -> PerceptualLoss:
        obj = PerceptualLoss(net, cache=cache, statistic=statistic, **kw)
        obj.set_content(resize_tensor(content, hw).to(obj.device))
        regions = guides.region_masks(hw) if guides is not None and \
            guides.regions is not None else None
        obj.set_style(styles, blend, side=max(hw), style_scale=opts.style_scale,
                      style_masks=smasks, regions=regions)
        return obj

    return at


def for_training(net: VGGFeatures, opts: Options, style: torch.Tensor, side: int,
                 photos: torch.Tensor, statistic: Statistic | None = None) -> PerceptualLoss:
    """The objective of training a network on photos of longest side ``side``: the style
    targets fixed once, the content normalisation calibrated on ``photos`` (a batch); the
    content target is each batch's own photos (``loss(y, content=x)``)."""
    obj = PerceptualLoss.from_options(net, opts, statistic=statistic)
    obj.set_style([style], side=side, style_scale=opts.style_scale)
    obj.calibrate_content(photos.to(obj.device))
    return obj


def _settings(net: VGGFeatures, opts: Options) -> dict[str, Any]:
    """The keyword arguments of :class:`PerceptualLoss` that ``opts`` give for ``net``."""
    content_w, style_w = layer_setup(opts, net.arch)
    return dict(content_layers=content_w, style_layers=style_w,
                content_weight=opts.content_weight, style_weight=opts.style_weight,
                tv_weight=opts.tv_weight,
                precision=dev.resolve_precision(opts.precision, dev.module_device(net)),
                explicit_style_weights=bool(opts.style_layer_weights))


def content_norm(content_w: dict[str, float],
                 targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Content layers are divided by the mean square of their target: a relative error."""
    return {k: w / max(1e-12, float(targets[k].float().pow(2).mean()))
            for k, w in content_w.items() if k in targets}


# --- which layers, and how large the style images --------------------------------------------

STRUCTURE_LAYER = "relu5_1"  # features that span objects: faces, figures, a painting's shapes


def network_layers(opts: Options, arch: str) -> list[str]:
    """The layers the feature extractor must give for the objective of ``opts``."""
    content, style = layer_setup(opts, arch)
    return sorted(set(content) | set(style))


def feature_net(weights: VGGWeights, opts: Options, device: torch.device,
                nets: dict[tuple, VGGFeatures]) -> VGGFeatures:
    """The feature extractor the objective of ``opts`` needs, on ``device`` in its fastest
    memory layout, built once and kept in ``nets`` (keyed by its layers and pooling)."""
    layers = network_layers(opts, weights.arch)
    key = (tuple(layers), opts.pooling)
    if key not in nets:
        nets[key] = build_vgg(weights, layers, opts.pooling).to(
            device, memory_format=dev.memory_format(device))
    return nets[key]


def layer_setup(opts: Options, arch: str) -> tuple[dict[str, float], dict[str, float]]:
    """(content layer weights, style layer weights) by canonical layer name, with
    ``--structure`` applied (:func:`structure_layers`)."""
    from .errors import UsageError

    content = {canonical(n, arch): 1.0 for n in opts.content_layers}
    names = [canonical(n, arch) for n in opts.style_layers]
    if len(set(names)) != len(names):
        raise UsageError("--style-layers: a layer is named twice")
    ws = opts.style_layer_weights or [1.0 / len(names)] * len(names)
    return structure_layers(content, dict(zip(names, ws)), opts.structure,
                            opts.content_weight > 0)


def structure_layers(content_w: dict[str, float], style_w: dict[str, float], structure: float,
                     with_content: bool = True) -> tuple[dict[str, float], dict[str, float]]:
    """``--structure`` s in 0..1: how much of the painting's composition is carried over.

    The Gram matrix of relu5_1 (receptive field 156 px) describes structures the size of a
    painting's objects: matched in the style loss, it paints the painting's eyes, faces and
    figures into the photo (measured as the leak fraction, ``benchmarks/score.py``).  The
    brushwork lives in relu1_1..relu4_1.  So, unless a layer list names relu5_1 itself:

    * style: relu5_1 joins the style layers with weight s times their mean weight;
    * content: relu5_1 joins the content layers with weight 1 - s (relu4_2 has 1), which
      keeps the photo's objects where they are against whatever the style pulls in.

    s = 0 (the default) is brushwork only; s = 1 is the classic Gatys et al. objective with
    relu5_1 as a full style layer and relu4_2 alone for the content."""
    content_w, style_w = dict(content_w), dict(style_w)
    if structure > 0 and STRUCTURE_LAYER not in style_w and style_w:
        style_w[STRUCTURE_LAYER] = structure * sum(style_w.values()) / len(style_w)
    if structure < 1 and with_content and STRUCTURE_LAYER not in content_w and content_w:
        content_w[STRUCTURE_LAYER] = 1.0 - structure
    return content_w, style_w


# The style image is loaded at most this much larger than the output (times --style-scale)
# and resized per scale from there (STYLE_LOAD_MARGIN keeps resampling headroom).
STYLE_LOAD_FACTOR = 1.25
STYLE_LOAD_MARGIN = 16
MAX_STYLE_SIDE = 4096


def style_size(style_hw: tuple[int, int], side: int | None,
               style_scale: float) -> tuple[int, int]:
    """The size a style image is used at for images of longest side ``side``: ``side *
    style_scale``, at most ``MAX_STYLE_SIDE`` (at 2048 px and --style-scale 8 a painting of
    16k px took tens of GB)."""
    if side is None:
        return style_hw
    longest = max(16, min(MAX_STYLE_SIDE, round(side * style_scale)))
    w, h = fit_longest(style_hw[1], style_hw[0], longest)
    return h, w


def style_load_side(style_size_wh: tuple[int, int], size: int, style_scale: float) -> int:
    """The longest side a style image is loaded at for an output of longest side ``size``:
    a little more than the finest scale uses (:func:`style_size`), never upscaled, at most
    ``MAX_STYLE_SIDE``."""
    return min(max(style_size_wh), MAX_STYLE_SIDE,
               round(size * style_scale * STYLE_LOAD_FACTOR) + STYLE_LOAD_MARGIN)


def load_styles(images: Sequence[LoadedImage], size: int, style_scale: float
                ) -> list[torch.Tensor]:
    """Style images as tensors at the side :func:`style_load_side` gives for outputs of
    longest side ``size``."""
    return [image_tensor(im, style_load_side(im.size, size, style_scale)) for im in images]


# --- targets kept between runs ----------------------------------------------------------

class TargetCache:
    """Content features and style targets kept between runs of one
    :class:`~painterly.Stylizer` (sweeps, the web studio), keyed by the statistic (style
    targets), the network, the exact pixels (a digest), the layers, the precision and the
    mask.  Least recently used entries go first once the entries exceed ``max_items`` or
    ``max_bytes``."""

    def __init__(self, max_items: int = 48, max_bytes: int = 256 * 2 ** 20):
        self.max_items = max_items
        self.max_bytes = max_bytes
        self._items: dict[tuple, dict[str, torch.Tensor]] = {}

    @staticmethod
    def digest(x: torch.Tensor | None) -> str:
        if x is None:
            return "-"
        a = x.detach().float().cpu().contiguous()
        h = hashlib.blake2b(a.numpy().tobytes(), digest_size=16).hexdigest()
        return f"{tuple(a.shape)}:{h}"

    @staticmethod
    def _size(value: dict[str, torch.Tensor]) -> int:
        return sum(t.numel() * t.element_size() for t in value.values())

    def get(self, key: tuple, compute: Callable[[], dict[str, torch.Tensor]]
            ) -> dict[str, torch.Tensor]:
        if key in self._items:
            self._items[key] = self._items.pop(key)  # most recent last
            return self._items[key]
        value = compute()
        self._items[key] = value
        total = sum(self._size(v) for v in self._items.values())
        while len(self._items) > 1 and (len(self._items) > self.max_items
                                        or total > self.max_bytes):
            total -= self._size(self._items.pop(next(iter(self._items))))
        return value
