"""Options: every option defined once, for the CLI, the Python API and the web studio.

Three dataclasses, each field made with :func:`option` (its default, type, help text and the
values it accepts):

* :class:`Options`: everything that decides the image (the web page may set every one);
* :class:`Runtime`: where it runs (device, weights file); it never changes the picture;
* :class:`MaskPaths`: file paths of the spatial-control masks.

The machinery below works for any such dataclass, so another options class (for instance
the options of training a network) gets it for free: :func:`add_flags` / :func:`from_args`
(argparse flags), :func:`options_schema` (the web form), :func:`coerce` (text to the field's
type), :func:`validate` (ranges, choices, and the class's own ``check`` of combinations),
:func:`make` (an instance from keyword arguments, checked) and :func:`options_markdown`
(the README table).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UsageError

INIT_CHOICES = ("palette", "content", "noise", "style", "fast")  # --init: these, or an image
INIT_INSTEAD = f"give a picture to start from, or one of {', '.join(INIT_CHOICES)}"
WARM_STARTS = ("fast",)  # --init values that are another method's picture (made by it)
REFINE_STEPS = 6  # --refine: by measurement, docs/fast.md (Refining)
# --animate's frames, longest side at most: its 60 or so frames are held until the end (at
# 2048 px about 0.5 GB; at 8192 px, 9 GB beside the optimisation's own memory)
ANIMATION_SIDE = 2048
METHODS = ("optimise", "fast")  # --method: the rooms of painterly.methods.ROOMS chosen by name

DEFAULT_CONTENT_LAYERS = ("relu4_2",)  # relu5_1 joins by --structure (objective.py)
DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")  # relu5_1: --structure
MAX_SEED = 2**63 - 1
DEVICE = re.compile(r"^(auto|cpu|cuda(:\d{1,3})?)$")


@dataclass(frozen=True)
class Spelling:
    """How messages name options: as command-line flags (``--style-weight: ...``), as the
    keyword arguments of the Python API (``style_weight=...``) or as the fields of the web
    studio's forms (``style_weight: ...``).  The checks are written once; the caller says
    which spelling its user knows."""

    keywords: bool = False  # names as the fields' (style_weight), not as flags
    colon: bool = False  # with keywords: "name: value" (the studio's), not "name=value"

    def name(self, field_name: str) -> str:
        """``--style-weight`` or ``style_weight``."""
        base = field_name.lstrip("-")
        return base.replace("-", "_") if self.keywords else "--" + base.replace("_", "-")

    def subject(self, name: str, value: Any) -> str:
        """The start of a message about ``value`` of option ``name`` (spelt already)."""
        if self.keywords and not self.colon:
            return f"{name}={_show(value)}"
        return f"{name}: {_show(value)}"

    def unknown(self, name: str, known: Sequence[str]) -> str:
        """The message for an option name that does not exist, with the nearest one."""
        import difflib

        names = sorted(self.name(k) for k in known)
        given = self.name(name)
        near = difflib.get_close_matches(given, names, n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(names)}"
        if self.keywords:
            return f"unknown keyword {given!r} ({hint})"
        return f"unknown option {name.replace('_', '-')!r} ({hint})"

    def rewrite(self, message: str, known: Sequence[str]) -> str:
        """``message`` (written with flags) with the flags of ``known`` options spelt this
        way."""
        if not self.keywords:
            return message
        names = set(known)
        return re.sub(r"--([a-z][a-z0-9-]*)",
                      lambda m: m[1].replace("-", "_") if m[1].replace("-", "_") in names
                      else m[0], message)


FLAGS = Spelling()
KEYWORDS = Spelling(keywords=True)
FIELDS = Spelling(keywords=True, colon=True)


def option(default: Any, help: str, *, choices: tuple | None = None, group: str = "advanced",
           minimum: float | None = None, maximum: float | None = None,
           metavar: str | None = None, web: bool = True, repeat: bool = False,
           page_label: str | None = None, page_help: str | None = None,
           page_slider: tuple | None = None, page_choices: dict[str, str] | None = None
           ) -> Any:
    """A dataclass field with what the CLI, the web form and validation need to know.

    A ``bool`` option is a switch: ``--NAME`` when it is off by default, ``--no-NAME`` when
    on.  ``web=False`` keeps it off the web page's forms; ``repeat`` (lists) makes the flag
    one value a time, given again for more (``--models A --models B``).

    ``page_label`` / ``page_help`` are the web page's plain words for a painter (an option
    with a page label is on the page's main panel; the others wait under Advanced with the
    CLI help); ``page_slider`` = (low, high, "lin" or "log") makes it a slider over that
    range; ``page_choices`` names each choice in plain words."""
    meta = {"help": help, "choices": choices, "group": group, "min": minimum, "max": maximum,
            "metavar": metavar, "web": web, "repeat": repeat, "page_label": page_label,
            "page_help": page_help, "page_slider": page_slider, "page_choices": page_choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


_opt = option


@dataclass
class Options:
    """Everything that decides what image comes out.  Where it runs is :class:`Runtime`;
    mask files are :class:`MaskPaths`; output paths live elsewhere."""

    # --- size and schedule -------------------------------------------------------------
    size: int = _opt(512, "Longest side of the output in pixels.", group="basic", minimum=16,
                     maximum=8192, page_label="Picture size",
                     page_help="The longest side of the painting, in pixels.  Bigger takes "
                               "longer.", page_slider=(32, 2048, "lin"))
    steps: int = _opt(0, "Optimizer steps at the output size; each coarser scale gets three "
                         "times as many, at most 120 (0 = automatic: L-BFGS 40 steps up to "
                         "256 px, 30 up to 384, 20 up to 768, 12 up to 1536, then 8; Adam 3x "
                         "as many).",
                      group="basic", minimum=0, maximum=100000)
    scales: int = _opt(0, "Number of coarse-to-fine scales, each twice the previous side "
                          "(0 = automatic: halve down to --min-scale-size; 1 = single scale "
                          "at the output size); at most as many distinct sides as there are "
                          "from 16 px up.", minimum=0, maximum=8)
    min_scale_size: int = _opt(160, "Side of the coarsest scale when scales are automatic.",
                               minimum=32, maximum=4096)

    # --- loss weights --------------------------------------------------------------------
    content_weight: float = _opt(1.0, "Weight alpha of the content loss.", group="basic",
                                 minimum=0.0)
    style_weight: float = _opt(40.0, "Weight beta of the style loss (style strength).",
                               group="basic", minimum=0.0,
                               page_label="More photo \u2194 more painting",
                               page_help="Left keeps more of the photo; right lets the "
                                         "painting's brushwork take over.",
                               page_slider=(2, 1000, "log"))
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
                              minimum=0.05, maximum=8.0, page_label="Brush size",
                              page_help="How big the painting's strokes and patterns are on "
                                        "your picture.", page_slider=(0.25, 3.0, "log"))
    structure: float = _opt(0.0, "How much of the painting's composition is carried over: "
                                 "0 = its brushwork only (its eyes, faces and objects never "
                                 "appear in the photo), 1 = its large shapes too.  It weights "
                                 "relu5_1, whose features span objects, in the style loss (s "
                                 "times an average style layer) and in the content loss "
                                 "(1 - s times relu4_2's weight).",
                            group="basic", minimum=0.0, maximum=1.0,
                            page_label="The painting's own shapes",
                            page_help="Left: only its brushwork.  Right: its large shapes "
                                      "and composition show through too.",
                            page_slider=(0, 1, "lin"))

    # --- optimisation --------------------------------------------------------------------
    init: str = _opt("palette", f"Start image: {', '.join(INIT_CHOICES)}, or a path to an "
                                "image (palette: the photo in the style's colours; fast: the "
                                "fast model's picture, a warm start).",
                     group="basic")
    optimizer: str = _opt("lbfgs", "Optimizer.", choices=("lbfgs", "adam"))
    lr: float = _opt(0.0, "Learning rate (0 = the optimizer's default: 1 for L-BFGS, "
                          "0.02 for Adam on pixels in 0..1).", minimum=0.0)
    seed: int = _opt(0, "Random seed; the same seed repeats a run bit for bit on the CPU.",
                     minimum=0, maximum=MAX_SEED)

    # --- network ---------------------------------------------------------------------------
    model: str = _opt("vgg19", "Network architecture; the weights file decides, and vgg16 "
                               "asks for VGG-16 weights.", choices=("vgg19", "vgg16"))
    pooling: str = _opt("max", "Pooling layers of the network.", choices=("max", "avg"))
    precision: str = _opt("auto", "Arithmetic of the network: auto (bfloat16 where fast), "
                                  "bf16 or fp32.", choices=("auto", "bf16", "fp32"))

    # --- colour (creative controls) ---------------------------------------------------------
    preserve_color: str = _opt("none", "Keep the content's colours: luminance-only transfer, or "
                                       "match the style's colour histogram to the content.",
                               choices=("none", "luminance", "histogram"), group="basic",
                               page_label="Keep the photo's colours",
                               page_help="Paint with the painting's colours, or keep your "
                                         "photo's.",
                               page_choices={"none": "No: the painting's colours",
                                             "luminance": "Yes: the photo's colours exactly",
                                             "histogram": "Mostly: the painting recoloured "
                                                          "like the photo"})

    # --- the way of stylizing ------------------------------------------------------------
    method: str = _opt("optimise", "Way of stylizing: optimise (the picture optimised against "
                                   "the painting's statistics, coarse to fine) or fast (one "
                                   "pass of the shipped any-painting model, about a second on "
                                   "a CPU).",
                       choices=METHODS)
    strength: float = _opt(1.0, "--method fast: how far the photo's feature statistics move "
                                "toward the painting's, 0 = the photo, 1 = the painting.",
                           minimum=0.0, maximum=1.0)
    refine: int = _opt(REFINE_STEPS, "--method fast: optimisation steps at 256 px that give "
                                     "the model's picture the painting's larger strokes (about "
                                     "0.1 s each on a 2-core CPU, whatever the size; 0 = the "
                                     "model's picture alone).",
                       minimum=0, maximum=200)

    def replace(self, **changes: Any) -> Options:
        return make(Options, self, spelling=KEYWORDS, **changes)

    def check(self, n_styles: int | None = None) -> None:
        """Combinations of options (and, given ``n_styles``, the number of style images)."""
        fast = self.method == "fast" or self.init in WARM_STARTS
        if self.refine != REFINE_STEPS and not fast:
            raise UsageError(f"--refine {self.refine} applies to --method fast (or --init "
                             f"fast); use --steps for the optimised picture")
        if self.strength != 1.0 and self.method != "fast":
            raise UsageError(f"--strength {self.strength:g} applies to --method fast; use "
                             f"--style-weight to weaken an optimised picture's style")
        if self.style_layer_weights and len(self.style_layer_weights) != len(self.style_layers):
            raise UsageError(f"--style-layer-weights: {len(self.style_layer_weights)} weights "
                             f"for {len(self.style_layers)} style layers")
        if not self.content_layers and self.content_weight > 0:
            raise UsageError("--content-layers: at least one layer is needed")
        if not self.style_layers:
            raise UsageError("--style-layers: at least one layer is needed")
        if self.style_blend_weights and sum(self.style_blend_weights) <= 0:
            raise UsageError("--style-blend-weights: the weights must not all be zero")
        if n_styles is not None:
            if n_styles < 1:
                raise UsageError("at least one style image is needed")
            n_blend = len(self.style_blend_weights)
            if n_blend and n_blend != n_styles:
                raise UsageError(f"--style-blend-weights: {n_blend} weights for {n_styles} "
                                 f"styles")

    @property
    def init_is_path(self) -> bool:
        """--init names an image file rather than one of INIT_CHOICES."""
        return self.init not in INIT_CHOICES


@dataclass
class Runtime:
    """Where a run happens and the files of the networks it reads."""

    weights: str = _opt("", "Path to a weights file (default: the cached original VGG-19; "
                            "env PAINTERLY_WEIGHTS).", metavar="PATH")
    fast_model: str = _opt("", "The any-painting model of --method fast and --init fast: a "
                               "file made by painterly train-fast (default: the one shipped "
                               "with painterly).", metavar="PATH")
    device: str = _opt("auto", "Where to run: auto, cpu, cuda or cuda:N.")

    def check(self) -> None:
        check_device(self.device)


@dataclass
class MaskPaths:
    """Spatial control from files (see painterly/masks.py)."""

    mask: str = _opt("", "Label image (PNG) that says which style goes where: its distinct "
                         "colours, in ascending order, take the style images in the order "
                         "given; with one colour more than styles, the darkest keeps the "
                         "content unstyled.", metavar="PATH")
    style_masks: list[str] = _opt([], "One grey mask per style image: only its bright part "
                                      "donates style ('-' for the whole image).",
                                  metavar="PATH")


@dataclass
class ClipOutput:
    """What the output of a clip keeps and how it is written (``stylize`` and ``apply`` of a
    clip); the encoder of each quality and container is painterly/video.py's ``ENCODERS``."""

    audio: bool = _opt(True, "Clips: leave the clip's audio out.", web=False)
    quality: str = _opt("web", "Encoder of a clip: web = H.264 4:2:0 in .mp4/.mov/.mkv (VP9 "
                               "in .webm), plays everywhere; high = 4:4:4 colour (H.264 High "
                               "4:4:4, VP9 profile 1; desktop players, few browsers); "
                               "lossless = the frames exactly (H.264 RGB, FFV1 in .mkv, VP9 "
                               "in .webm) for archiving or editing.  A .gif takes web only.",
                        choices=("web", "high", "lossless"), web=False)


IMAGE_TYPES = ("png", "jpg", "webp")


@dataclass
class FolderFormat:
    """The file type of images written into a folder (``apply``, ``sweep``)."""

    format: str = _opt("png", "File type of the images written into a folder.",
                       choices=IMAGE_TYPES, web=False)


@dataclass
class Extras:
    """What ``painterly stylize`` may write besides the picture."""

    save_every: int = _opt(0, "With --snapshots: save the image every N steps (0 = every 50).",
                           minimum=0, metavar="N", web=False)
    snapshots: str = _opt("", "Folder for intermediate images.", metavar="DIR", web=False)
    animate: str = _opt("", "Animation of the process (.gif or .mp4; frames at most "
                            f"{ANIMATION_SIDE} px on their longest side).", metavar="FILE",
                        web=False)
    log: str = _opt("", "CSV of the losses at every step.", metavar="FILE", web=False)
    plot: str = _opt("", "Plot of the losses per step (.png, .svg or .pdf).", metavar="FILE",
                     web=False)


@dataclass
class SweepOptions:
    """The grid of ``painterly sweep``."""

    vary: list[str] = _opt([], "An option and its values, e.g. style-weight=1e3,1e4,1e5; once "
                               "for the columns, a second time for the rows (';' separates "
                               "values that contain commas).", metavar="NAME=V1,V2,...",
                           repeat=True, web=False)
    thumb: int = _opt(256, "Longest side of each image on the sheet.", minimum=16,
                      maximum=4096, metavar="PX", web=False)


ALL = (Options, Runtime, MaskPaths)  # every option of an image the command line takes


def add_quiet_flag(p: argparse.ArgumentParser,
                   help: str = "no progress bar, notes or closing line") -> None:
    """``-q``: no progress on stderr (how a command reports, not an option of the result)."""
    p.add_argument("-q", "--quiet", action="store_true", help=help)


def add_output_flag(p: argparse.ArgumentParser, help: str, metavar: str = "OUT",
                    long: str = "--output") -> None:
    """``-o``: where a command writes (a path, not an option of the result), and
    ``--overwrite``: whether a file already there may be replaced (an earlier result is
    otherwise kept and the command refused; :func:`painterly.paths.refuse_existing`)."""
    p.add_argument("-o", long, dest=long[2:].replace("-", "_"), required=True,
                   metavar=metavar, help=help)
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that are already there (without it an "
                        "earlier result is kept and the command stops before any work)")


def fields_info(cls: type = Options) -> list[dataclasses.Field]:
    return list(dataclasses.fields(cls))


def _field_map(classes: Sequence[type]) -> dict[str, tuple[type, dataclasses.Field]]:
    return {f.name: (c, f) for c in classes for f in dataclasses.fields(c)}


LABELS = {"lr": "Learning rate", "tv_weight": "Smoothness (TV weight)",
          "style_weight": "Style strength", "content_weight": "Content weight",
          "init": "Start from", "preserve_color": "Preserve colour",
          "min_scale_size": "Coarsest scale (px)", "style_scale": "Style scale",
          "style_blend_weights": "Style blend weights", "scales": "Scales (coarse-to-fine)",
          "structure": "Structure size"}


def label(name: str) -> str:
    """A human label for an option (the web form's field titles)."""
    return LABELS.get(name, name.replace("_", " ").capitalize())


def options_schema(cls: type = Options) -> list[dict[str, Any]]:
    """A JSON-able description of every field of ``cls`` (for the web page)."""
    out = []
    defaults = cls()
    for f in fields_info(cls):
        m = f.metadata
        out.append({
            "name": f.name, "label": label(f.name), "type": _type_name(f),
            "default": getattr(defaults, f.name),
            "help": m["help"], "choices": list(m["choices"]) if m["choices"] else None,
            "group": m["group"], "min": m["min"], "max": m["max"],
            "page_label": m.get("page_label"), "page_help": m.get("page_help"),
            "page_slider": list(m["page_slider"]) if m.get("page_slider") else None,
            "page_choices": m.get("page_choices"),
        })
    return out


def _type_name(f: dataclasses.Field) -> str:
    t = str(f.type)
    if t.startswith("list[str"):
        return "list[str]"
    if t.startswith("list[float"):
        return "list[float]"
    return t


TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def coerce(name: str, value: Any, classes: Sequence[type] = ALL,
           spelling: Spelling = FLAGS) -> Any:
    """Convert a value given as text (CLI, web form, sweep) to the option's type."""
    fmap = _field_map(classes)
    if not isinstance(name, str) or name not in fmap:
        raise UsageError(spelling.unknown(str(name), list(fmap)))
    t = _type_name(fmap[name][1])
    flag = spelling.name(name)
    if value is None and _unset(fmap[name][1]) is not None:  # None: not given (Python)
        return _unset(fmap[name][1])
    if t == "int":
        return parse_int(flag, value)
    if t == "float":
        return parse_float(flag, value)
    if t == "bool":
        return parse_bool(flag, value)
    try:
        if t == "list[str]":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return [str(v) for v in value]
        if t == "list[float]":
            if isinstance(value, str):
                value = [v for v in value.replace(",", " ").split() if v]
            if not isinstance(value, (list, tuple)):
                raise TypeError
            return [parse_float(flag, v) for v in value]
        if isinstance(value, (dict, list, tuple)):
            raise TypeError
        return str(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag}: expects {t}, got {_show(value)}") from None


def _unset(f: dataclasses.Field) -> str | list | None:
    """The value of an option that is off unless given ('-' in the tables: "" or an empty
    list), which None also means; None for every other option."""
    if f.default == "":
        return ""
    if f.default_factory is not dataclasses.MISSING and f.default_factory() == []:
        return []
    return None


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= 40 else text[:37] + "..."


def parse_float(flag: str, value: Any, kind: str = "float") -> float:
    """A finite number (a plain float) from text or a number of any kind (numpy's too:
    ``numbers.Real``, not a bool); UsageError naming ``flag`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, str)):
        raise UsageError(f"{flag}: expects {kind}, got {_show(value)}")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise UsageError(f"{flag}: expects {kind}, got '{_show(value)}'") from None
    if not math.isfinite(number):
        raise UsageError(f"{flag}: '{_show(value)}' is not a finite number")
    return number


def parse_bool(flag: str, value: Any) -> bool:
    """True or False from a bool or text (true/false, yes/no, on/off, 1/0)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise UsageError(f"{flag}: expects true or false, got {_show(value)}")


def parse_int(flag: str, value: Any) -> int:
    """A whole number (a plain int) from text or a number of any kind, numpy's too (``1e3``
    is fine, ``2.5`` is not, nor is a bool)."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if re.fullmatch(r"[+-]?\d{1,30}", text):
            return int(text)
    number = parse_float(flag, value, "int")
    if number != int(number):
        raise UsageError(f"{flag}: '{_show(value)}' is not a whole number")
    return int(number)


def check_range(flag: str, value: float, minimum: float | None = None,
                maximum: float | None = None, spelling: Spelling = FLAGS) -> None:
    """UsageError when ``value`` is not finite or outside ``minimum..maximum``."""
    who = spelling.subject(flag, value)
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{who} is not a finite number")
    if minimum is not None and value < minimum:
        raise UsageError(f"{who} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise UsageError(f"{who} is above the maximum {maximum}")


def check_device(name: str) -> str:
    """The device name if it is auto, cpu, cuda or cuda:N; UsageError otherwise."""
    if not isinstance(name, str) or not DEVICE.match(name):
        raise UsageError(f"--device: '{_show(name)}' is not auto, cpu, cuda or cuda:N "
                         "(N a GPU number from 0)")
    return name


def _check_type(flag: str, t: str, v: Any) -> None:
    """UsageError when an option holds a value of the wrong kind (e.g. set in Python)."""
    ok = {"int": lambda x: isinstance(x, numbers.Integral),
          "float": lambda x: isinstance(x, numbers.Real),
          "str": lambda x: isinstance(x, str),
          "bool": lambda x: isinstance(x, bool),
          "list[str]": lambda x: isinstance(x, list) and all(isinstance(i, str) for i in x),
          "list[float]": lambda x: isinstance(x, list)
          and all(isinstance(i, numbers.Real) and not isinstance(i, bool) for i in x),
          }.get(t, lambda x: True)
    if t.startswith("list") and isinstance(v, tuple) and ok(list(v)):
        raise UsageError(f"{flag}: expects a list, got the tuple {_show(v)}; write it in "
                         f"[ ]")
    if (isinstance(v, bool) and t != "bool") or not ok(v):
        raise UsageError(f"{flag}: expects {t}, got {_show(v)}")


def _plain(opts: Any, name: str, t: str, v: Any) -> Any:
    """The field's number as a plain int or float, stored so (a number of another kind, such
    as numpy's, is accepted but would fail further on, e.g. as a seed)."""
    if t == "int" and type(v) is not int:
        v = int(v)
    elif t == "float" and type(v) not in (int, float):
        v = float(v)
    elif t == "list[float]" and any(type(w) not in (int, float) for w in v):
        v = [w if type(w) in (int, float) else float(w) for w in v]  # all checked numbers
    else:
        return v
    object.__setattr__(opts, name, v)  # frozen option classes too
    return v


def validate(opts: Any, *args: Any, spelling: Spelling = FLAGS, **kwargs: Any) -> Any:
    """Check every field's range and choices, then the class's own ``check(*args,
    **kwargs)`` of combinations (for :class:`Options`: ``n_styles``, the number of style
    images); raise UsageError with one clear line, naming options as ``spelling`` says
    (flags for the command line, keyword arguments for the Python API).  Numbers of other
    kinds than int and float (numpy's) are stored in ``opts`` as plain ones.  Returns
    ``opts``."""
    for f in dataclasses.fields(opts):
        m = f.metadata
        v = getattr(opts, f.name)
        flag = spelling.name(f.name)
        if m["choices"] and v not in m["choices"]:
            raise UsageError(f"{spelling.subject(flag, v)} is not one of "
                             f"{', '.join(m['choices'])}")
        _check_type(flag, _type_name(f), v)
        v = _plain(opts, f.name, _type_name(f), v)
        if isinstance(v, (int, float)):
            check_range(flag, v, m["min"], m["max"], spelling)
        if isinstance(v, list) and f.name.endswith("weights"):
            if any(not isinstance(w, (int, float)) or isinstance(w, bool) or not math.isfinite(w)
                   or w < 0 for w in v):
                raise UsageError(f"{flag}: weights must be non-negative finite numbers")
    check = getattr(opts, "check", None)
    if check is not None:
        try:
            check(*args, **kwargs)
        except UsageError as e:
            names = [f.name for f in dataclasses.fields(opts)]
            raise UsageError(spelling.rewrite(str(e), names)) from None
    return opts


def make(cls: type, base: Any = None, *, spelling: Spelling = FLAGS, **overrides: Any) -> Any:
    """An instance of ``cls`` from keyword arguments (text or typed), checked, with clear
    errors for unknown names or bad values (named as ``spelling`` says); ``base`` may be a
    dict of field values too."""
    if isinstance(base, dict):
        overrides, base = {**base, **overrides}, None
    elif base is not None and not isinstance(base, cls):
        raise TypeError(f"options: expected {cls.__name__} (or a dict of its fields), got "
                        f"{type(base).__name__}")
    changes = {}
    for k, v in overrides.items():
        k = k.replace("-", "_")
        changes[k] = coerce(k, v, (cls,), spelling)
    return validate(dataclasses.replace(base or cls(), **changes), spelling=spelling)


def make_options(base: Options | None = None, *, spelling: Spelling = FLAGS,
                 **overrides: Any) -> Options:
    """Options from keyword arguments, with clear errors for unknown names or bad values."""
    return make(Options, base, spelling=spelling, **overrides)


def split(kwargs: dict[str, Any], classes: Sequence[type] = ALL,
          spelling: Spelling = FLAGS) -> list[dict[str, Any]]:
    """Keyword arguments sorted by the class they belong to (one dict per class); an unknown
    name is a UsageError."""
    fmap = _field_map(classes)
    out: list[dict[str, Any]] = [{} for _ in classes]
    for k, v in kwargs.items():
        name = k.replace("-", "_")
        if name not in fmap:
            coerce(name, v, classes, spelling)  # raises the unknown-option error
        out[classes.index(fmap[name][0])][name] = v
    return out


# --- command-line flags ---------------------------------------------------------------

def add_flags(p: argparse.ArgumentParser, cls: type, skip: Sequence[str] = (),
              title: str | None = None) -> None:
    """One flag per field of ``cls`` (defaults are left unset so that only given flags
    count: see :func:`from_args`), under ``title`` in the help (default: main options and
    more options, by the fields' groups)."""
    defaults = cls()
    groups = {g.title: g for g in p._action_groups}
    for f in fields_info(cls):
        if f.name in skip:
            continue
        name = title or ("main options" if f.metadata["group"] == "basic" else "more options")
        g = groups.get(name) or groups.setdefault(name, p.add_argument_group(name))
        g.add_argument(flag_name(f, defaults), **_flag_kwargs(f, getattr(defaults, f.name)))


def flag_name(f: dataclasses.Field, defaults: Any) -> str:
    """``--name``; ``--no-name`` for a switch that is on by default."""
    off = _type_name(f) == "bool" and getattr(defaults, f.name) is True
    return ("--no-" if off else "--") + f.name.replace("_", "-")


def _flag_kwargs(f: dataclasses.Field, default: Any) -> dict[str, Any]:
    """argparse's keywords of an option's flag (its default left unset: None)."""
    m = f.metadata
    t = _type_name(f)
    if t == "bool":
        return {"dest": f.name, "default": None, "action": "store_const",
                "const": not default, "help": m["help"]}
    shown = " ".join(map(str, default)) if isinstance(default, list) else default
    kw: dict = {"dest": f.name, "default": None,
                "help": f"{m['help']} [default: {shown if shown != '' else 'none'}]"}
    if t.startswith("list"):
        if m["repeat"]:
            kw["action"] = "append"
        else:
            kw["nargs"] = "+"
        kw["metavar"] = m["metavar"] or "X"
    else:
        kw["metavar"] = m["metavar"] or ("{" + ",".join(m["choices"]) + "}" if m["choices"]
                                         else f.name.split("_")[-1].upper())
    return kw


def given_flags(args: argparse.Namespace, cls: type, names: Sequence[str] | None = None
                ) -> list[str]:
    """The flags of ``cls`` given on the command line (only those of ``names`` when given),
    spelt as typed: ``--steps``, ``--no-temporal``."""
    defaults = cls()
    return [flag_name(f, defaults) for f in fields_info(cls)
            if (names is None or f.name in names) and getattr(args, f.name, None) is not None]


def clip_flags_note(flags: Sequence[str], what: str, meant: str = "clips") -> str:
    """The note for flags given where they do nothing: clip flags for pictures (``what``:
    "a still picture does", "pictures do"), or picture flags (``meant`` "pictures") for a
    clip ("a clip does")."""
    one = len(flags) == 1
    return (f"painterly: note: {', '.join(flags)} {'is' if one else 'are'} for {meant}; "
            f"{what} not use {'it' if one else 'them'}")


def from_args(cls: type, args: argparse.Namespace, base: Any = None) -> Any:
    """An instance of ``cls`` from the flags given on the command line (others: ``base`` or
    the defaults), checked."""
    given = {f.name: getattr(args, f.name) for f in fields_info(cls)
             if getattr(args, f.name, None) is not None}
    return make(cls, base, **given)


def options_markdown(classes: Sequence[type] = ALL) -> str:
    """The options table of the README (kept in sync by a test)."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for cls in classes:
        defaults = cls()
        for f in fields_info(cls):
            d = getattr(defaults, f.name)
            shown = " ".join(map(str, d)) if isinstance(d, list) else str(d)
            shown = "off" if isinstance(d, bool) else shown  # a switch: not given
            choices = f" One of: {', '.join(f.metadata['choices'])}." \
                if f.metadata["choices"] else ""
            rows.append(f"| `{flag_name(f, defaults)}` | `{shown or '-'}` | "
                        f"{f.metadata['help']}{choices} |")
    return "\n".join(rows) + "\n"


def warm_start_options(opts: Options) -> Options:
    """The options of the picture a warm start (``--init fast``) begins from: the same
    options, painted by the method ``opts.init`` names, from its own default start."""
    return dataclasses.replace(opts, method=opts.init, init="palette")
