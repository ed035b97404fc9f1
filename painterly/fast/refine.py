"""The fast picture's larger strokes: a few optimisation steps at a small size.

The fast model gives a picture the painting's colours and its finest brushwork, but little of
its larger strokes: on the development pairs most of its texture distance lies at relu3_1 and
relu4_1 (docs/fast.md).  Those are the strokes that an optimisation paints first and that a
small picture holds.  So :class:`Refiner` takes the model's picture F, shrinks it to
``REFINE_SIDE`` (256 px, or the output's size when smaller), optimises it there for
``opts.refine`` L-BFGS steps against the perceptual objective of ``stylize`` (the same
options: weights, layers, style scale, blend weights, masks; the optimizer is always L-BFGS
at its default rate), and adds the change, enlarged,
to the full-size picture::

    out = F + strength * up(R - down(F))

The model's fine brushwork stays; the optimisation adds the large strokes.  The cost does not
grow with the output size: about 0.1 s a step on a 2-core CPU, whatever the picture's size.
The VGG-19 weights are those of ``stylize`` (loaded on the first refined picture).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from .. import engine
from ..config import Options
from ..engine import Callback
from ..errors import Interrupted, WeightsError
from ..images import fit_longest, resize_tensor
from ..masks import Guides
from ..objective import TargetCache, feature_net
from ..vgg import VGGFeatures
from ..weights import SharedWeights, VGGWeights, check_source, load_weights, resolve

REFINE_SIDE = 256  # longest side of the refined picture (measured: docs/fast.md, Refining)


class Refiner:
    """VGG-19 and the style targets kept between pictures, for :meth:`__call__`."""

    def __init__(self, weights: VGGWeights | SharedWeights | str | os.PathLike | None,
                 device: torch.device):
        check_source(weights)
        self._weights = weights
        self.device = device
        self._nets: dict[tuple, VGGFeatures] = {}
        self.cache = TargetCache()

    def network(self, opts: Options) -> VGGFeatures:
        w = self._weights
        if not isinstance(w, VGGWeights):
            try:
                if isinstance(w, SharedWeights):
                    w = self._weights = w.get()
                else:
                    w = self._weights = load_weights(w) if w else resolve()
            except WeightsError as e:
                raise WeightsError(f"{e}; or --refine 0 for the fast model's picture alone, "
                                   f"which needs no VGG") from None
        return feature_net(w, opts, self.device, self._nets)

    @staticmethod
    def whole(opts: Options, hw: tuple[int, int]) -> bool:
        """Whether the refining steps paint a picture of size hw at its own size (it is no
        larger than :data:`REFINE_SIDE`), rather than a shrunk copy."""
        return getattr(opts, "refine", 0) > 0 and max(hw) <= REFINE_SIDE

    @engine.gradients()  # whatever the caller's mode: its network is made inside
    def __call__(self, picture: torch.Tensor, content: torch.Tensor,
                 styles: Sequence[torch.Tensor], opts: Options, guides: Guides | None = None,
                 strength: float = 1.0, callback: Callback | None = None) -> torch.Tensor:
        """``picture`` (the model's, 1 x 3 x H x W in 0..1) with the large strokes that
        ``opts.refine`` steps at :data:`REFINE_SIDE` add; ``content`` at the picture's size,
        ``styles`` as the objective takes them.  On :class:`Interrupted` (a callback, Ctrl-C)
        the picture with the change so far is attached to the raised error."""
        if getattr(opts, "refine", 0) <= 0:  # a network's options have no refining steps
            return picture
        h, w = picture.shape[-2:]
        sw, sh = fit_longest(w, h, min(REFINE_SIDE, max(h, w)))
        small = resize_tensor(picture, (sh, sw))
        ropts = opts.replace(size=max(sh, sw), scales=1, steps=opts.refine, optimizer="lbfgs",
                             lr=0.0)  # the steps measured, whatever optimises afterwards
        try:
            out = engine.run(resize_tensor(content, (sh, sw)), list(styles), ropts,
                             self.network(ropts), callback, init=small, guides=guides,
                             cache=self.cache)
        except Interrupted as e:
            e.image = _add(picture, small, e.image, strength)
            raise
        return _add(picture, small, out, strength)


def _add(picture: torch.Tensor, small: torch.Tensor, refined: torch.Tensor,
         strength: float) -> torch.Tensor:
    """picture + strength * the change from ``small`` to ``refined``, enlarged."""
    change = refined.to(small) - small
    if change.shape[-2:] != picture.shape[-2:]:
        change = F.interpolate(change, size=picture.shape[-2:], mode="bicubic",
                               align_corners=False)
    return (picture + strength * change.to(picture)).clamp(0, 1)
