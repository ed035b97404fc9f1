"""The Python API: ``painterly.stylize(content, style, **options) -> PIL.Image``.

It takes the method that ``options.method`` names from :mod:`painterly.methods` (a fresh
one per call; :class:`painterly.Stylizer` keeps one loaded between calls).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from typing import Any

from PIL import Image

from . import methods
from .config import KEYWORDS, Options, Runtime, make, make_options, split, validate
from .engine import Callback
from .images import ImageLike, image_list


def stylize(content: ImageLike, style: ImageLike | Sequence[ImageLike],
            options: Options | None = None, *, callback: Callback | None = None,
            **kwargs: Any) -> Image.Image:
    """Repaint ``content`` in the style of ``style`` (one image or a list).

    Images may be paths, PIL images, numpy arrays (H x W x C, uint8/uint16/float) or tensors.
    Keyword arguments are fields of :class:`~painterly.config.Options` (e.g.
    ``stylize("photo.jpg", "starry.jpg", size=384, style_weight=1e4)``), of
    :class:`~painterly.config.Runtime` (``device``, ``weights``) and ``mask`` /
    ``style_masks`` (paths or images; see :mod:`painterly.masks`); ``init`` may be a start
    picture in memory (a PIL image, array or tensor) as well as a name or a file.
    ``callback(progress)`` is called after every step with a :class:`~painterly.engine.Progress`.
    """
    given = {k.replace("-", "_"): v for k, v in kwargs.items()}
    guide = {k: given.pop(k) for k in ("mask", "style_masks") if k in given}
    if "init" in given and not isinstance(given["init"], (str, os.PathLike)):
        guide["init"] = given.pop("init")  # a start picture in memory, not a name or file
    look, where = split(given, (Options, Runtime), KEYWORDS)
    opts = make_options(options, spelling=KEYWORDS, **look)
    rt = make(Runtime, spelling=KEYWORDS, **where)
    styles = image_list(style)
    validate(opts, len(styles), spelling=KEYWORDS)
    _warn_unused(opts, look)
    return methods.for_options(opts, rt).picture(content, styles, opts, callback,
                                                 mask=guide.get("mask"),
                                                 style_masks=guide.get("style_masks"),
                                                 init=guide.get("init"))


def _warn_unused(opts: Options, given: dict[str, Any]) -> None:
    """A warning naming the keywords given that the chosen method does not use (as the
    command line's note does), so that none is dropped unsaid."""
    ignored = getattr(methods.room(opts.method), "ignored", None)
    unused = [k for k in given if ignored is not None and k in ignored(opts)]
    if unused:
        warnings.warn(f"{', '.join(k + '=' for k in unused)} "
                      f"{'has' if len(unused) == 1 else 'have'} no effect with "
                      f"method={opts.method!r}", UserWarning, stacklevel=3)
