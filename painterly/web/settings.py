"""Which options the page may set, the presets, and turning a form into options.

Everything comes from :func:`painterly.config.options_schema` of the options dataclasses:
:class:`~painterly.config.Options` (stylize), :class:`~painterly.network.options.TrainOptions`
(training a network), :class:`~painterly.network.options.ApplyOptions` (a network on an image
or a clip) and :class:`~painterly.optimise.clips.ClipOptions` (a clip by optimisation), less
the options marked ``web=False``.  Where it runs (:class:`~painterly.config.Runtime`) and mask
files are neither shown nor accepted, and ``init`` is limited to the built-in starting images
so that no request can name a file on the server.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import (
    FIELDS,
    INIT_CHOICES,
    MaskPaths,
    Options,
    Runtime,
    make,
    options_schema,
)
from ..errors import UsageError
from ..network.options import ApplyOptions, TrainOptions
from ..optimise.clips import ClipOptions

NOT_WEB = {f.name for cls in (Runtime, MaskPaths) for f in dataclasses.fields(cls)}
# every option a message may name (as a command-line flag: --style-layers)
OPTION_NAMES = sorted({f.name for cls in (Options, ApplyOptions, TrainOptions, ClipOptions,
                                          Runtime, MaskPaths)
                       for f in dataclasses.fields(cls)})
SIZES = {"size", "photo_size", "crop"}  # pixel sides, capped by the server's --max-size
MIN_SIDE = 16  # the page always names a size (no "the input's own")

# Presets only name options; the page applies them to the form before a run.
PRESETS: dict[str, dict[str, Any]] = {
    "quick preview": {"size": 256, "steps": 40, "scales": 1, "optimizer": "lbfgs"},
    "balanced": {"size": 512, "steps": 0, "scales": 0, "optimizer": "lbfgs"},
    "high quality": {"size": 1024, "steps": 300, "scales": 0, "optimizer": "lbfgs"},
}
DEFAULT_PRESET = "balanced"


# the page's own defaults where they differ from the command line's
WEB_DEFAULTS: dict[type, dict[str, Any]] = {ApplyOptions: {"size": 512}}


LONGEST_SHOWN = 40  # characters of a name or value a message repeats


def shown(text: Any) -> str:
    """``text`` as a message repeats it: cut to :data:`LONGEST_SHOWN` characters."""
    text = str(text)
    return text if len(text) <= LONGEST_SHOWN else text[:LONGEST_SHOWN - 3] + "..."


def unknown(what: str, name: Any, known: list[str], list_known: bool = False) -> str:
    """The message for a name that is not one of ``known``, with the nearest one
    (``list_known``: else every known one)."""
    import difflib

    near = difflib.get_close_matches(str(name)[:2 * LONGEST_SHOWN], known, n=1, cutoff=0.6)
    hint = f" (did you mean '{near[0]}'?)" if near else \
        f" (known: {', '.join(known)})" if list_known else ""
    return f"unknown {what} '{shown(name)}'{hint}"


def page_words(message: str) -> str:
    """``message`` with the options it names as the page names them (``style_layers``, not
    the command line's ``--style-layers``)."""
    return FIELDS.rewrite(message, OPTION_NAMES).removeprefix("--")


def web_base(cls: type) -> Any:
    """The defaults of ``cls`` on the page."""
    return dataclasses.replace(cls(), **WEB_DEFAULTS.get(cls, {}))


def web_schema(max_size: int, cls: type = Options) -> list[dict[str, Any]]:
    """The schema of the options of ``cls`` the page may set (``init`` as a choice, sizes
    capped)."""
    out = []
    hidden = {f.name for f in dataclasses.fields(cls) if not f.metadata["web"]}
    base = web_base(cls)
    for item in options_schema(cls):
        if item["name"] in hidden:
            continue
        item = dict(item, default=getattr(base, item["name"]))
        if item["name"] == "init":
            item["choices"] = list(INIT_CHOICES)
            item["help"] = ("Start image: palette (the photo in the painting's colours), "
                            "the content, noise, or the first style image.")
        if item["name"] in SIZES:
            item["max"] = min(item["max"] or max_size, max_size)
            item["min"] = max(item["min"] or MIN_SIDE, MIN_SIDE)
        out.append(item)
    return out


def parse_form(raw: Any, cls: type, max_size: int) -> Any:
    """An instance of ``cls`` from the page's values; UsageError with one clear line for
    anything refused."""
    if not isinstance(raw, dict):
        raise UsageError("options must be an object of name: value")
    allowed = {item["name"]: item for item in web_schema(max_size, cls)}
    given: dict[str, Any] = {}
    for name, value in raw.items():
        key = str(name).replace("-", "_")
        if key in NOT_WEB:
            raise UsageError(f"option '{name}' cannot be set from the web page")
        if key not in allowed:
            raise UsageError(unknown("option", name, sorted(allowed)))
        if value is None or (isinstance(value, str) and not value.strip()
                             and not allowed[key]["type"].startswith("list")):
            continue  # empty field: keep the default
        given[key] = value
    if "init" in given and given["init"] not in INIT_CHOICES:
        raise UsageError(f"init: '{shown(given['init'])}' is not one of "
                         f"{', '.join(INIT_CHOICES)}")
    opts = make(cls, web_base(cls), spelling=FIELDS, **given)
    for name in SIZES & set(allowed):
        if getattr(opts, name) < allowed[name]["min"]:
            raise UsageError(f"{name}: {getattr(opts, name)} is below the minimum "
                             f"{allowed[name]['min']}")
        if getattr(opts, name) > max_size:
            raise UsageError(f"{name}: {getattr(opts, name)} is above this server's limit of "
                             f"{max_size}")
    return opts


def web_options(raw: dict[str, Any], max_size: int) -> Options:
    """:class:`Options` from the page's values (see :func:`parse_form`), the layers named
    checked too, as a run checks them (a job with an unknown one was queued, then failed)."""
    from ..objective import layer_setup

    opts = parse_form(raw, Options, max_size)
    layer_setup(opts, opts.model)
    seen = round(opts.size * opts.style_scale)
    if seen > max_size:  # the painting is seen at size x style_scale
        raise UsageError(f"style_scale: at size {opts.size} a style scale of "
                         f"{opts.style_scale:g} sees the painting at {seen} px, above this "
                         f"server's limit of {max_size}; lower the style scale or the size")
    return opts


def clip_options(raw: dict[str, Any], max_size: int) -> tuple[Options, ClipOptions]:
    """The image options and the clip options of a clip by optimisation, from one form."""
    if not isinstance(raw, dict):
        raise UsageError("options must be an object of name: value")
    names = {item["name"] for item in web_schema(max_size, ClipOptions)}
    clip = {k: v for k, v in raw.items() if str(k).replace("-", "_") in names}
    rest = {k: v for k, v in raw.items() if k not in clip}
    return web_options(rest, max_size), parse_form(clip, ClipOptions, max_size)


def public_options(opts: Any) -> dict[str, Any]:
    """The options a job records: the web-settable ones."""
    return {f.name: getattr(opts, f.name) for f in dataclasses.fields(opts)
            if f.metadata["web"]}


def schema(max_size: int) -> dict[str, Any]:
    """Every form of the page."""
    return {"options": web_schema(max_size), "presets": PRESETS,
            "default_preset": DEFAULT_PRESET,
            "clip_options": web_schema(max_size, ClipOptions),
            "apply_options": web_schema(max_size, ApplyOptions),
            "train_options": web_schema(max_size, TrainOptions)}
