"""Which options the page may set, the presets, and turning a form into options.

Everything comes from :func:`painterly.config.options_schema` of the options dataclasses:
:class:`~painterly.config.Options` (stylize), :class:`~painterly.nets.options.TrainOptions`
(training a network), and the page's own :class:`ApplyOptions` (a network on an image or a
clip) and :class:`ClipSettings` (a clip by optimisation).  Where it runs
(:class:`~painterly.config.Runtime`) and mask files are neither shown nor accepted, and
``init`` is limited to the built-in starting images so that no request can name a file on
the server.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import INIT_CHOICES, MaskPaths, Options, Runtime, make, option, options_schema
from ..errors import UsageError
from ..nets.cli import CLIP_BLEND
from ..nets.options import TrainOptions
from ..videostyle import FRAME_STEPS, TEMPORAL_WEIGHT

NOT_WEB = {f.name for cls in (Runtime, MaskPaths) for f in dataclasses.fields(cls)}
SIZES = {"size", "photo_size", "crop"}  # pixel sides, capped by the server's --max-size

# Presets only name options; the page applies them to the form before a run.
PRESETS: dict[str, dict[str, Any]] = {
    "quick preview": {"size": 256, "steps": 40, "scales": 1, "optimizer": "lbfgs"},
    "balanced": {"size": 512, "steps": 0, "scales": 0, "optimizer": "lbfgs"},
    "high quality": {"size": 1024, "steps": 300, "scales": 0, "optimizer": "lbfgs"},
}
DEFAULT_PRESET = "balanced"


@dataclass
class ApplyOptions:
    """A trained style network on an image or a clip (as ``painterly apply``)."""

    size: int = option(512, "Longest side of the output in pixels.", group="basic",
                       minimum=16, maximum=8192, page_label="Picture size",
                       page_help="The longest side of the painting, in pixels.",
                       page_slider=(32, 2048, "lin"))
    preserve_color: str = option("none", "luminance: keep the photo's colours.",
                                 choices=("none", "luminance"), group="basic",
                                 page_label="Keep the photo's colours",
                                 page_help="Paint with the painting's colours, or keep "
                                           "your photo's.",
                                 page_choices={"none": "No: the painting's colours",
                                               "luminance": "Yes: the photo's colours"})
    strength: float = option(1.0, "Blend with the photo: 1 = fully stylized, 0 = the photo.",
                             group="basic", minimum=0.0, maximum=1.0,
                             page_label="More photo \u2194 more painting",
                             page_help="Left: your photo.  Right: fully painted.",
                             page_slider=(0, 1, "lin"))
    blend: float = option(CLIP_BLEND, "Clips: anti-flicker, mix each frame with the previous "
                                      "output carried by the optical flow (0 = off).",
                          minimum=0.0, maximum=1.0, page_label="Steadier video",
                          page_help="Videos: less flicker, by mixing each frame with the "
                                    "last where nothing moved (0 = off).",
                          page_slider=(0, 1, "lin"))


@dataclass
class ClipSettings:
    """A clip by optimisation (as ``painterly stylize clip.mp4 STYLE``); the image options
    apply to every frame."""

    frame_steps: int = option(FRAME_STEPS, "Clips: steps per frame after the first, which "
                                           "starts from the previous one carried by the flow.",
                              minimum=1, maximum=1000)
    temporal_weight: float = option(TEMPORAL_WEIGHT, "Clips: weight of the temporal loss "
                                                     "that keeps frames steady.", minimum=0.0)


def web_schema(max_size: int, cls: type = Options) -> list[dict[str, Any]]:
    """The schema of the options of ``cls`` the page may set (``init`` as a choice, sizes
    capped)."""
    out = []
    for item in options_schema(cls):
        item = dict(item)
        if item["name"] == "init":
            item["choices"] = list(INIT_CHOICES)
            item["help"] = ("Start image: palette (the photo in the painting's colours), "
                            "the content, noise, or the first style image.")
        if item["name"] in SIZES:
            item["max"] = min(item["max"] or max_size, max_size)
        out.append(item)
    return out


def parse_form(raw: Any, cls: type, max_size: int) -> Any:
    """An instance of ``cls`` from the page's values; UsageError with one clear line for
    anything refused."""
    if not isinstance(raw, dict):
        raise UsageError("options must be an object of name: value")
    allowed = {item["name"]: item for item in options_schema(cls)}
    given: dict[str, Any] = {}
    for name, value in raw.items():
        key = str(name).replace("-", "_")
        if key in NOT_WEB:
            raise UsageError(f"option '{name}' cannot be set from the web page")
        if key not in allowed:
            raise UsageError(f"unknown option '{name}'")
        if value is None or (isinstance(value, str) and not value.strip()
                             and not allowed[key]["type"].startswith("list")):
            continue  # empty field: keep the default
        given[key] = value
    if "init" in given and given["init"] not in INIT_CHOICES:
        raise UsageError(f"init: '{given['init']}' is not one of {', '.join(INIT_CHOICES)}")
    try:
        opts = make(cls, **given)
    except UsageError as e:
        raise UsageError(str(e).removeprefix("--")) from None
    for name in SIZES & set(allowed):
        if getattr(opts, name) > max_size:
            raise UsageError(f"{name}: {getattr(opts, name)} is above this server's limit of "
                             f"{max_size}")
    return opts


def web_options(raw: dict[str, Any], max_size: int) -> Options:
    """:class:`Options` from the page's values (see :func:`parse_form`)."""
    return parse_form(raw, Options, max_size)


def clip_options(raw: dict[str, Any], max_size: int) -> tuple[Options, ClipSettings]:
    """The image options and the clip options of a clip by optimisation, from one form."""
    if not isinstance(raw, dict):
        raise UsageError("options must be an object of name: value")
    names = {f.name for f in dataclasses.fields(ClipSettings)}
    clip = {k: v for k, v in raw.items() if str(k).replace("-", "_") in names}
    rest = {k: v for k, v in raw.items() if k not in clip}
    return web_options(rest, max_size), parse_form(clip, ClipSettings, max_size)


def public_options(opts: Any) -> dict[str, Any]:
    """The options a job records: the web-settable ones."""
    return dataclasses.asdict(opts)


def schema(max_size: int) -> dict[str, Any]:
    """Every form of the page."""
    return {"options": web_schema(max_size), "presets": PRESETS,
            "default_preset": DEFAULT_PRESET,
            "clip_options": web_schema(max_size, ClipSettings),
            "apply_options": web_schema(max_size, ApplyOptions),
            "train_options": web_schema(max_size, TrainOptions)}
