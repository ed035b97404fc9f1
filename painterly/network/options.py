"""Options of ``painterly train``, defined once (flags, web schema, validation and the README
table come from :mod:`painterly.config`'s machinery).

The loss options mean what they mean for ``painterly stylize`` (same help text, same
ranges: :func:`_like` copies them from :class:`~painterly.config.Options`), with defaults
chosen for training a network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import Options, make, option
from ..errors import UsageError

_STYLE_FIELDS = {f.name: f for f in dataclasses.fields(Options)}


def _like(name: str, default: Any = dataclasses.MISSING, group: str | None = None) -> Any:
    """A field with the help, range and choices of the Options field ``name``."""
    f = _STYLE_FIELDS[name]
    m = dict(f.metadata)
    if default is dataclasses.MISSING:
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return option(default, m["help"], choices=m["choices"], group=group or m["group"],
                  minimum=m["min"], maximum=m["max"], metavar=m["metavar"])


@dataclass
class TrainOptions:
    """Everything that decides the trained network (where it runs is Runtime)."""

    # --- schedule --------------------------------------------------------------------------
    steps: int = option(2000, "Training steps (batches).", group="basic", minimum=1,
                        maximum=10_000_000)
    batch: int = option(4, "Photos per step, over all processes under torchrun (a multiple "
                           "of their number).", group="basic", minimum=1, maximum=4096)
    lr: float = option(1e-3, "Adam learning rate.", minimum=1e-7, maximum=1.0)
    crop: int = option(256, "Side of the square crops trained on.", group="basic",
                       minimum=32, maximum=4096)
    photo_size: int = option(512, "Photos are resized to this longest side before cropping; "
                                  "the style image is seen as stylize sees it at this size.",
                             minimum=32, maximum=8192)
    seed: int = option(0, "Random seed: network initialisation, held-out photos, crops and "
                          "order.", minimum=0)

    # --- the network -------------------------------------------------------------------------
    width: int = option(16, "Channels of the network's first layer (32 = Johnson et al.; "
                            "smaller is faster).", group="basic", minimum=4, maximum=256)
    blocks: int = option(5, "Residual blocks.", minimum=0, maximum=32)
    downs: int = option(3, "Stride-2 stages (each halves the side; more = larger brush "
                           "strokes, faster).", minimum=1, maximum=4)

    # --- the perceptual objective (as for stylize) ------------------------------------------
    content_weight: float = _like("content_weight")
    style_weight: float = _like("style_weight")
    tv_weight: float = _like("tv_weight")
    content_layers: list[str] = _like("content_layers")
    style_layers: list[str] = _like("style_layers")
    style_layer_weights: list[float] = _like("style_layer_weights")
    style_scale: float = _like("style_scale")
    structure: float = _like("structure")
    precision: str = _like("precision")

    # --- what training writes ------------------------------------------------------------------
    holdout: int = option(4, "Photos held out of training; previews show them.", minimum=0,
                          maximum=1000)
    preview_every: int = option(200, "Write a preview of the held-out photos every N steps "
                                     "(0 = only at the end).", minimum=0)
    checkpoint_every: int = option(500, "Write a checkpoint (with the optimizer state) every "
                                        "N steps (0 = only on interruption).", minimum=0)

    def check(self) -> None:
        if self.crop > self.photo_size:
            raise UsageError(f"--crop {self.crop} is larger than --photo-size "
                             f"{self.photo_size}")
        self.loss_options()  # the loss options' own checks

    def loss_options(self) -> Options:
        """The :class:`Options` of the perceptual objective."""
        return make(Options, **{k: getattr(self, k) for k in (
            "content_weight", "style_weight", "tv_weight", "content_layers", "style_layers",
            "style_layer_weights", "style_scale", "structure", "precision")})
