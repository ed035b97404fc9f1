"""The optimisation loop: coarse-to-fine scales, init, optimizers, callbacks.

``optimise`` knows scales, the start image, optimizer steps and callbacks; the loss is an
objective per scale (:mod:`painterly.objective`).  ``run`` takes tensors (RGB in 0..1,
1 x 3 x H x W) and a network, puts the two together and returns the output tensor.
Everything about files, weights and devices is in ``api.py``.

Coarse-to-fine (Gatys et al. 2017): the image is optimised at a small size first, upsampled
and refined at twice the side until the output size.  Coarse steps are cheap (a quarter of
the pixels per halving), and they settle the large structures that fine steps alone would
take hundreds of iterations to find.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from . import objective
from .color import match_colors
from .config import Options
from .device import module_device, ordinary
from .errors import Interrupted, UsageError
from .images import fit_longest, resize_tensor
from .objective import Loss, TargetCache
from .optim import LBFGS, Best
from .vgg import VGGFeatures

if TYPE_CHECKING:
    from .masks import Guides

Objective = Callable[[torch.Tensor], Loss]  # e.g. a PerceptualLoss with its targets set


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


def finishing(callback: Callback | None,
              finish: Callable[[torch.Tensor], torch.Tensor] | None) -> Callback | None:
    """The callback, with progress images shown as the picture will be finished (in the
    photo's colours with ``--preserve-color luminance``, which paints in grey)."""
    if callback is None or finish is None:
        return callback

    def wrapped(p: Progress) -> None:
        raw = p._image
        callback(replace(p, _image=lambda: finish(raw().detach().float().cpu())))

    return wrapped


@contextlib.contextmanager
def gradients() -> Iterator[None]:
    """Gradients recorded inside, whatever the caller's mode (``torch.no_grad()``,
    ``torch.inference_mode()``): the entries that optimise run in it (also as a decorator),
    and make their tensors inside."""
    with torch.inference_mode(False), torch.enable_grad():
        yield


def check_callback(callback: object, name: str = "callback") -> None:
    """UsageError unless ``callback`` is None or callable: said before any work, not after
    the first step."""
    if callback is not None and not callable(callback):
        shown = repr(callback) if len(repr(callback)) <= 40 else type(callback).__name__
        raise UsageError(f"{name}={shown} is not callable; give a function that takes a "
                         f"painterly.Progress, or None")


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


MIN_SCALE_SIDE = 16  # the coarsest scale's longest side, at least


def halvings(longest: int, smallest: int) -> int:
    """How many scales, each half the next, keep the coarsest side >= ``smallest`` (1 at
    least: the output size itself)."""
    n = 1
    while longest / 2 ** n >= smallest:
        n += 1
    return n


def n_scales(opts: Options, longest: int) -> int:
    """Explicit --scales, or as many halvings as keep the coarsest side >= min_scale_size;
    never more than there are distinct sides (a scale below MIN_SCALE_SIDE is painted at
    MIN_SCALE_SIDE, so more were the same 16 px scale repeated, each with its own steps:
    --scales 8 at 64 px optimised six scales of 16 px; 3 at 48 px are 16, 24 and 48)."""
    n = opts.scales or halvings(longest, opts.min_scale_size)
    return min(n, len({max(MIN_SCALE_SIDE, round(longest / 2 ** k)) for k in range(n)}))


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
        side = max(MIN_SCALE_SIDE, round(longest / 2 ** k))
        sw, sh = fit_longest(w, h, side)
        out.append(Scale(sh, sw, min(cap, final * COARSE_FACTOR ** k)))
    return out


@gradients()
def run(content: torch.Tensor, styles: list[torch.Tensor], opts: Options, net: VGGFeatures,
        callback: Callback | None = None, init: torch.Tensor | None = None,
        guides: Guides | None = None, cache: TargetCache | None = None,
        extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Stylize ``content`` (at the output size) with ``styles``; returns 1 x 3 x H x W in 0..1.

    ``init`` overrides ``opts.init`` with an image tensor (any size).  A callback may raise
    :class:`Interrupted` to stop early; Ctrl-C does the same.  Either way the current image
    is attached to the raised :class:`Interrupted`.  ``guides`` (spatial control, see
    :mod:`painterly.masks`) make the style loss mask-guided; ``cache`` keeps content features
    and style targets between runs (see :class:`~painterly.objective.TargetCache`).
    ``extra_loss(x)`` (x: the image at the current scale, 1 x 3 x h x w) returns a weighted
    scalar added to the objective at every scale as its term ``extra``; video uses it for
    the temporal loss (:func:`painterly.temporal.temporal_loss`).  It optimises whatever the
    caller's gradient mode (:func:`gradients`).
    """
    check_callback(callback)
    content, styles = ordinary(content), [ordinary(s) for s in styles]
    init = None if init is None else ordinary(init)
    if any(p.is_inference() for p in net.parameters()):
        raise UsageError("the feature network was made under torch.inference_mode(), so it "
                         "cannot be optimised through: make it outside (or under no_grad)")
    out_hw = tuple(content.shape[-2:])
    at = objective.build(net, opts, content, styles, guides, cache)
    gen = torch.Generator().manual_seed(opts.seed)

    def objective_at(hw: tuple[int, int]) -> objective.PerceptualLoss:
        obj = at(hw)
        if extra_loss is not None:
            obj.add_term("extra", 1.0, extra_loss)
        return obj

    def start(hw: tuple[int, int]) -> torch.Tensor:
        regions = guides.region_masks(hw) if guides is not None and \
            guides.regions is not None else None
        return initial_image(opts.init, init, content, styles, hw, gen,
                             opts.style_blend_weights or None, regions)

    return optimise(objective_at, plan(opts, out_hw), start, opts.optimizer, opts.lr,
                    callback, out_hw, module_device(net))


@gradients()
def optimise(objective_at: Callable[[tuple[int, int]], Objective], scales: list[Scale],
             start: Callable[[tuple[int, int]], torch.Tensor], optimizer: str = "lbfgs",
             lr: float = 0.0, callback: Callback | None = None,
             out_hw: tuple[int, int] | None = None,
             device: torch.device | None = None) -> torch.Tensor:
    """Optimise the pixels of an image, coarse to fine.

    At every scale ``objective_at(hw)`` gives the loss (a callable of a 1 x 3 x H x W image
    returning a :class:`~painterly.objective.Loss`); the first scale starts from
    ``start(hw)``, every later one from the previous result, upsampled.  Returns the image
    at the last scale, 1 x 3 x H x W in 0..1 on the CPU; on :class:`Interrupted` or Ctrl-C
    the current image (at ``out_hw``) is attached to the raised :class:`Interrupted`."""
    total = sum(s.steps for s in scales)
    out_hw = out_hw or (scales[-1].height, scales[-1].width)
    x = None
    best: Best | None = None
    step = 0
    t0 = time.perf_counter()
    try:
        for si, sc in enumerate(scales):
            hw = (sc.height, sc.width)
            obj = objective_at(hw)
            if x is None:
                x = start(hw).to(device)
            else:
                x = resize_tensor(x.detach(), hw)
            x = x.detach().contiguous().requires_grad_(True)
            opt = make_optimizer(optimizer, lr, x, sc.steps)
            best = Best()
            closure, last = make_closure(obj, x, opt, best)

            ts = time.perf_counter()
            for k in range(sc.steps):
                # the last evaluation only checks the final point; a scale of one step moves
                # once and is checked after (else it returned its start unchanged: --steps 1,
                # --refine 1)
                move = k < sc.steps - 1 or sc.steps == 1
                _step(opt, closure, x, move)
                step += 1
                now = time.perf_counter()
                eta = time_left(now - ts, k + 1, scales, si)
                if not math.isfinite(best.loss):  # not one finite point yet: give up
                    raise not_finite(last[0].values() if last else {})
                if callback is not None:
                    vals = last[0].values()
                    callback(Progress(step, total, si, len(scales), sc.height, sc.width, vals,
                                      now - t0, eta, k == 0, x.detach))
            if sc.steps == 1:
                _step(opt, closure, x, False)
            best.restore(x)  # the best point evaluated at this scale, not merely the last
    except (KeyboardInterrupt, Interrupted):
        if best is not None and x is not None:
            best.restore(x)
        img = x.detach().clamp(0, 1) if x is not None else start(out_hw)
        raise Interrupted(resize_tensor(img.float().cpu(), out_hw)) from None
    return x.detach().float().clamp(0, 1).cpu()


def _step(opt: LBFGS | torch.optim.Optimizer, closure: Callable[[], torch.Tensor],
          x: torch.Tensor, move: bool) -> None:
    """One evaluation of the objective at ``x`` and, if ``move``, the optimizer's step."""
    if isinstance(opt, LBFGS):
        opt.step(closure, move=move)
        return
    closure()
    if move:
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)


TERM_WEIGHTS = {"extra": "temporal"}  # a term's weight in words, where not the term's name


def not_finite(values: dict[str, float]) -> UsageError:
    """The error of a loss that is not finite, naming what can be lowered: the learning rate
    or the loss weights, and the weight of each term that is not finite itself (of the
    largest term when only their sum overflows); ``values``: the weighted terms and the
    total (:meth:`~painterly.objective.Loss.values`)."""
    terms = {k: v for k, v in values.items() if k != "total"}
    bad, why = [k for k, v in terms.items() if not math.isfinite(v)], "not finite"
    if not bad and terms:  # each term finite, their sum not
        bad, why = [max(terms, key=lambda k: abs(terms[k]))], "the largest"
    names = " and the ".join(f"{TERM_WEIGHTS.get(k, k)} weight" for k in bad)
    its = "its term is" if len(bad) == 1 else "their terms are"
    hint = f" (here the {names}: {its} {why})" if bad else ""
    return UsageError(f"the loss is not finite; lower the learning rate or the loss "
                      f"weights{hint}")


def time_left(spent: float, done: int, scales: list[Scale], si: int) -> float:
    """Seconds left after ``done`` steps of scale ``si`` took ``spent`` seconds, at the same
    time per pixel for the rest of this scale and the later ones."""
    sc = scales[si]
    per_px = spent / done / (sc.height * sc.width)
    rest = sum(s.steps * s.height * s.width for s in scales[si + 1:])
    return per_px * ((sc.steps - done) * sc.height * sc.width + rest)


def make_closure(obj: Objective, x: torch.Tensor, opt: LBFGS | torch.optim.Optimizer,
                 best: Best) -> tuple[Callable[[], torch.Tensor], list[Loss]]:
    """The objective as an optimizer closure, and a list holding its last value; every
    evaluated point is offered to ``best``."""
    last: list[Loss] = []

    def closure() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        out = obj(x)
        out.total.backward()
        best.update(float(out.total.detach()), x)
        last[:] = [out]
        return out.total

    return closure, last


def initial_image(init: str, image: torch.Tensor | None, content: torch.Tensor,
                  styles: list[torch.Tensor], hw: tuple[int, int],
                  gen: torch.Generator, weights: list[float] | None = None,
                  regions: torch.Tensor | None = None) -> torch.Tensor:
    """The start image at size ``hw``: ``image`` if given (``--init PATH``, loaded), else the
    content in the styles' colours (``palette``, :func:`painterly.color.match_colors` with
    the blend ``weights``; with ``regions``, 1 x S x h x w masks of a label image, each
    region in its own style's colours and the content-only rest in the photo's own), the
    content, uniform noise from ``gen``, or the first style image."""
    if image is not None:
        return resize_tensor(image.float(), hw)
    if init == "palette" and regions is not None:
        photo = resize_tensor(content, hw).float()
        m = regions.to(photo)
        out = photo * (1 - m.sum(1, keepdim=True)).clamp(0, 1)
        for k, st in enumerate(styles):
            out = out + m[:, k:k + 1] * match_colors(photo, [st])
        return out
    if init == "palette":
        return match_colors(resize_tensor(content, hw).float(), styles, weights)
    if init == "content":
        return resize_tensor(content, hw).detach().clone()
    if init == "noise":
        return torch.rand((1, 3, *hw), generator=gen, dtype=torch.float32)
    if init == "style":
        return resize_tensor(styles[0], hw)
    raise UsageError(f"--init: '{init}' was not loaded as an image")


LBFGS_HISTORY = 50
LBFGS_HISTORY_BYTES = 2 << 30  # cap on the memory of the L-BFGS curvature pairs


def lbfgs_history(numel: int, steps: int) -> int:
    """History size of L-BFGS: 50 pairs, fewer for huge images (each pair is 8 bytes/px/ch),
    and never more than the steps that will fill it."""
    fit = LBFGS_HISTORY_BYTES // (8 * numel)
    return int(max(5, min(LBFGS_HISTORY, fit, steps)))


def make_optimizer(name: str, lr: float, x: torch.Tensor, steps: int = LBFGS_HISTORY):
    """L-BFGS or Adam on the pixels ``x`` (``lr`` 0: the optimizer's default)."""
    if name == "lbfgs":
        return LBFGS(x, lr=lr or 1.0, history=lbfgs_history(x.numel(), steps))
    return torch.optim.Adam([x], lr=lr or 0.02)
