"""The method of the ``network`` room: a trained style network, loaded from its model file
and kept (see :mod:`painterly.method`).  Its options are :class:`~.options.ApplyOptions`;
it takes no style images (its style is baked in)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from ..config import Runtime, validate
from ..dist import device_for, world
from ..engine import Callback
from ..errors import UsageError
from ..images import ImageLike, LoadedImage, load_image, to_pil
from ..temporal import FrameFn
from .network import Network, photo_tensor
from .options import ApplyOptions
from .quality import describe
from .steady import frame_fn

KIND = "network"


@dataclass
class NetworkMethod:
    """A loaded style network meeting the contract of :mod:`painterly.method`."""

    net: Network
    kind: str = KIND

    @property
    def about(self) -> str:
        """What runs the network, in what arithmetic (for the closing line)."""
        return f"{self.net.runtime}, {self.net.precision}"

    @property
    def notes(self) -> list[str]:
        """What a user is told before the network paints: its quality figure, and a warning
        when it is far from converged (nothing for files without a figure)."""
        return describe(self.net.meta)

    def picture(self, content: ImageLike | LoadedImage, styles: Sequence[object],
                opts: ApplyOptions, callback: Callback | None = None, *,
                mask: object = None, style_masks: Sequence[object] | None = None,
                init: object = None) -> Image.Image:
        """The network on one picture (``callback`` is never called: it is one pass)."""
        _refuse(styles, mask, style_masks, init)
        validate(opts)
        return self.net.stylize(content, opts.size or None, opts.preserve_color,
                                opts.strength)

    def pictures(self, contents: Sequence[ImageLike | LoadedImage], opts: ApplyOptions
                 ) -> list[Image.Image]:
        """The network on several pictures, those of one size in batches of ``opts.batch``
        (the same pictures as one at a time: instance norm sees each on its own)."""
        import torch

        validate(opts)
        imgs = [c if isinstance(c, LoadedImage) else load_image(c) for c in contents]
        xs = [photo_tensor(img, opts.size or None) for img in imgs]
        out: list[Image.Image] = []
        start = 0
        while start < len(xs):
            end = start + 1
            while end < len(xs) and end - start < opts.batch and xs[end].shape == xs[start].shape:
                end += 1
            x = torch.cat(xs[start:end])
            y = self.net.finish(self.net.transform(x), x, opts.preserve_color,
                                opts.strength).cpu()
            out += [to_pil(y[i:i + 1], imgs[start + i].alpha) for i in range(end - start)]
            start = end
        return out

    def frames(self, styles: Sequence[object], opts: ApplyOptions) -> FrameFn:
        """The frames of one clip, kept on the camera's grid and steadied by the flow blend
        (:func:`~.steady.frame_fn`)."""
        _refuse(styles)
        validate(opts)
        return frame_fn(self.net, opts.preserve_color, opts.strength, opts.blend)


def _refuse(styles: Sequence[object], mask: object = None,
            style_masks: Sequence[object] | None = None, init: object = None) -> None:
    if styles:
        raise UsageError("a style network takes no style images: its style was fixed when it "
                         "was trained")
    if mask is not None or style_masks or init is not None:
        raise UsageError("a style network takes no masks or start image")


def load(path: str | os.PathLike, runtime: Runtime, *, opts: ApplyOptions | None = None
         ) -> NetworkMethod:
    """The network of a model file on ``runtime.device`` (under torchrun: this process's
    GPU), with the precision and runtime of ``opts``."""
    opts = opts or ApplyOptions()
    device = str(device_for(runtime.device, world()))
    return NetworkMethod(Network.load(path, device, opts.precision, opts.runtime))
