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

import argparse
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .config import ClipOutput, MaskPaths, Options, Runtime, add_flags, from_args, validate
from .errors import UsageError

if TYPE_CHECKING:  # the heavy modules load only when a clip is stylized
    import torch

    from .api import Stylizer
    from .engine import Callback

# Chosen by measurement (benchmarks/video.py, benchmarks/results/video.md).
FRAME_STEPS = 10  # L-BFGS steps per frame after the first, at the output size only
TEMPORAL_WEIGHT = 200.0


@dataclass
class ClipOptions:
    """How a clip is steadied; the image options (:class:`Options`) apply to every frame."""

    temporal: bool = True
    frame_steps: int = FRAME_STEPS
    temporal_weight: float = TEMPORAL_WEIGHT
    flow: str = "dis"


@dataclass
class OptimisedFrames:
    """A per-frame stylizer (:data:`painterly.temporal.FrameFn`) for the frames of one clip,
    in order.  Frames are 1 x 3 x H x W in 0..1 at the output size."""

    stylizer: Stylizer
    styles: list[torch.Tensor]
    opts: Options
    clip: ClipOptions = field(default_factory=ClipOptions)
    callback: Callback | None = None  # the optimiser's progress within a frame (engine.run)
    _prev_in: torch.Tensor | None = field(default=None, repr=False)
    _prev_raw: torch.Tensor | None = field(default=None, repr=False)

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        from . import color, engine, temporal

        prep = color.prepare(self.opts.preserve_color, frame, self.styles)
        net = self.stylizer.network(self.opts)
        cache = self.stylizer.cache
        if self._prev_in is None or not self.clip.temporal:
            raw = engine.run(prep.content, prep.styles, self.opts, net, self.callback,
                             cache=cache)
        else:
            m = temporal.motion(frame, self._prev_in, self.clip.flow)
            init, warped = temporal.init_from_previous(prep.content, self._prev_raw, m)
            w = self.clip.temporal_weight

            def extra(x: torch.Tensor) -> torch.Tensor:
                return w * temporal.temporal_loss(x, warped, m.mask)

            opts = dataclasses.replace(self.opts, scales=1, steps=self.clip.frame_steps)
            raw = engine.run(prep.content, prep.styles, opts, net, self.callback, init=init,
                             cache=cache, extra_loss=extra if w > 0 else None)
        self._prev_in, self._prev_raw = frame, raw
        return prep.finish(raw)


def style_tensors(paths: Sequence, opts: Options) -> list[torch.Tensor]:
    """Style images at the size the API uses for one image of ``opts.size``."""
    from .images import image_tensor, load_image
    from .objective import style_load_side

    out = []
    for s in paths:
        im = load_image(s)
        out.append(image_tensor(im, style_load_side(im.size, opts.size, opts.style_scale)))
    return out


def add_clip_flags(p: argparse.ArgumentParser) -> None:
    """Flags of ``painterly stylize`` that apply to clips only."""
    g = p.add_argument_group("video (when CONTENT is a clip)")
    g.add_argument("--no-temporal", action="store_true",
                   help="stylize every frame on its own (it flickers); by default each frame "
                        "starts from the previous one carried by the optical flow, with a "
                        "temporal loss")
    g.add_argument("--frame-steps", type=int, default=FRAME_STEPS, metavar="N",
                   help=f"steps per frame after the first [default: {FRAME_STEPS}]")
    g.add_argument("--temporal-weight", type=float, default=TEMPORAL_WEIGHT, metavar="W",
                   help=f"weight of the temporal loss [default: {TEMPORAL_WEIGHT:g}]")
    g.add_argument("--no-audio", action="store_true", help="leave the clip's audio out")
    add_flags(p, ClipOutput)


def run_clip_cli(content: str, styles: list[str], output: str, opts: Options,
                 runtime: Runtime, paths: MaskPaths, args: argparse.Namespace) -> int:
    """The command line's clip path: checks, then frames through :func:`video.process_clip`."""
    from . import video
    from .api import Stylizer

    out = from_args(ClipOutput, args)
    video.check_output(output, [content, *styles], out.quality)
    validate(opts, len(styles))
    if paths.mask or paths.style_masks:
        raise UsageError("--mask and --style-masks apply to images, not to clips")
    for flag in ("animate", "snapshots", "log", "plot"):
        if getattr(args, flag, None):
            raise UsageError(f"--{flag} applies to images, not to clips")
    if args.frame_steps < 1:
        raise UsageError("--frame-steps: must be 1 or more")
    if args.temporal_weight < 0:
        raise UsageError("--temporal-weight: must be 0 or more")
    info = video.probe(content)
    s = style_tensors(styles, opts)
    clip = ClipOptions(temporal=not args.no_temporal, frame_steps=args.frame_steps,
                       temporal_weight=args.temporal_weight)
    fn = OptimisedFrames(Stylizer(runtime.weights or None, runtime.device), s,
                         opts, clip)
    return video.process_clip(content, output, fn, opts.size, quiet=args.quiet,
                              audio=not args.no_audio, info=info, quality=out.quality)
