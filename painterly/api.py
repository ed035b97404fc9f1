"""The Python API: ``painterly.stylize(content, style, **options) -> PIL.Image``.

A :class:`Stylizer` keeps the weights and networks loaded between runs (the sweep command
and the web studio use one); :func:`stylize` makes a fresh one per call.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image

from . import color, engine, masks, vgg
from .config import Options, check_device, make_options
from .engine import Callback
from .errors import Interrupted, UsageError
from .images import ImageLike, LoadedImage, image_tensor, load_image, to_pil
from .weights import VGGWeights, load_weights, resolve

MAX_STYLE_SIDE = 4096


def pick_device(name: str = "auto") -> torch.device:
    check_device(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA GPU is available (use --device cpu)")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) present")
    return dev


class Stylizer:
    """Weights and feature extractors kept in memory between runs."""

    def __init__(self, weights: VGGWeights | str | os.PathLike | None = None,
                 device: str = "auto", quiet: bool = True):
        if isinstance(weights, VGGWeights):
            self.weights = weights
        elif weights:
            self.weights = load_weights(weights)
        else:
            self.weights = None
        self.device = pick_device(device)
        self.quiet = quiet
        self._nets: dict[tuple, vgg.VGGFeatures] = {}
        self.cache = engine.TargetCache()

    def _weights_for(self, opts: Options) -> VGGWeights:
        if self.weights is None:
            self.weights = resolve(opts.weights, quiet=self.quiet)
        if opts.model != self.weights.arch and opts.model != "vgg19":
            raise UsageError(f"--model {opts.model}: the weights are {self.weights.arch}; "
                             f"pass --weights with {opts.model} weights")
        return self.weights

    def network(self, opts: Options) -> vgg.VGGFeatures:
        w = self._weights_for(opts)
        content, style = engine.layer_setup(opts, w.arch)
        layers = sorted(set(content) | set(style))
        key = (tuple(layers), opts.pooling)
        if key not in self._nets:
            self._nets[key] = vgg.build(w, layers, opts.pooling).to(self.device)
        return self._nets[key]

    def run(self, content: ImageLike | LoadedImage, styles: Sequence[ImageLike | LoadedImage],
            opts: Options, callback: Callback | None = None, *,
            mask: ImageLike | LoadedImage | None = None,
            style_masks: Sequence[ImageLike | LoadedImage | None] | None = None) -> Image.Image:
        """Stylize and return a PIL image (RGBA if the content had transparency).

        ``mask`` and ``style_masks`` (images of any kind) override ``opts.mask`` and
        ``opts.style_masks`` (paths); see :mod:`painterly.masks`.  Colour preservation
        (``opts.preserve_color``, :mod:`painterly.color`) is applied around the engine."""
        if not styles:
            raise UsageError("at least one style image is needed")
        c_img = content if isinstance(content, LoadedImage) else load_image(content)
        s_imgs = [s if isinstance(s, LoadedImage) else load_image(s) for s in styles]
        init = None
        if opts.init not in ("content", "noise", "style"):
            init = image_tensor(load_image(opts.init), opts.size)
        c = image_tensor(c_img, opts.size)
        s = [image_tensor(im, min(max(im.size), MAX_STYLE_SIDE,
                                  round(opts.size * opts.style_scale * 1.25) + 16))
             for im in s_imgs]
        guides = masks.load_guides(mask if mask is not None else (opts.mask or None),
                                   list(style_masks) if style_masks is not None
                                   else opts.style_masks, len(s), tuple(c.shape[-2:]))
        prep = color.prepare(opts.preserve_color, c, s, init)
        net = self.network(opts)
        try:
            out = engine.run(prep.content, prep.styles, opts, net,
                             _finishing(callback, prep.finish, opts.preserve_color),
                             init=prep.init, guides=guides, cache=self.cache)
        except Interrupted as e:
            e.image = to_pil(prep.finish(e.image), c_img.alpha)
            raise
        return to_pil(prep.finish(out), c_img.alpha)


def _finishing(callback: Callback | None, finish, mode: str) -> Callback | None:
    """The callback, with progress images shown in final colours (luminance mode)."""
    if callback is None or mode != "luminance":
        return callback

    def wrapped(p: engine.Progress) -> None:
        raw = p._image
        callback(dataclasses.replace(p, _image=lambda: finish(raw().detach().float().cpu())))

    return wrapped


def stylize(content: ImageLike, style: ImageLike | Sequence[ImageLike],
            options: Options | None = None, *, callback: Callback | None = None,
            **kwargs: Any) -> Image.Image:
    """Repaint ``content`` in the style of ``style`` (one image or a list).

    Images may be paths, PIL images, numpy arrays (H x W x C, uint8/uint16/float) or tensors.
    Keyword arguments are :class:`~painterly.config.Options` fields, e.g.
    ``stylize("photo.jpg", "starry.jpg", size=384, style_weight=1e4)``.
    ``callback(progress)`` is called after every step with a :class:`~painterly.engine.Progress`.
    ``mask`` / ``style_masks`` may be paths or images (PIL, arrays); see :mod:`painterly.masks`.
    """
    images = {}  # masks given as images rather than paths bypass the options
    if "mask" in kwargs and not isinstance(kwargs["mask"], (str, os.PathLike)):
        images["mask"] = kwargs.pop("mask")
    if "style_masks" in kwargs and not all(isinstance(m, (str, os.PathLike))
                                           for m in kwargs["style_masks"]):
        images["style_masks"] = kwargs.pop("style_masks")
    opts = make_options(options, **kwargs)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    return Stylizer(opts.weights or None, opts.device).run(content, styles, opts, callback,
                                                           **images)

