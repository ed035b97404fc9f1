"""The in-process API of trained style networks: load once, stylize many images.

>>> net = painterly.Network.load("starry.safetensors")
>>> net.stylize("photo.jpg", size=1024).save("out.png")

Inference path (chosen by measurement, ``benchmarks/nets_speed.py``): on bfloat16 hardware
(``--precision auto``) the weights are converted to bfloat16 once and the activations kept
channels-last, which oneDNN and cuDNN run fastest; otherwise float32, channels-last.
"""

from __future__ import annotations

import os

import torch
from PIL import Image

from .. import color
from ..device import pick_device, resolve_precision
from ..errors import UsageError
from ..images import (
    ImageLike,
    LoadedImage,
    fit_longest,
    load_image,
    resize_tensor,
    to_pil,
    to_tensor,
)
from .modelfile import ModelFile, load_model
from .transform import TransformNet

PRESERVE = ("none", "luminance")


def check_apply_options(size: int | None, preserve_color: str, strength: float) -> None:
    if size is not None and not 16 <= size <= 8192:
        raise UsageError(f"--size: {size} is not between 16 and 8192")
    if preserve_color not in PRESERVE:
        raise UsageError(f"--preserve-color: '{preserve_color}' is not one of "
                         f"{', '.join(PRESERVE)}")
    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength: {strength} is not between 0 and 1")


class Network:
    """A trained style network held on a device, ready to stylize."""

    def __init__(self, model: ModelFile, device: str = "auto", precision: str = "auto"):
        if precision not in ("auto", "bf16", "fp32"):
            raise UsageError(f"--precision: '{precision}' is not one of auto, bf16, fp32")
        self.model = model
        self.device = pick_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        net = model.network().to(self.device, self.dtype)
        self.net: TransformNet = net.to(memory_format=torch.channels_last)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto",
             precision: str = "auto") -> Network:
        """Read a model file (checked; see :mod:`painterly.nets.modelfile`)."""
        return cls(load_model(path), device, precision)

    @property
    def meta(self) -> dict:
        """The model file's description: style, training options, steps, version."""
        return self.model.meta

    @torch.inference_mode()
    def run(self, x: torch.Tensor) -> torch.Tensor:
        """The network on a batch B x 3 x H x W in 0..1 -> B x 3 x H x W in 0..1 (float32,
        on the network's device)."""
        x = x.to(self.device, self.dtype).contiguous(memory_format=torch.channels_last)
        return self.net(x).float().clamp_(0, 1).contiguous()

    @property
    def stride(self) -> int:
        """The network's total downsampling: its output is the same for inputs shifted by a
        multiple of this, and differs for other shifts (the texture's phase on the grid)."""
        return 2 ** self.net.arch.downs

    def run_at(self, x: torch.Tensor, ox: int, oy: int) -> torch.Tensor:
        """:meth:`run` with the picture placed ``ox``, ``oy`` pixels (0 .. stride-1) right
        and down on the network's grid: the input is padded by reflection on the left and
        top, the output cropped back to ``x``'s size."""
        if not (ox or oy):
            return self.run(x)
        h, w = x.shape[-2:]
        mode = "reflect" if ox < w and oy < h else "replicate"
        y = self.run(torch.nn.functional.pad(x.float(), (ox, 0, oy, 0), mode=mode))
        return y[..., oy:oy + h, ox:ox + w]

    def finish(self, y: torch.Tensor, photo: torch.Tensor, preserve_color: str = "none",
               strength: float = 1.0) -> torch.Tensor:
        """Colour preservation and blending with the photo (both B x 3 x H x W, 0..1)."""
        photo = photo.to(y.device, torch.float32)
        if preserve_color == "luminance":
            y = torch.cat([color.recombine(color.luminance(y[i:i + 1]), photo[i:i + 1])
                           for i in range(y.shape[0])])
        if strength < 1.0:
            y = strength * y + (1.0 - strength) * photo
        return y.clamp(0, 1)

    def stylize(self, image: ImageLike | LoadedImage, size: int | None = None,
                preserve_color: str = "none", strength: float = 1.0) -> Image.Image:
        """Stylize one image (path, bytes, PIL, array or tensor); ``size`` is the output's
        longest side (default: the image's own).  Returns a PIL image (RGBA if it had alpha)."""
        check_apply_options(size, preserve_color, strength)
        img = image if isinstance(image, LoadedImage) else load_image(image)
        x = photo_tensor(img, size)
        y = self.finish(self.run(x), x, preserve_color, strength)
        return to_pil(y.cpu(), img.alpha)


def photo_tensor(img: LoadedImage, size: int | None) -> torch.Tensor:
    """1 x 3 x H x W of the image, its longest side resized to ``size`` (None: as it is)."""
    x = to_tensor(img.rgb)
    if size is None:
        return x
    w, h = fit_longest(*img.size, size)
    return resize_tensor(x, (h, w))
