"""The method of the ``optimise`` room: :class:`Stylizer` (``painterly.Stylizer``).

A :class:`Stylizer` keeps the weights and networks loaded between runs (the sweep command
and the web studio use one); ``painterly.stylize`` makes a fresh one per call.  It meets the
contract of :mod:`painterly.method`: :meth:`Stylizer.picture` optimises one picture (the
engine, coarse to fine), :meth:`Stylizer.frames` the frames of a clip, steadied by the
temporal loss (:mod:`.clips`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image

from .. import color, engine, masks, vgg
from ..config import (
    INIT_CHOICES,
    KEYWORDS,
    WARM_STARTS,
    Options,
    Runtime,
    make_options,
    validate,
    warm_start_options,
)
from ..device import pick_device
from ..engine import Callback
from ..errors import Interrupted, UsageError
from ..images import (
    ImageLike,
    LoadedImage,
    check_content,
    check_style,
    image_list,
    image_tensor,
    load_image,
    to_pil,
)
from ..objective import TargetCache, feature_net, load_styles
from ..weights import SharedWeights, VGGWeights, check_source, load_weights, resolve
from .clips import ClipOptions, OptimisedFrames, style_tensors

if TYPE_CHECKING:
    import torch

    from ..method import Method
    from ..temporal import FrameFn

KIND = "optimise"


class Stylizer:
    """Weights and feature extractors kept in memory between runs.

    Without ``weights`` the cached original VGG-19 is used (``PAINTERLY_WEIGHTS`` or
    :func:`painterly.weights.resolve`); if it is not cached yet, the first run fetches it
    and says so on stderr (``painterly weights --fetch`` does it beforehand).

    ``clip`` steadies the frames of clips (:meth:`frames`); ``frame_callback`` is told the
    optimiser's progress within each frame.

    ``start_with`` is the method whose picture ``init="fast"`` starts from (a warm start;
    :func:`painterly.methods.for_options` and ``painterly.stylize`` give it)."""

    kind = KIND

    def __init__(self, weights: VGGWeights | SharedWeights | str | os.PathLike | None = None,
                 device: str = "auto", *, clip: ClipOptions | None = None,
                 frame_callback: Callback | None = None, start_with: Method | None = None):
        check_source(weights)
        engine.check_callback(frame_callback, "frame_callback")
        self._shared = weights if isinstance(weights, SharedWeights) else None
        if isinstance(weights, VGGWeights):
            self.weights = weights
        elif weights and self._shared is None:
            self.weights = load_weights(weights)
        else:
            self.weights = None
        self.device = pick_device(device)
        self._nets: dict[tuple, vgg.VGGFeatures] = {}
        self.cache = TargetCache()
        self.clip = clip or ClipOptions()
        self.frame_callback = frame_callback
        self.start_with = start_with

    def _weights_for(self, opts: Options) -> VGGWeights:
        if self.weights is None:
            self.weights = self._shared.get() if self._shared else resolve()
        if opts.model != self.weights.arch and opts.model != "vgg19":
            raise UsageError(f"--model {opts.model}: the weights are {self.weights.arch}; "
                             f"pass --weights with {opts.model} weights")
        return self.weights

    def network(self, opts: Options) -> vgg.VGGFeatures:
        return feature_net(self._weights_for(opts), opts, self.device, self._nets)

    @engine.gradients()  # whatever the caller's mode; the tensors are made inside
    def picture(self, content: ImageLike | LoadedImage,
                styles: Sequence[ImageLike | LoadedImage],
                opts: Options, callback: Callback | None = None, *,
                mask: ImageLike | LoadedImage | None = None,
                style_masks: Sequence[ImageLike | LoadedImage | None] | None = None,
                init: ImageLike | LoadedImage | None = None) -> Image.Image:
        """Stylize and return a PIL image (RGBA if the content had transparency).

        ``mask`` and ``style_masks`` (paths or images of any kind) give spatial control; see
        :mod:`painterly.masks`.  ``init``: the start picture (a path or an image of any
        kind), whatever ``opts.init`` says; without it a path in ``opts.init`` is read.  Colour
        preservation (``opts.preserve_color``, :mod:`painterly.color`) is applied around the
        engine."""
        styles = image_list(styles)  # one style given alone, not a sequence of them
        if not isinstance(opts, Options):  # None: the defaults; a dict: its fields
            opts = make_options(opts, spelling=KEYWORDS)
        validate(opts, len(styles), spelling=KEYWORDS)
        engine.check_callback(callback)
        if opts.method != KIND:  # another room's options: never optimised silently
            raise UsageError(f"method '{opts.method}': the Stylizer optimises; paint with "
                             f"painterly.stylize(..., method='{opts.method}') or "
                             f"painterly.methods.for_options(options).picture(...)")
        c_img = check_content(content if isinstance(content, LoadedImage)
                              else load_image(content), opts.size)
        s_imgs = [check_style(s if isinstance(s, LoadedImage) else load_image(s))
                  for s in styles]
        init_t = None
        if init is not None or opts.init_is_path:  # a start picture given, or its file
            i_img = init if init is not None else _init_file(opts.init)
            i_img = i_img if isinstance(i_img, LoadedImage) else load_image(i_img)
            init_t = image_tensor(i_img, opts.size)
        elif opts.init in WARM_STARTS:
            init_t = self._warm_start(c_img, s_imgs, opts, mask, style_masks)
        c = image_tensor(c_img, opts.size)
        s = load_styles(s_imgs, opts.size, opts.style_scale)
        guides = masks.load_guides(mask, style_masks, len(s), tuple(c.shape[-2:]))
        prep = color.prepare(opts.preserve_color, c, s, init_t,
                             *(guides.style_masks, guides.regions) if guides else ())
        net = self.network(opts)
        try:
            out = engine.run(prep.content, prep.styles, opts, net,
                             engine.finishing(callback, prep.finish),
                             init=prep.init, guides=guides, cache=self.cache)
        except Interrupted as e:
            e.image = to_pil(prep.finish(e.image), c_img.alpha)
            raise
        return to_pil(prep.finish(out), c_img.alpha)

    run = picture  # the name of earlier versions

    def _warm_start(self, content: LoadedImage, styles: list[LoadedImage], opts: Options,
                    mask, style_masks) -> torch.Tensor:
        """The start image of ``--init fast``: the fast method's picture, same options."""
        if self.start_with is None:
            raise UsageError(f"init '{opts.init}' needs the method to start from: use "
                             f"painterly.stylize(..., init='{opts.init}') or "
                             f"painterly.methods.for_options(options)")
        self._weights_for(opts)  # the optimiser's VGG first: its error, not the start's advice
        pic = self.start_with.picture(content, styles, warm_start_options(opts), mask=mask,
                                      style_masks=style_masks)
        return image_tensor(load_image(pic), opts.size)

    def frames(self, styles: Sequence[ImageLike | LoadedImage], opts: Options) -> FrameFn:
        """The per-frame function of one clip (:class:`~.clips.OptimisedFrames`)."""
        validate(opts, len(styles))
        if opts.init in WARM_STARTS:
            raise UsageError(f"--init {opts.init} is for pictures; a clip's frames start "
                             f"from the frame before")
        return OptimisedFrames(self, style_tensors(styles, opts), opts, self.clip,
                               self.frame_callback)


def make(runtime: Runtime, *, clip: ClipOptions | None = None,
         callback: Callback | None = None, start_with: Method | None = None,
         vgg: SharedWeights | None = None) -> Stylizer:
    """The room's method for ``runtime`` (``clip``: how the frames of clips are steadied;
    ``callback``: the optimiser's progress within each frame of a clip; ``start_with``: the
    method of a warm start, ``--init fast``; ``vgg``: VGG-19 weights shared with another
    method, instead of ``runtime.weights``)."""
    return Stylizer(vgg or runtime.weights or None, runtime.device, clip=clip,
                    frame_callback=callback, start_with=start_with)


def _init_file(init: str) -> str:
    """``init``, the path of the start image, if there is a file (or folder, refused when
    read) there; UsageError listing the choices otherwise."""
    if init and os.path.lexists(init):
        return init
    near = f" (did you mean '{init.lower()}'?)" if init.lower() in INIT_CHOICES else ""
    raise UsageError(f"init '{init}' is not one of {', '.join(INIT_CHOICES)} and not an "
                     f"image file{near}; give one of those or a picture's path")
