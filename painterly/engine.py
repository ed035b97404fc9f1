"""The optimisation loop: coarse-to-fine scales, init, optimizers, callbacks.

``run`` takes tensors (RGB in 0..1, 1 x 3 x H x W) and a network and returns the output
tensor.  Everything about files, weights and devices is in ``api.py``.

Coarse-to-fine (Gatys et al. 2017): the image is optimised at a small size first, upsampled
and refined at twice the side until the output size.  Coarse steps are cheap (a quarter of
the pixels per halving), and they settle the large structures that fine steps alone would
take hundreds of iterations to find.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from . import losses
from .config import Options
from .errors import Interrupted, UsageError
from .images import fit_longest, resize_tensor
from .optim import LBFGS
from .vgg import VGGFeatures, canonical

if TYPE_CHECKING:
    from .masks import Guides


@dataclass
class Scale:
    height: int
    width: int
    steps: int


@dataclass
class Progress:
    """What a callback receives after every optimiser step."""

    step: int  # 1-based, counted over all scales
    total: int  # total steps over all scales
    scale: int  # 0-based index of the current scale
    n_scales: int
    height: int
    width: int
    losses: dict[str, float]  # content, style, tv, total (weighted)
    elapsed: float  # seconds since the start
    eta: float  # seconds left, estimated
    scale_start: bool = False  # first step of a new scale
    _image: Callable[[], torch.Tensor] | None = field(default=None, repr=False)

    def image_tensor(self) -> torch.Tensor:
        """The current image, 1 x 3 x H x W in 0..1 on the CPU (a copy)."""
        return self._image().detach().float().clamp(0, 1).cpu()

    def image(self):
        """The current image as a PIL image."""
        from .images import to_pil

        return to_pil(self.image_tensor())


Callback = Callable[[Progress], None]


# Coarse-to-fine schedule, chosen by measurement (benchmarks/RESULTS.md).  L-BFGS steps at
# the output size by its longest side; each coarser scale (half the side, a quarter of the
# cost per step) gets COARSE_FACTOR times as many, at most COARSE_CAP, so that the coarse
# scales settle the layout cheaply and the output size only sharpens the brush strokes.
LBFGS_STEPS = ((256, 40), (384, 30), (768, 20), (1536, 12), (8192, 8))
ADAM_FACTOR = 3  # Adam needs about three times as many steps as L-BFGS for the same loss
COARSE_FACTOR = 3
COARSE_CAP = 120


def default_steps(opts: Options, longest: int = 512) -> int:
    """Optimizer steps at the final (output-size) scale."""
    if opts.steps:
        return opts.steps
    steps = next((n for side, n in LBFGS_STEPS if longest <= side), LBFGS_STEPS[-1][1])
    return steps if opts.optimizer == "lbfgs" else steps * ADAM_FACTOR


def n_scales(opts: Options, longest: int) -> int:
    """Explicit --scales, or as many halvings as keep the coarsest side >= min_scale_size."""
    if opts.scales:
        return opts.scales
    n = 1
    while longest / 2 ** n >= opts.min_scale_size:
        n += 1
    return n


def plan(opts: Options, out_hw: tuple[int, int]) -> list[Scale]:
    """The scales (coarse to fine) and the steps at each.

    The output is optimised at ``n`` scales whose sides double up to the output size.  The
    finest gets ``default_steps`` (``--steps``); scale ``k`` halvings below it gets
    ``COARSE_FACTOR ** k`` times as many, capped at ``max(COARSE_CAP, steps)``.
    """
    h, w = out_hw
    longest = max(h, w)
    n = n_scales(opts, longest)
    final = default_steps(opts, longest)
    cap = max(COARSE_CAP * (1 if opts.optimizer == "lbfgs" else ADAM_FACTOR), final)
    out = []
    for k in range(n - 1, -1, -1):
        side = max(16, round(longest / 2 ** k))
        sw, sh = fit_longest(w, h, side)
        out.append(Scale(sh, sw, min(cap, final * COARSE_FACTOR ** k)))
    return out


def autocast_for(device: torch.device, precision: str):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# Channels-last activations: the layout cuDNN's tensor-core kernels prefer; on the CPU
# (oneDNN) it measured 4% faster side by side, within the noise (benchmarks/RESULTS.md).
CHANNELS_LAST = {"cuda": True, "cpu": True}


def prepare_network(net: VGGFeatures, device: torch.device) -> VGGFeatures:
    """Put the network's weights in the fastest memory layout for the device (in place)."""
    if CHANNELS_LAST.get(device.type, False):
        net.to(memory_format=torch.channels_last)
    return net


def to_layout(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """The image in the network's memory layout (the gradient flows back to ``x``)."""
    if CHANNELS_LAST.get(device.type, False):
        return x.contiguous(memory_format=torch.channels_last)
    return x


@functools.cache
def _cpu_has_fast_bf16() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu":
        return "bf16" if _cpu_has_fast_bf16() else "fp32"
    return "fp32"


def layer_setup(opts: Options, arch: str) -> tuple[dict[str, float], dict[str, float]]:
    """(content layer weights, style layer weights) by canonical layer name."""
    content = {canonical(n, arch): 1.0 for n in opts.content_layers}
    names = [canonical(n, arch) for n in opts.style_layers]
    if len(set(names)) != len(names):
        raise UsageError("--style-layers: a layer is named twice")
    ws = opts.style_layer_weights or [1.0 / len(names)] * len(names)
    return content, dict(zip(names, ws))


def _style_size(style: torch.Tensor, scale_hw: tuple[int, int],
                style_scale: float) -> tuple[int, int]:
    side = max(16, round(max(scale_hw) * style_scale))
    w, h = fit_longest(style.shape[-1], style.shape[-2], side)
    return h, w


def run(content: torch.Tensor, styles: list[torch.Tensor], opts: Options, net: VGGFeatures,
        callback: Callback | None = None, init: torch.Tensor | None = None,
        guides: Guides | None = None, cache: TargetCache | None = None,
        extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Stylize ``content`` (at the output size) with ``styles``; returns 1 x 3 x H x W in 0..1.

    ``init`` overrides ``opts.init`` with an image tensor (any size).  A callback may raise
    :class:`Interrupted` to stop early; Ctrl-C does the same.  Either way the current image
    is attached to the raised :class:`Interrupted`.  ``guides`` (spatial control, see
    :mod:`painterly.masks`) replace the plain style targets by mask-guided ones; ``cache``
    keeps content features and style Grams between runs (see :class:`TargetCache`).
    ``extra_loss(x)`` (x: the image at the current scale, 1 x 3 x h x w) returns a weighted
    scalar added to the objective at every step and reported as ``losses["extra"]``; video
    uses it for the temporal loss (:func:`painterly.temporal.temporal_loss`).
    """
    device = next(net.parameters()).device
    precision = resolve_precision(opts.precision, device)
    net = prepare_network(net, device)
    content_w, style_w = layer_setup(opts, net.arch)
    blend = opts.style_blend_weights or [1.0] * len(styles)
    if len(blend) != len(styles):
        raise UsageError(f"--style-blend-weights: {len(blend)} weights for {len(styles)} styles")
    if sum(blend) <= 0:
        raise UsageError("--style-blend-weights: the weights must not all be zero")
    blend = [b / sum(blend) for b in blend]
    layers = set(content_w) | set(style_w)
    scales = plan(opts, tuple(content.shape[-2:]))
    total = sum(s.steps for s in scales)
    gen = torch.Generator().manual_seed(opts.seed)
    torch.manual_seed(opts.seed)

    x = None
    step = 0
    t0 = time.perf_counter()
    try:
        for si, sc in enumerate(scales):
            hw = (sc.height, sc.width)
            c = resize_tensor(content, hw).to(device)
            if guides is None:
                targets = compute_targets(net, c, styles, blend, hw, opts, content_w, style_w,
                                          precision, cache)
            else:
                targets = guides.targets(net, c, styles, blend, hw, opts, content_w, style_w,
                                         precision, cache)
            if x is None:
                x = _initial(opts, init, c, styles, hw, gen).to(device)
            else:
                x = resize_tensor(x.detach(), hw)
            x = x.detach().contiguous().requires_grad_(True)
            opt = _optimizer(opts, x, sc.steps)
            closure, last = make_closure(net, x, opt, targets, opts, layers, device, precision,
                                         extra_loss)

            ts = time.perf_counter()
            for k in range(sc.steps):
                if opts.optimizer == "lbfgs":
                    opt.step(closure)
                else:
                    closure()
                    opt.step()
                    with torch.no_grad():
                        x.clamp_(0, 1)
                step += 1
                now = time.perf_counter()
                per_px = (now - ts) / (k + 1) / (sc.height * sc.width)
                rest = sum(s.steps * s.height * s.width for s in scales[si + 1:])
                eta = per_px * ((sc.steps - k - 1) * sc.height * sc.width + rest)
                if callback is not None:
                    vals = {kk: float(v) for kk, v in last.items()}
                    if not all(math.isfinite(v) for v in vals.values()):
                        raise UsageError("the loss is not finite; lower the learning rate "
                                         "or the style weight")
                    callback(Progress(step, total, si, len(scales), sc.height, sc.width, vals,
                                      now - t0, eta, k == 0, x.detach))
    except (KeyboardInterrupt, Interrupted):
        img = x.detach().clamp(0, 1) if x is not None else content
        raise Interrupted(resize_tensor(img.float().cpu(), tuple(content.shape[-2:]))) from None
    return x.detach().float().clamp(0, 1).cpu()


@dataclass
class Targets:
    """What the image is pulled toward at one scale, with per-layer weights."""

    content: dict[str, torch.Tensor]
    content_weights: dict[str, float]
    style: dict[str, torch.Tensor]
    style_weights: dict[str, float]
    # optional replacement of the style loss, feats -> weighted sum over layers (masks.py)
    style_fn: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None


def compute_targets(net: VGGFeatures, content: torch.Tensor, styles: list[torch.Tensor],
                    blend: list[float], hw: tuple[int, int], opts: Options,
                    content_w: dict[str, float], style_w: dict[str, float],
                    precision: str, cache: TargetCache | None = None,
                    style_masks: list[torch.Tensor | None] | None = None) -> Targets:
    """Content features and blended style Gram matrices at one scale (computed once).

    ``style_masks`` (one per style, or None) limit which part of each style donates."""
    content_t = content_features(net, content, opts, content_w, precision, cache)
    style_t: dict[str, torch.Tensor] = {}
    for s, b, m in zip(styles, blend, style_masks or [None] * len(styles)):
        grams = style_grams(net, s, hw, opts, style_w, precision, mask=m, cache=cache)
        for k in style_w:
            g = grams[k] * b
            style_t[k] = g if k not in style_t else style_t[k] + g
    sw = _style_norm(style_w, style_t, bool(opts.style_layer_weights))
    cw = _content_norm(content_w, content_t)
    return Targets(content_t, cw, style_t, sw)


# --- targets shared by plain and mask-guided runs, cached between runs ----------------------

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


def content_features(net: VGGFeatures, content: torch.Tensor, opts: Options,
                     content_w: dict[str, float], precision: str,
                     cache: TargetCache | None = None) -> dict[str, torch.Tensor]:
    """The content image's features at the content layers (none when alpha = 0)."""
    if opts.content_weight <= 0:
        return {}

    def compute() -> dict[str, torch.Tensor]:
        with torch.no_grad(), autocast_for(content.device, precision):
            cf = net(content, content_w.keys())
        return {k: v.detach().clone() for k, v in cf.items() if k in content_w}

    if cache is None:
        return compute()
    key = ("content", id(net), TargetCache.digest(content), tuple(sorted(content_w)), precision)
    return cache.get(key, compute)


def style_grams(net: VGGFeatures, style: torch.Tensor, hw: tuple[int, int], opts: Options,
                style_w: dict[str, float], precision: str, mask: torch.Tensor | None = None,
                cache: TargetCache | None = None) -> dict[str, torch.Tensor]:
    """Normalised Gram matrices of one style image, resized for a scale of size ``hw``.

    With ``mask`` (1 x 1 x h x w in 0..1, any size) only the masked part of the style
    donates: the guided Gram of :func:`painterly.losses.guided_gram`."""
    device = next(net.parameters()).device
    s_hw = _style_size(style, hw, opts.style_scale)

    def compute() -> dict[str, torch.Tensor]:
        with torch.no_grad(), autocast_for(device, precision):
            sf = net(resize_tensor(style, s_hw).to(device), style_w.keys())
        if mask is None:
            return {k: losses.gram(sf[k]) for k in style_w}
        m = mask.to(device).float()
        return {k: losses.guided_gram(sf[k], losses.layer_mask(m, sf[k].shape[-2:]))
                for k in style_w}

    if cache is None:
        return compute()
    key = ("style", id(net), TargetCache.digest(style), s_hw, tuple(sorted(style_w)), precision,
           TargetCache.digest(mask))
    return cache.get(key, compute)


def make_closure(net: VGGFeatures, x: torch.Tensor, opt: LBFGS | torch.optim.Optimizer,
                 t: Targets, opts: Options, layers: set[str], device: torch.device,
                 precision: str, extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None):
    """The objective as an optimizer closure, and a dict holding its last weighted parts."""
    last: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        with autocast_for(device, precision):
            feats = net(to_layout(x, device), layers)
        parts = {}
        loss = x.new_zeros((), dtype=torch.float32)
        if t.content:
            parts["content"] = opts.content_weight * losses.content_loss(
                feats, t.content, t.content_weights)
            loss = loss + parts["content"]
        parts["style"] = opts.style_weight * (
            t.style_fn(feats) if t.style_fn is not None
            else losses.style_loss(feats, t.style, t.style_weights))
        loss = loss + parts["style"]
        if opts.tv_weight > 0:
            parts["tv"] = opts.tv_weight * losses.tv_loss(x.float())
            loss = loss + parts["tv"]
        if extra_loss is not None:
            parts["extra"] = extra_loss(x)
            loss = loss + parts["extra"]
        parts["total"] = loss
        loss.backward()
        last.clear()
        last.update({k: v.detach() for k, v in parts.items()})
        return loss

    return closure, last


def _style_norm(style_w: dict[str, float], targets: dict[str, torch.Tensor],
                explicit: bool) -> dict[str, float]:
    """Per-layer style weights.  Explicit weights are used as given (Gatys et al.); by default
    each layer is divided by the energy of its target, 1/4 sum a^2, so that every layer's
    term is a relative error and the layers count equally whatever their scale."""
    if explicit:
        return style_w
    return {k: w / max(1e-12, 0.25 * float(targets[k].pow(2).sum())) for k, w in style_w.items()}


def _content_norm(content_w: dict[str, float],
                  targets: dict[str, torch.Tensor]) -> dict[str, float]:
    """Content layers are divided by the mean square of their target: a relative error."""
    return {k: w / max(1e-12, float(targets[k].float().pow(2).mean()))
            for k, w in content_w.items() if k in targets}


def _initial(opts: Options, init: torch.Tensor | None, content: torch.Tensor,
             styles: list[torch.Tensor], hw: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    if init is not None:
        return resize_tensor(init.float(), hw)
    if opts.init == "content":
        return content.detach().clone()
    if opts.init == "noise":
        return torch.rand((1, 3, *hw), generator=gen)
    if opts.init == "style":
        return resize_tensor(styles[0], hw)
    raise UsageError(f"--init: '{opts.init}' was not loaded as an image")


LBFGS_HISTORY = 50
LBFGS_HISTORY_BYTES = 2 << 30  # cap on the memory of the L-BFGS curvature pairs


def lbfgs_history(numel: int, steps: int) -> int:
    """History size of L-BFGS: 50 pairs, fewer for huge images (each pair is 8 bytes/px/ch),
    and never more than the steps that will fill it."""
    fit = LBFGS_HISTORY_BYTES // (8 * numel)
    return int(max(5, min(LBFGS_HISTORY, fit, steps)))


def _optimizer(opts: Options, x: torch.Tensor, steps: int = LBFGS_HISTORY):
    if opts.optimizer == "lbfgs":
        return LBFGS(x, lr=opts.lr or 1.0, history=lbfgs_history(x.numel(), steps))
    return torch.optim.Adam([x], lr=opts.lr or 0.02)
