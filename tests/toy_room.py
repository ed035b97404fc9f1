"""A room that is no part of painterly: registered by tests/test_methods.py to show that a
new way of stylizing reaches the callers through the registry alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from painterly.images import LoadedImage, load_image

KIND = "toy"


@dataclass
class Negative:
    """The picture's negative (its 'style' is baked in)."""

    kind: str = KIND

    def picture(self, content, styles, opts, callback=None, *, mask=None, style_masks=None,
                init=None) -> Image.Image:
        img = content if isinstance(content, LoadedImage) else load_image(content)
        return Image.fromarray(255 - (np.asarray(img.rgb) * 255).round().astype(np.uint8))

    def frames(self, styles, opts):
        return lambda x: 1 - x


def load(path, runtime, *, opts=None) -> Negative:
    return Negative()
