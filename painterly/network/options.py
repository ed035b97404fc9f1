"""Options of a style network, defined once (flags, web schema, validation and the README
table come from :mod:`painterly.config`'s machinery): :class:`ApplyOptions` (``painterly
apply``, the studio's networks) and :class:`TrainOptions` (``painterly train``).

The loss options mean what they mean for ``painterly stylize`` (same help text, same
ranges: :func:`_like` copies them from :class:`~painterly.config.Options`), with defaults
chosen for training a network.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..config import Options, make, option
from ..errors import UsageError

if TYPE_CHECKING:
    from .transform import Arch

_STYLE_FIELDS = {f.name: f for f in dataclasses.fields(Options)}
PRESERVE = ("none", "luminance")
RUNTIMES = ("auto", "torch", "onnxruntime")
MIN_SIZE = 16
MIN_WIDTH = 4
# The layouts --preset names (width, blocks, downs, down, up) and their style weights, by
# measurement: docs/networks.md, Presets.  quality: two stride-2 halving stages (a third
# stage lost the finest strokes and the photo) and ten residual blocks at the quarter-size
# map, where the five of earlier versions fell short of stylize's strokes a few dozen pixels
# wide (an hour on a 2-core CPU: texture 1.30x stylize's against 1.56x with five blurred
# stages, recognizability 0.83; the grid term keeps the stride's pattern away); style weight
# 80.  fast: three stride-2 stages at half the width and five blocks, style weight 40.
PRESETS: dict[str, dict[str, Any]] = {
    "quality": {"width": 16, "blocks": 10, "downs": 2, "down": "stride", "up": "nearest",
                "style_weight": 80.0},
    "fast": {"width": 8, "blocks": 5, "downs": 3, "down": "stride", "up": "nearest",
             "style_weight": 40.0},
}
# Chosen by measurement (docs/video.md, Detail kept): with the grid lock and the blend that
# keeps the finest band's energy, 0.8 cut a sliding object's flicker by 81% at +8% texture
# (0.5: -64%, +9%).
CLIP_BLEND = 0.8


@dataclass
class ApplyOptions:
    """A trained style network on images or a clip (``painterly apply``, the studio)."""

    size: int = option(0, "Longest side of the outputs in pixels (0 = each input's own "
                          "size).", group="basic", minimum=0, maximum=8192, metavar="PX",
                       page_label="Picture size",
                       page_help="The longest side of the painting, in pixels.",
                       page_slider=(32, 2048, "lin"))
    preserve_color: str = option("none", "luminance: keep the photo's colours.",
                                 choices=PRESERVE, group="basic",
                                 page_label="Keep the photo's colours",
                                 page_help="Paint with the painting's colours, or keep "
                                           "your photo's.",
                                 page_choices={"none": "No: the painting's colours",
                                               "luminance": "Yes: the photo's colours"})
    strength: float = option(1.0, "Blend with the photo: 1 = fully stylized, 0 = the photo.",
                             group="basic", minimum=0.0, maximum=1.0, metavar="S",
                             page_label="More photo \u2194 more painting",
                             page_help="Left: your photo.  Right: fully painted.",
                             page_slider=(0, 1, "lin"))
    blend: float = option(CLIP_BLEND, "Clips: anti-flicker, mix each frame with the previous "
                                      "output carried by the optical flow (0 = off, 1 = "
                                      "strongest).", minimum=0.0, maximum=1.0, metavar="A",
                          page_label="Steadier video",
                          page_help="Videos: less flicker, by mixing each frame with the "
                                    "last where nothing moved (0 = off).",
                          page_slider=(0, 1, "lin"))
    batch: int = option(4, "Images of the same size run together, up to N.", minimum=1,
                        maximum=256, metavar="N", web=False)
    precision: str = option("auto", "Arithmetic: auto (bfloat16 where fast), bf16 or fp32.",
                            choices=("auto", "bf16", "fp32"), web=False)
    runtime: str = option("auto", "What runs the network: auto (onnxruntime for float32 on "
                                  "the CPU where it is installed, torch otherwise), torch, or "
                                  "onnxruntime (float32 on the CPU; pip install "
                                  "'painterly[onnx]').", choices=RUNTIMES, web=False)

    def check(self) -> None:
        if 0 < self.size < MIN_SIZE:
            raise UsageError(f"--size: {self.size} is below the minimum {MIN_SIZE} (0 keeps "
                             "each input's own size)")


def _like(name: str, default: Any = dataclasses.MISSING, group: str | None = None) -> Any:
    """A field with the help, range and choices of the Options field ``name``."""
    f = _STYLE_FIELDS[name]
    m = dict(f.metadata)
    if default is dataclasses.MISSING:
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    return option(default, m["help"], choices=m["choices"], group=group or m["group"],
                  minimum=m["min"], maximum=m["max"], metavar=m["metavar"])


@dataclass
class TrainFiles:
    """Where training reads and writes, and how (not options of the network)."""

    photos: str = option("", "Folder of photos to train on (any photos; e.g. COCO); for "
                             "serve, a folder that training jobs may use without uploading "
                             "(the page never sees its path).", metavar="DIR", web=False)
    previews: str = option("", "Folder for preview images of the held-out photos.",
                           metavar="DIR", web=False)
    workers: int = option(0, "Processes decoding photos (for large folders).", minimum=0,
                          maximum=64, metavar="N", web=False)
    init_from: str = option("", "Start from the weights of this style network (any painting's, "
                                "the same layout: --preset, --width, --blocks, --downs, "
                                "--down, --up) rather than from random ones.", metavar="MODEL",
                            web=False)
    resume: bool = option(False, "Continue from MODEL.ckpt with its options, to the --steps "
                                 "given (more or fewer than its plan) or to its own plan.",
                          web=False)


@dataclass
class TrainOptions:
    """Everything that decides the trained network (where it runs is Runtime)."""

    # --- schedule --------------------------------------------------------------------------
    steps: int = option(2000, "Training steps (batches).", group="basic", minimum=1,
                        maximum=10_000_000, page_label="Training steps",
                        page_help="More steps make a stronger network; the measured quality "
                                  "came after 2000.")
    batch: int = option(4, "Photos per step, over all processes under torchrun (a multiple "
                           "of their number).", group="basic", minimum=1, maximum=4096,
                        page_label="Photos per step",
                        page_help="How many photos each step learns from together.")
    minutes: float = option(0.0, "Train for this long (0 = --steps): the steps are planned "
                                 "from the time of a step on this machine, measured before "
                                 "the first and again as the run goes, so that the run, its "
                                 "learning-rate decay and the closing measurement end "
                                 "within it; --steps is then not used.", group="basic",
                            minimum=0.0, maximum=1e6, web=False)
    lr: float = option(1e-3, "Adam learning rate.", minimum=1e-7, maximum=1.0)
    lr_decay: float = option(0.0, "Fraction of the steps, at the end, over which the "
                                  "learning rate falls to zero along a half cosine (0 = "
                                  "constant).", minimum=0.0, maximum=1.0)
    crop: int = option(256, "Side of the square crops trained on.", group="basic",
                       minimum=32, maximum=4096, page_label="Piece size",
                       page_help="The side of the square pieces of photos it learns on, in "
                                 "pixels.")
    photo_size: int = option(512, "Photos are resized to this longest side before cropping; "
                                  "the style image is seen as stylize sees it at this size.",
                             minimum=32, maximum=8192, page_label="Photo size",
                             page_help="Photos are first shrunk to this longest side; the "
                                       "painting's strokes are sized to match.")
    seed: int = option(0, "Random seed: network initialisation, held-out photos, crops and "
                          "order.", minimum=0)

    # --- the network -------------------------------------------------------------------------
    preset: str = option("quality", "The network's layout: quality (two halving stages, "
                                    "10 residual blocks, width 16: the strongest strokes) "
                                    "or fast (three halving stages, 5 blocks, width 8: the "
                                    "fastest to apply); --width, --blocks, --downs, --down "
                                    "and --up given change it.",
                         choices=tuple(PRESETS), group="basic", page_label="Network",
                         page_help="Quality paints the strongest strokes; fast paints about "
                                   "three times faster.",
                         page_choices={"quality": "quality", "fast": "fast"})
    width: int = option(0, "Channels of the network's first layer (0 = the preset's: 16 for "
                           "quality, 8 for fast; 32 = Johnson et al.; smaller is faster).",
                        group="basic", minimum=0, maximum=256, page_label="Network width",
                        page_help="0 = the network's own; wider learns more and paints "
                                  "slower.")
    blocks: int = option(0, "Residual blocks at the smallest map (0 = the preset's: 10 for "
                            "quality, 5 for fast).", minimum=0, maximum=32)
    downs: int = option(0, "Stages that halve the side (more = larger brush strokes, "
                           "faster, and a grid pattern at 8 pixels from 3 on; 0 = the "
                           "preset's: 2 for quality, 3 for fast).", minimum=0, maximum=4)
    down: str = option("auto", "How a stage halves the side: blur (a convolution, then a "
                               "fixed blur taken at stride 2: anti-aliased, Zhang 2019) or "
                               "stride (a stride-2 convolution: faster); auto = the "
                               "preset's.",
                       choices=("auto", "blur", "stride"))
    up: str = option("auto", "How a stage doubles the side on the way up, before its "
                             "convolution: nearest or bilinear; auto = the preset's.",
                     choices=("auto", "nearest", "bilinear"))

    # --- the perceptual objective (as for stylize) ------------------------------------------
    content_weight: float = _like("content_weight")
    style_weight: float = option(0.0, "Weight beta of the style loss (style strength; 0 = the "
                                      "preset's: " + ", ".join(
                                          f"{p['style_weight']:g} for {n}"
                                          for n, p in PRESETS.items()) + ").",
                                 group="basic", minimum=0.0, page_label="Style strength",
                                 page_help="How strongly it paints: 0 = the network's own ("
                                           + ", ".join(f"{p['style_weight']:g} for {n}"
                                                       for n, p in PRESETS.items())
                                           + "); lower keeps more of the photo.")
    tv_weight: float = _like("tv_weight")
    grid_weight: float = option(10.0, "Weight of the grid term: how much any phase of the "
                                      "network's 2^downs-pixel grid may stand out in the "
                                      "steps between neighbouring pixels (0 = none).",
                                minimum=0.0, maximum=1e4)
    content_layers: list[str] = _like("content_layers")
    style_layers: list[str] = _like("style_layers")
    style_layer_weights: list[float] = _like("style_layer_weights")
    style_scale: float = _like("style_scale")
    structure: float = _like("structure")
    precision: str = _like("precision")

    # --- what training writes ------------------------------------------------------------------
    holdout: int = option(4, "Photos held out of training; previews show them.", minimum=0,
                          maximum=1000, page_label="Photos kept aside",
                          page_help="Not trained on: the previews and the closing quality "
                                    "figure are taken on them.")
    preview_every: int = option(200, "Write a preview of the held-out photos every N steps "
                                     "(0 = only at the end).", minimum=0,
                                page_label="Preview every",
                                page_help="Show the network's picture every so many steps "
                                          "(0 = only at the end).")
    checkpoint_every: int = option(500, "Write a checkpoint (with the optimizer state) every "
                                        "N steps (0 = only on interruption and at the end).",
                                        minimum=0)

    def check(self) -> None:
        if 0 < self.width < MIN_WIDTH:
            raise UsageError(f"--width: {self.width} is below the minimum {MIN_WIDTH} (0 = "
                             f"the preset's)")
        if self.crop > self.photo_size:
            raise UsageError(f"--crop {self.crop} is larger than --photo-size "
                             f"{self.photo_size}: lower --crop or raise --photo-size")
        self.loss_options()  # the loss options' own checks

    def layout(self) -> dict[str, Any]:
        """The network's width, blocks, downs, down and up: the preset's, changed by the
        options given (``width``, ``blocks`` and ``downs`` not 0, ``down`` and ``up`` not
        auto)."""
        base = PRESETS[self.preset]
        return {"width": self.width or base["width"], "blocks": self.blocks or base["blocks"],
                "downs": self.downs or base["downs"],
                "down": base["down"] if self.down == "auto" else self.down,
                "up": base["up"] if self.up == "auto" else self.up}

    def arch(self) -> Arch:
        """The :class:`~.transform.Arch` of :meth:`layout` (checked)."""
        from .transform import Arch

        return Arch(**self.layout()).check()

    def check_photos(self, count: int, dashes: str = "--") -> None:
        """Enough photos for the held-out ones and a batch (training, and the studio before
        it queues a training job; ``dashes`` before the option names)."""
        d = dashes
        if self.holdout >= count:
            raise UsageError(f"{d}holdout: {self.holdout} of {count} photos held out leaves "
                             f"none to train on; add photos or lower {d}holdout (0 holds "
                             "none out)")
        if count - self.holdout < self.batch:
            raise UsageError(f"{d}photos: {count - self.holdout} to train on (after "
                             f"{self.holdout} held out), fewer than {d}batch {self.batch}; "
                             f"add photos or lower {d}batch")

    def style_strength(self) -> float:
        """The style weight trained with: ``style_weight``, or the preset's when it is 0."""
        return self.style_weight or PRESETS[self.preset]["style_weight"]

    def loss_options(self) -> Options:
        """The :class:`Options` of the perceptual objective."""
        return make(Options, style_weight=self.style_strength(), **{k: getattr(self, k) for k in (
            "content_weight", "tv_weight", "content_layers", "style_layers",
            "style_layer_weights", "style_scale", "structure", "precision")})


def default_work() -> int:
    """Photos the default recipe trains on (steps x batch)."""
    d = TrainOptions()
    return d.steps * d.batch
