"""The Python API: ``painterly.stylize(content, style, **options) -> PIL.Image``.

A :class:`Stylizer` keeps the weights and networks loaded between runs (the sweep command
and the web studio use one); :func:`stylize` makes a fresh one per call.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from PIL import Image

from . import color, engine, masks, vgg
from .config import Options, Runtime, make, make_options, split, validate
from .device import memory_format, pick_device
from .engine import Callback
from .errors import Interrupted, UsageError
from .images import ImageLike, LoadedImage, image_tensor, load_image, to_pil
from .objective import TargetCache, load_styles, network_layers
from .weights import VGGWeights, load_weights, resolve


class Stylizer:
    """Weights and feature extractors kept in memory between runs.

    Without ``weights`` the cached original VGG-19 is used (``PAINTERLY_WEIGHTS`` or
    :func:`painterly.weights.resolve`); if it is not cached yet, the first run fetches it
    and says so on stderr (``painterly weights --fetch`` does it beforehand)."""

    def __init__(self, weights: VGGWeights | str | os.PathLike | None = None,
                 device: str = "auto"):
        if isinstance(weights, VGGWeights):
            self.weights = weights
        elif weights:
            self.weights = load_weights(weights)
        else:
            self.weights = None
        self.device = pick_device(device)
        self._nets: dict[tuple, vgg.VGGFeatures] = {}
        self.cache = TargetCache()

    def _weights_for(self, opts: Options) -> VGGWeights:
        if self.weights is None:
            self.weights = resolve()
        if opts.model != self.weights.arch and opts.model != "vgg19":
            raise UsageError(f"--model {opts.model}: the weights are {self.weights.arch}; "
                             f"pass --weights with {opts.model} weights")
        return self.weights

    def network(self, opts: Options) -> vgg.VGGFeatures:
        w = self._weights_for(opts)
        layers = network_layers(opts, w.arch)
        key = (tuple(layers), opts.pooling)
        if key not in self._nets:  # built once, in the device's fastest memory layout
            self._nets[key] = vgg.build(w, layers, opts.pooling).to(
                self.device, memory_format=memory_format(self.device))
        return self._nets[key]

    def run(self, content: ImageLike | LoadedImage, styles: Sequence[ImageLike | LoadedImage],
            opts: Options, callback: Callback | None = None, *,
            mask: ImageLike | LoadedImage | None = None,
            style_masks: Sequence[ImageLike | LoadedImage | None] | None = None,
            init: ImageLike | LoadedImage | None = None) -> Image.Image:
        """Stylize and return a PIL image (RGBA if the content had transparency).

        ``mask`` and ``style_masks`` (paths or images of any kind) give spatial control; see
        :mod:`painterly.masks`.  ``init`` is the start image when ``opts.init`` is a path
        (given here when it is already loaded; otherwise ``opts.init`` is read).  Colour
        preservation (``opts.preserve_color``, :mod:`painterly.color`) is applied around the
        engine."""
        validate(opts, len(styles))
        c_img = content if isinstance(content, LoadedImage) else load_image(content)
        s_imgs = [s if isinstance(s, LoadedImage) else load_image(s) for s in styles]
        init_t = None
        if opts.init_is_path:
            i_img = init if init is not None else opts.init
            i_img = i_img if isinstance(i_img, LoadedImage) else load_image(i_img)
            init_t = image_tensor(i_img, opts.size)
        c = image_tensor(c_img, opts.size)
        s = load_styles(s_imgs, opts.size, opts.style_scale)
        guides = masks.load_guides(mask, style_masks, len(s), tuple(c.shape[-2:]))
        prep = color.prepare(opts.preserve_color, c, s, init_t)
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
    Keyword arguments are fields of :class:`~painterly.config.Options` (e.g.
    ``stylize("photo.jpg", "starry.jpg", size=384, style_weight=1e4)``), of
    :class:`~painterly.config.Runtime` (``device``, ``weights``) and ``mask`` /
    ``style_masks`` (paths or images; see :mod:`painterly.masks`).
    ``callback(progress)`` is called after every step with a :class:`~painterly.engine.Progress`.
    """
    given = {k.replace("-", "_"): v for k, v in kwargs.items()}
    guide = {k: given.pop(k) for k in ("mask", "style_masks") if k in given}
    look, where = split(given, (Options, Runtime))
    opts = make_options(options, **look)
    rt = make(Runtime, **where)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    validate(opts, len(styles))
    return Stylizer(rt.weights or None, rt.device).run(content, styles, opts, callback,
                                                       mask=guide.get("mask"),
                                                       style_masks=guide.get("style_masks"))
