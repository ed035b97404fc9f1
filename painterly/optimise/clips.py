"""``painterly stylize clip.mp4 STYLE -o out.mp4``: a clip stylized by optimisation, frame by
frame, steadied by the flow (Ruder, Dosovitskiy & Brox 2016, "Artistic style transfer for
videos").

The first frame is stylized like a single image (coarse to fine).  Every later frame starts
from the previous stylized frame carried onto it by the optical flow (the current frame where
the flow sees nothing) and is refined at the output size only, for ``frame_steps`` steps, with
the temporal loss ``temporal_weight * temporal_loss(x, warped previous, mask)`` added to the
objective (:mod:`painterly.temporal`).  ``temporal=False`` stylizes every frame on its own
(it flickers: the comparison point of ``benchmarks/video.py``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..config import Options, option

if TYPE_CHECKING:  # the heavy modules load only when a clip is stylized
    import torch

    from ..engine import Callback
    from ..images import ImageLike, LoadedImage
    from ..objective import TargetCache
    from ..vgg import VGGFeatures

# Chosen by measurement (benchmarks/video.py, benchmarks/results/video.md).
FRAME_STEPS = 10  # L-BFGS steps per frame after the first, at the output size only
TEMPORAL_WEIGHT = 200.0
FLOW = "dis"  # the optical flow that carries the previous frame


@dataclass
class ClipOptions:
    """How a clip is steadied; the image options (:class:`Options`) apply to every frame."""

    temporal: bool = option(True, "Clips: stylize every frame on its own (it flickers); by "
                                  "default each frame starts from the previous one carried "
                                  "by the optical flow, with a temporal loss.", web=False)
    frame_steps: int = option(FRAME_STEPS, "Clips: steps per frame after the first, which "
                                           "starts from the previous one carried by the flow.",
                              minimum=1, maximum=1000, metavar="N")
    temporal_weight: float = option(TEMPORAL_WEIGHT, "Clips: weight of the temporal loss "
                                                     "that keeps frames steady.", minimum=0.0,
                                    metavar="W")


class Features(Protocol):
    """What the frames need of the method: its feature network and its target cache."""

    cache: TargetCache

    def network(self, opts: Options) -> VGGFeatures: ...


@dataclass
class OptimisedFrames:
    """A per-frame stylizer (:data:`painterly.temporal.FrameFn`) for the frames of one clip,
    in order.  Frames are 1 x 3 x H x W in 0..1 at the output size."""

    stylizer: Features
    styles: list[torch.Tensor]
    opts: Options
    clip: ClipOptions = field(default_factory=ClipOptions)
    callback: Callback | None = None  # the optimiser's progress within a frame (engine.run)
    _prev_in: torch.Tensor | None = field(default=None, repr=False)
    _prev_raw: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.clip.temporal:  # each frame starts from the one before, carried by the flow
            from ..temporal import need_flow

            need_flow()

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        from .. import engine
        from ..device import ordinary

        with engine.gradients():  # whatever the caller's mode
            return self._frame(ordinary(frame))

    def _frame(self, frame: torch.Tensor) -> torch.Tensor:
        from .. import color, engine, temporal

        prep = color.prepare(self.opts.preserve_color, frame, self.styles)
        net = self.stylizer.network(self.opts)
        cache = self.stylizer.cache
        if self._prev_in is None or not self.clip.temporal:
            raw = engine.run(prep.content, prep.styles, self.opts, net, self.callback,
                             cache=cache)
        else:
            m = temporal.motion(frame, self._prev_in, FLOW)
            init, warped = temporal.init_from_previous(prep.content, self._prev_raw, m)
            w = self.clip.temporal_weight

            def extra(x: torch.Tensor) -> torch.Tensor:
                return w * temporal.temporal_loss(x, warped, m.mask)

            opts = dataclasses.replace(self.opts, scales=1, steps=self.clip.frame_steps)
            raw = engine.run(prep.content, prep.styles, opts, net, self.callback, init=init,
                             cache=cache, extra_loss=extra if w > 0 else None)
        self._prev_in, self._prev_raw = frame, raw
        return prep.finish(raw)


def style_tensors(images: Sequence[ImageLike | LoadedImage], opts: Options
                  ) -> list[torch.Tensor]:
    """Style images at the size the API uses for one image of ``opts.size``."""
    from ..images import LoadedImage, check_style, load_image
    from ..objective import load_styles

    loaded = [check_style(s if isinstance(s, LoadedImage) else load_image(s)) for s in images]
    return load_styles(loaded, opts.size, opts.style_scale)
