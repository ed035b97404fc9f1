"""The contract every way of stylizing meets (it only names types; it imports no method).

A *method* is an object, built once and kept (weights loaded, style statistics cached),
with a ``kind`` and two calls:

* :meth:`Method.picture`: one stylized picture from a content image and style images;
* :meth:`Method.frames`: a fresh per-frame function for ONE clip, frames in order, that
  brings the method's own steadier (optimisation: the temporal loss; a per-style network:
  the grid lock and the flow blend).

Each method lives in a room of its own: ``painterly/optimise/`` (kind ``optimise``: the
image optimised against the perceptual objective) and ``painterly/network/`` (kind
``network``: a feed-forward network trained for one style).  :mod:`painterly.methods`, above
the rooms, maps a kind to its room; the callers (the command line, the Python API, the web
runners, clip processing) get a method there and talk only to ``picture`` and ``frames``.

A room is a module that names its ``KIND`` and builds its method with ``make(runtime,
**settings)`` (a method chosen by ``--method``) or ``load(path, runtime, **settings)`` (a
method chosen by its model file, whose metadata names the kind).  ``settings`` are the
room's own (for example the steadier's options of a clip); the registry hands a room only
those its function names.  A room whose model files paint with a style picture given at
run time says so with ``NEEDS_STYLES = True``: ``painterly apply``, which gives none,
refuses its files in one line (:func:`painterly.methods.for_apply`).

``opts`` is the options object of the method's kind: :class:`~painterly.config.Options` for
the methods chosen by ``--method``, :class:`~painterly.network.options.ApplyOptions` for a
per-style network (whose look was fixed when it was trained).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from PIL import Image

    from .engine import Callback
    from .images import ImageLike, LoadedImage
    from .temporal import FrameFn

KINDS = ("optimise", "network", "fast")  # the kinds of the rooms painterly ships


class Method(Protocol):
    """A way of stylizing (see the module's text)."""

    kind: str  # "optimise" | "network" | "fast"

    def picture(self, content: LoadedImage, styles: Sequence[LoadedImage], opts: Any,
                callback: Callback | None = None, *,
                mask: ImageLike | LoadedImage | None = None,
                style_masks: Sequence[ImageLike | LoadedImage | None] | None = None,
                init: LoadedImage | None = None) -> Image.Image:
        """One stylized picture (RGBA when the content had alpha).  A per-style network
        takes no styles (its style is baked in) and refuses any it is given; a method that
        is not iterative may call ``callback`` once, or never."""
        ...

    def frames(self, styles: Sequence[LoadedImage], opts: Any) -> FrameFn:
        """A fresh per-frame function for one clip, frames in order: 1 x 3 x H x W float
        in 0..1 at the output size -> the stylized frame, same shape."""
        ...
