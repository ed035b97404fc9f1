"""The perceptual objective: one loss for image optimisation and for training networks.

A :class:`PerceptualLoss` holds the VGG feature extractor, the content and style layer
weights, the weights alpha, beta and TV and the targets, and maps a batch of images
(B x 3 x H x W, RGB in 0..1) to a :class:`Loss`: the differentiable total and its weighted
parts by name.  Its users:

* **image optimisation** (:mod:`painterly.engine`): one content image, fixed targets per
  coarse-to-fine scale, built by :func:`for_image`;
* **network training**: the content target is the batch of photos itself
  (``loss(stylized, content=photos)``: their features are computed under ``no_grad``), the
  style Grams are fixed once with :meth:`PerceptualLoss.set_style`.

Terms (``losses.py`` has the per-layer formulas)::

    total = alpha * sum_l c_l L_content,l + beta * L_style + tv_weight * L_tv
            + sum_k weight_k * extra_k(x)

Every term is the mean over the batch of the per-image loss: a batch of B identical images
gives the loss of one (see ``tests/test_objective.py``).

Normalisation, computed once from the fixed targets and never per batch:

* style layer l: w_l / (1/4 sum a_l^2), the energy of its target Gram (unless the layer
  weights are explicit), so every layer counts as a relative error;
* content layer l: c_l / mean(P_l^2), the mean square of the content target's features.
  With a fixed content image (:meth:`set_content`) that is the target's own energy.  When the
  content changes with every batch (training), it is fixed by :meth:`calibrate_content` on a
  batch of photos, or else by the first batch passed as ``content=``, and then kept.

Guided (mask) style: with soft region masks m_r (1 x R x H x W at the image size) the style
term is the guided Gram loss of :mod:`painterly.masks`, per region r with its own target
Gram and coefficient pi_r * c_r * w_lr (share of the image, relative blend weight,
normalised layer weight).

Extra terms (e.g. a temporal loss for video) are added with :meth:`add_term`: a name, a
weight and a function of the image batch that returns a scalar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from . import device as dev
from . import losses
from .images import fit_longest, resize_tensor
from .vgg import VGGFeatures, canonical

if TYPE_CHECKING:
    from .config import Options
    from .masks import Guides

# The style image is loaded at most this much larger than the output (times --style-scale)
# and resized per scale from there (STYLE_LOAD_MARGIN keeps resampling headroom).
STYLE_LOAD_FACTOR = 1.25
STYLE_LOAD_MARGIN = 16
MAX_STYLE_SIDE = 4096


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
    """What the style term pulls toward.

    Plain: ``grams[l]`` is the (blended) 1 x N x N Gram of layer l and ``coef[l]`` its
    normalised weight.  Guided (``regions`` given): ``grams[l]`` is R x N x N (one target per
    region) and ``coef[l]`` a tensor of R coefficients."""

    grams: dict[str, torch.Tensor]
    coef: dict[str, float | torch.Tensor]
    regions: torch.Tensor | None = None  # 1 x R x H x W soft masks at the image size
    _layer_masks: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def loss(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """sum_l coef_l E_l, the mean over the batch."""
        total = None
        for k, a in self.grams.items():
            f = feats[k]
            if self.regions is None:
                e = self.coef[k] * losses.style_layer_loss(losses.gram(f), a)
            else:
                if k not in self._layer_masks:
                    self._layer_masks[k] = losses.layer_mask(self.regions, f.shape[-2:])
                e = losses.guided_style_loss(losses.guided_gram(f, self._layer_masks[k]), a,
                                             self.coef[k])
            total = e if total is None else total + e
        return total


class PerceptualLoss:
    """Content, style, TV and extra terms of a batch of images (see the module docstring).

    ``content_layers`` and ``style_layers`` map canonical layer names to their weights (before
    normalisation).  ``precision`` is ``fp32`` or ``bf16`` (resolved, see
    :func:`painterly.device.resolve_precision`).  ``cache`` keeps target features between
    objectives (:class:`TargetCache`)."""

    def __init__(self, net: VGGFeatures, content_layers: dict[str, float],
                 style_layers: dict[str, float], *, content_weight: float = 1.0,
                 style_weight: float = 1.0, tv_weight: float = 0.0, precision: str = "fp32",
                 explicit_style_weights: bool = False, cache: TargetCache | None = None):
        self.net = net
        self.content_layers = dict(content_layers)
        self.style_layers = dict(style_layers)
        self.content_weight = content_weight
        self.style_weight = style_weight
        self.tv_weight = tv_weight
        self.precision = precision
        self.explicit_style_weights = explicit_style_weights
        self.cache = cache
        self.device = dev.module_device(net)
        self.layout = dev.layout_of(net)
        self.layers = set(self.content_layers) | set(self.style_layers)
        self.content_target: dict[str, torch.Tensor] | None = None
        self.content_coef: dict[str, float] | None = None
        self.style: StyleTarget | None = None
        self.extra: list[Term] = []

    @classmethod
    def from_options(cls, net: VGGFeatures, opts: Options,
                     cache: TargetCache | None = None) -> PerceptualLoss:
        """The objective with the layers, weights and precision of ``opts`` (no targets)."""
        content_w, style_w = layer_setup(opts, net.arch)
        return cls(net, content_w, style_w, content_weight=opts.content_weight,
                   style_weight=opts.style_weight, tv_weight=opts.tv_weight,
                   precision=dev.resolve_precision(opts.precision, dev.module_device(net)),
                   explicit_style_weights=bool(opts.style_layer_weights), cache=cache)

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
        grams = [self._style_grams(s, side, style_scale, m) for s, m in zip(styles, smasks)]
        if regions is None:
            blended: dict[str, torch.Tensor] = {}
            for g, w in zip(grams, b):
                for k in self.style_layers:
                    blended[k] = g[k] * w if k not in blended else blended[k] + g[k] * w
            self.style = StyleTarget(blended, style_norm(self.style_layers, blended,
                                                         self.explicit_style_weights))
            return
        regions = regions.to(self.device)
        share = regions.pow(2).mean((0, 2, 3))  # pi_r
        rel = [w * len(b) for w in b]  # blend weights relative to their mean
        stacked = {k: torch.cat([g[k] for g in grams], 0) for k in self.style_layers}
        coef: dict[str, float | torch.Tensor] = {}
        for k, w in self.style_layers.items():
            per = [w if self.explicit_style_weights else style_norm({k: w}, {k: g[k]}, False)[k]
                   for g in grams]
            coef[k] = torch.tensor([p * float(s) * c for p, s, c in zip(per, share, rel)],
                                   device=self.device)
        self.style = StyleTarget(stacked, coef, regions)

    def _style_grams(self, style: torch.Tensor, side: int | None, style_scale: float,
                     mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
        s_hw = style_size(tuple(style.shape[-2:]), side, style_scale)

        def compute() -> dict[str, torch.Tensor]:
            with torch.no_grad():
                sf = self.features(resize_tensor(style, s_hw).to(self.device),
                                   self.style_layers.keys())
            if mask is None:
                return {k: losses.gram(sf[k]) for k in self.style_layers}
            m = mask.to(self.device).float()
            return {k: losses.guided_gram(sf[k], losses.layer_mask(m, sf[k].shape[-2:]))[0]
                    for k in self.style_layers}

        if self.cache is None:
            return compute()
        key = ("style", id(self.net), TargetCache.digest(style), s_hw,
               tuple(sorted(self.style_layers)), self.precision, TargetCache.digest(mask))
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
        terms["style"] = self.style_weight * self.style.loss(feats)
        loss = loss + terms["style"]
        if self.tv_weight > 0:
            terms["tv"] = self.tv_weight * losses.tv_loss(x.float())
            loss = loss + terms["tv"]
        for t in self.extra:
            terms[t.name] = t.weight * t.fn(x)
            loss = loss + terms[t.name]
        return Loss(loss, terms)


# --- normalisation, from fixed targets ---------------------------------------------------

def style_norm(style_w: dict[str, float], targets: dict[str, torch.Tensor],
               explicit: bool) -> dict[str, float]:
    """Per-layer style weights.  Explicit weights are used as given (Gatys et al.); by default
    each layer is divided by the energy of its target, 1/4 sum a^2, so that every layer's
    term is a relative error and the layers count equally whatever their scale."""
    if explicit:
        return style_w
    return {k: w / max(1e-12, 0.25 * float(targets[k].pow(2).sum())) for k, w in style_w.items()}


def content_norm(content_w: dict[str, float],
                 targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Content layers are divided by the mean square of their target: a relative error."""
    return {k: w / max(1e-12, float(targets[k].float().pow(2).mean()))
            for k, w in content_w.items() if k in targets}


def layer_setup(opts: Options, arch: str) -> tuple[dict[str, float], dict[str, float]]:
    """(content layer weights, style layer weights) by canonical layer name."""
    from .errors import UsageError

    content = {canonical(n, arch): 1.0 for n in opts.content_layers}
    names = [canonical(n, arch) for n in opts.style_layers]
    if len(set(names)) != len(names):
        raise UsageError("--style-layers: a layer is named twice")
    ws = opts.style_layer_weights or [1.0 / len(names)] * len(names)
    return content, dict(zip(names, ws))


def style_size(style_hw: tuple[int, int], side: int | None,
               style_scale: float) -> tuple[int, int]:
    """The size a style image is used at for images of longest side ``side``."""
    if side is None:
        return style_hw
    longest = max(16, round(side * style_scale))
    w, h = fit_longest(style_hw[1], style_hw[0], longest)
    return h, w


def style_load_side(style_size_wh: tuple[int, int], size: int, style_scale: float) -> int:
    """The longest side a style image is loaded at for an output of longest side ``size``:
    a little more than the finest scale uses (:func:`style_size`), never upscaled, at most
    ``MAX_STYLE_SIDE``."""
    return min(max(style_size_wh), MAX_STYLE_SIDE,
               round(size * style_scale * STYLE_LOAD_FACTOR) + STYLE_LOAD_MARGIN)


# --- targets for image optimisation ------------------------------------------------------

def for_image(net: VGGFeatures, opts: Options, content: torch.Tensor,
              styles: Sequence[torch.Tensor], guides: Guides | None = None,
              cache: TargetCache | None = None
              ) -> Callable[[tuple[int, int]], PerceptualLoss]:
    """The objective of stylizing ``content`` at each scale: ``hw -> PerceptualLoss`` with
    the content resized to ``hw`` and the styles to match (targets computed once per scale,
    and kept between runs in ``cache``)."""
    blend = opts.style_blend_weights or None
    smasks = (guides.style_masks if guides is not None else None) or None

    def at(hw: tuple[int, int]) -> PerceptualLoss:
        obj = PerceptualLoss.from_options(net, opts, cache)
        obj.set_content(resize_tensor(content, hw).to(obj.device))
        regions = guides.region_masks(hw) if guides is not None and \
            guides.regions is not None else None
        obj.set_style(styles, blend, side=max(hw), style_scale=opts.style_scale,
                      style_masks=smasks, regions=regions)
        return obj

    return at


# --- targets kept between runs ----------------------------------------------------------

class TargetCache:
    """Content features and style Grams kept between runs of one :class:`~painterly.Stylizer`
    (sweeps, the web studio), keyed by the network, the exact pixels (a digest), the layers,
    the precision and the mask.  Least recently used entries go first once the entries
    exceed ``max_items`` or ``max_bytes``."""

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
