"""One options dataclass for the CLI, the Python API and the web studio.

Every option is defined once, here: its default, its type, its help text and
the values it accepts.  ``cli.py`` builds argparse flags from these fields,
``api.stylize`` takes them as keyword arguments, and the web page receives
them as JSON from :func:`options_schema`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

DEFAULT_CONTENT_LAYERS = ("relu4_2",)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")


def _opt(default: Any, help: str, *, choices: tuple | None = None, group: str = "advanced",
         minimum: float | None = None, maximum: float | None = None, web: bool = True,
         metavar: str | None = None) -> Any:
    meta = {"help": help, "choices": choices, "group": group, "min": minimum, "max": maximum,
            "web": web, "metavar": metavar}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Options:
    """Everything that decides what image comes out.  Output paths live elsewhere."""

    # --- size and schedule -------------------------------------------------------------
    size: int = _opt(512, "Longest side of the output in pixels.", group="basic", minimum=16,
                     maximum=8192)
    steps: int = _opt(0, "Optimizer steps at the output size; each coarser scale gets three "
                         "times as many, at most 120 (0 = automatic: L-BFGS 40 steps up to "
                         "256 px, 30 up to 384, 20 up to 768, 12 up to 1536, then 8; Adam 3x "
                         "as many).",
                      group="basic", minimum=0, maximum=100000)
    scales: int = _opt(0, "Number of coarse-to-fine scales, each twice the previous side "
                          "(0 = automatic: halve down to --min-scale-size; 1 = single scale "
                          "at the output size).", minimum=0, maximum=8)
    min_scale_size: int = _opt(160, "Side of the coarsest scale when scales are automatic.",
                               minimum=32, maximum=4096)

    # --- loss weights --------------------------------------------------------------------
    content_weight: float = _opt(1.0, "Weight alpha of the content loss.", group="basic",
                                 minimum=0.0)
    style_weight: float = _opt(20.0, "Weight beta of the style loss (style strength).",
                               group="basic", minimum=0.0)
    tv_weight: float = _opt(1.0e-3, "Weight of the total-variation smoothness prior.",
                            minimum=0.0)
    content_layers: list[str] = _opt(list(DEFAULT_CONTENT_LAYERS),
                                     "Content layers, e.g. relu4_2 (Keras names like "
                                     "block4_conv2 work too).", metavar="LAYER")
    style_layers: list[str] = _opt(list(DEFAULT_STYLE_LAYERS), "Style layers.",
                                   metavar="LAYER")
    style_layer_weights: list[float] = _opt([], "Per-layer style weights w_l, one per style "
                                                "layer, used as given (default: equal, each "
                                                "layer relative to its target's energy).",
                                            metavar="W")

    # --- styles ---------------------------------------------------------------------------
    style_blend_weights: list[float] = _opt([], "Blend weights of several style images "
                                                "(default: equal).", metavar="W")
    style_scale: float = _opt(1.0, "Size of the style image relative to the output.",
                              minimum=0.05, maximum=8.0)
    structure: float = _opt(1.0, "How large the painting's structures carried into the image "
                                 "may be, as a fraction of the painting's longest side: 1 = "
                                 "anything up to its composition (every style layer at full "
                                 "weight); lower values keep its objects (faces, figures) out "
                                 "and only its brushwork in.  A style layer whose receptive "
                                 "field spans a fraction f of the style image at a scale is "
                                 "weighted by min(1, structure / f)^2, and the style layer "
                                 "weights are then rescaled to their former sum.",
                            group="basic", minimum=0.01, maximum=1.0)

    # --- optimisation --------------------------------------------------------------------
    init: str = _opt("content", "Start image: content, noise, style, or a path to an image.",
                     group="basic")
    optimizer: str = _opt("lbfgs", "Optimizer.", choices=("lbfgs", "adam"))
    lr: float = _opt(0.0, "Learning rate (0 = the optimizer's default: 1 for L-BFGS, "
                          "0.02 for Adam on pixels in 0..1).", minimum=0.0)
    seed: int = _opt(0, "Random seed; the same seed repeats a run bit for bit on the CPU.",
                     minimum=0)

    # --- network ---------------------------------------------------------------------------
    model: str = _opt("vgg19", "Network architecture; the weights file decides, and vgg16 "
                               "asks for VGG-16 weights.", choices=("vgg19", "vgg16"))
    pooling: str = _opt("max", "Pooling layers of the network.", choices=("max", "avg"))
    weights: str = _opt("", "Path to a weights file (default: the cached original VGG-19; "
                            "env PAINTERLY_WEIGHTS).", web=False, metavar="PATH")
    device: str = _opt("auto", "Where to run: auto, cpu, cuda or cuda:N.", web=False)
    precision: str = _opt("auto", "Arithmetic of the network: auto (bfloat16 where fast), "
                                  "bf16 or fp32.", choices=("auto", "bf16", "fp32"))

    # --- colour (creative controls) ---------------------------------------------------------
    preserve_color: str = _opt("none", "Keep the content's colours: luminance-only transfer, or "
                                       "match the style's colour histogram to the content.",
                               choices=("none", "luminance", "histogram"), group="basic")

    # --- spatial control (creative controls; see painterly/masks.py) ----------------------
    mask: str = _opt("", "Label image (PNG) that says which style goes where: its distinct "
                         "colours, in ascending order, take the style images in the order "
                         "given; with one colour more than styles, the darkest keeps the "
                         "content unstyled.", web=False, metavar="PATH")
    style_masks: list[str] = _opt([], "One grey mask per style image: only its bright part "
                                      "donates style ('-' for the whole image).", web=False,
                                  metavar="PATH")

    def replace(self, **changes: Any) -> Options:
        return validate(dataclasses.replace(self, **changes))


def fields_info() -> list[dataclasses.Field]:
    return list(dataclasses.fields(Options))


LABELS = {"lr": "Learning rate", "tv_weight": "Smoothness (TV weight)",
          "style_weight": "Style strength", "content_weight": "Content weight",
          "init": "Start from", "preserve_color": "Preserve colour",
          "min_scale_size": "Coarsest scale (px)", "style_scale": "Style scale",
          "style_blend_weights": "Style blend weights", "scales": "Scales (coarse-to-fine)",
          "structure": "Structure size"}


def label(name: str) -> str:
    """A human label for an option (the web form's field titles)."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def options_schema() -> list[dict[str, Any]]:
    """A JSON-able description of every option (for the web page)."""
    out = []
    defaults = Options()
    for f in fields_info():
        m = f.metadata
        out.append({
            "name": f.name, "label": label(f.name), "type": _type_name(f),
            "default": getattr(defaults, f.name),
            "help": m["help"], "choices": list(m["choices"]) if m["choices"] else None,
            "group": m["group"], "min": m["min"], "max": m["max"], "web": m["web"],
        })
    return out


def _type_name(f: dataclasses.Field) -> str:
    t = str(f.type)
    if t.startswith("list[str"):
        return "list[str]"
    if t.startswith("list[float"):
        return "list[float]"
    return t


def coerce(name: str, value: Any) -> Any:
    """Convert a value given as text (CLI, web form, sweep) to the option's type."""
    fmap = {f.name: f for f in fields_info()}
    if name not in fmap:
        known = ", ".join(sorted(n.replace("_", "-") for n in fmap))
        raise UsageError(f"unknown option '{name.replace('_', '-')}' (known: {known})")
    t = _type_name(fmap[name])
    try:
        if t == "int":
            if isinstance(value, str):
                value = float(value)
            if float(value) != int(value):
                raise ValueError
            return int(value)
        if t == "float":
            return float(value)
        if t == "list[str]":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            return [str(v) for v in value]
        if t == "list[float]":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            return [float(v) for v in value]
        return str(value)
    except (TypeError, ValueError):
        raise UsageError(f"option '{name.replace('_', '-')}' expects {t}, got {value!r}") from None


def validate(opts: Options) -> Options:
    """Check ranges and choices; raise UsageError with one clear line."""
    for f in fields_info():
        m = f.metadata
        v = getattr(opts, f.name)
        flag = "--" + f.name.replace("_", "-")
        if m["choices"] and v not in m["choices"]:
            raise UsageError(f"{flag}: '{v}' is not one of {', '.join(m['choices'])}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if v != v:
                raise UsageError(f"{flag}: not a number")
            if m["min"] is not None and v < m["min"]:
                raise UsageError(f"{flag}: {v} is below the minimum {m['min']}")
            if m["max"] is not None and v > m["max"]:
                raise UsageError(f"{flag}: {v} is above the maximum {m['max']}")
        if isinstance(v, list) and f.name.endswith("weights"):
            if any(w < 0 or w != w for w in v):
                raise UsageError(f"{flag}: weights must be non-negative numbers")
    if opts.device != "auto" and not (opts.device in ("cpu", "cuda")
                                      or opts.device.startswith("cuda:")):
        raise UsageError(f"--device: '{opts.device}' is not auto, cpu, cuda or cuda:N")
    if opts.style_layer_weights and len(opts.style_layer_weights) != len(opts.style_layers):
        raise UsageError(f"--style-layer-weights: {len(opts.style_layer_weights)} weights for "
                         f"{len(opts.style_layers)} style layers")
    if not opts.content_layers and opts.content_weight > 0:
        raise UsageError("--content-layers: at least one layer is needed")
    if not opts.style_layers:
        raise UsageError("--style-layers: at least one layer is needed")
    return opts


def make_options(base: Options | None = None, **overrides: Any) -> Options:
    """Options from keyword arguments, with clear errors for unknown names or bad values."""
    opts = base or Options()
    changes = {}
    for k, v in overrides.items():
        k = k.replace("-", "_")
        changes[k] = coerce(k, v)
    return validate(dataclasses.replace(opts, **changes))


def options_markdown() -> str:
    """The options table of the README (kept in sync by a test)."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    defaults = Options()
    for f in fields_info():
        d = getattr(defaults, f.name)
        shown = " ".join(map(str, d)) if isinstance(d, list) else str(d)
        choices = f" One of: {', '.join(f.metadata['choices'])}." if f.metadata["choices"] else ""
        rows.append(f"| `--{f.name.replace('_', '-')}` | `{shown or '-'}` | "
                    f"{f.metadata['help']}{choices} |")
    return "\n".join(rows) + "\n"
