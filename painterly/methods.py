"""The registry of ways of stylizing: a kind -> the room that makes its method.

It lives above the rooms and below the callers.  ``painterly stylize`` (and the Python API)
take the method that ``--method`` names (:func:`for_options`); ``painterly apply`` and the
studio take the one a model file names in its metadata (:func:`for_model`).  A new room is
one entry in :data:`ROOMS`; the callers do not change.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import struct
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .config import WARM_STARTS, Options, Runtime, warm_start_options
from .errors import UsageError
from .paths import is_regular_file

if TYPE_CHECKING:
    from PIL import Image

    from .images import LoadedImage
    from .method import Method

# kind -> the module of its room that makes the method (imported when first used)
ROOMS: dict[str, str] = {
    "optimise": "painterly.optimise.stylizer",
    "network": "painterly.network.method",
    "fast": "painterly.fast.method",
}
OLD_MODEL_KIND = "network"  # model files written before they named their kind
MAX_HEADER = 16 * 2 ** 20


def room(kind: str) -> ModuleType:
    """The module of the room of ``kind``."""
    if kind not in ROOMS:
        raise UsageError(f"no way of stylizing is called '{kind}' (known: "
                         f"{', '.join(sorted(ROOMS))})")
    return importlib.import_module(ROOMS[kind])


def for_options(opts: Options, runtime: Runtime | None = None, **settings: Any) -> Method:
    """The method ``opts.method`` names, made for ``runtime`` with the room's ``settings``."""
    runtime = runtime or Runtime()
    make = room(opts.method).make
    if (opts.init in WARM_STARTS and opts.init != opts.method
            and "start_with" in inspect.signature(make).parameters):
        # --init fast: the method starts from the picture another method makes; both take
        # the one VGG-19 (its weights, and in float32 its Winograd kernels, loaded once)
        if settings.get("vgg") is None:
            from .weights import SharedWeights  # here: the registry imports no torch

            settings = {**settings, "vgg": SharedWeights(runtime.weights)}
        start = for_options(warm_start_options(opts), runtime, vgg=settings["vgg"])
        settings = {"start_with": start, **settings}
    return make(runtime, **_taken(make, settings))


class Kept:
    """Methods made on first use and kept, one per (method, warm start) that options ask
    for, all on one VGG-19 (a studio, a sweep): ``get(opts)``.  ``given`` methods are kept
    under their key from the start (a sweep's own Stylizer for plain optimisation)."""

    def __init__(self, runtime: Runtime, given: dict[tuple[str, str], Method] | None = None):
        from .weights import SharedWeights  # here: the registry imports no torch

        self.runtime = runtime
        self.vgg = SharedWeights(runtime.weights)
        self._made: dict[tuple[str, str], Method] = dict(given or {})

    def get(self, opts: Options) -> Method:
        key = (opts.method, opts.init if opts.init in WARM_STARTS else "")
        if key not in self._made:
            self._made[key] = for_options(opts, self.runtime, vgg=self.vgg)
        return self._made[key]


def for_model(path: str | os.PathLike, runtime: Runtime | None = None,
              **settings: Any) -> Method:
    """The method of a model file, loaded by the room of the kind its metadata names."""
    runtime = runtime or Runtime()
    kind = model_kind(path)
    loader = getattr(room(kind), "load", None)
    if loader is None:
        raise UsageError(f"{path}: a model of kind '{kind}', which has no model files")
    return loader(path, runtime, **_taken(loader, settings))


def for_apply(path: str | os.PathLike, runtime: Runtime | None = None,
              **settings: Any) -> Method:
    """The method of a model file for ``painterly apply`` (and its clips), which gives it no
    style picture: a model of a room that says its models paint with a painting given at
    run time (``NEEDS_STYLES``: the any-painting model) is refused in one line, before it is
    loaded."""
    kind = model_kind(path)
    home = room(kind)
    if getattr(home, "NEEDS_STYLES", False):
        flag = getattr(home, "MODEL_FLAG", "")
        raise UsageError(
            f"{path}: a model of kind '{kind}', which paints with a painting given at run "
            f"time: use 'painterly stylize PHOTO PAINTING -o OUT --method {kind}"
            f"{f' {flag} {path}' if flag else ''}'")
    return for_model(path, runtime, **settings)


def _taken(fn: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings ``fn`` takes: a caller passes what it has (a clip's steadier options),
    and a room without that setting goes without it."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in settings.items() if k in params}


def model_kind(path: str | os.PathLike) -> str:
    """The kind a model file names in its metadata (``painterly`` JSON, ``kind``).  A file
    that does not say (written before files named their kind), or that cannot be read here,
    is left to the network room, whose loader says what is wrong with it (special files
    too: they are refused there by type, before any read)."""
    if not is_regular_file(path):  # a FIFO or a device is never opened here
        return OLD_MODEL_KIND
    try:
        with open(path, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            head = json.loads(fh.read(n)) if 2 <= n <= MAX_HEADER else {}
        meta = json.loads(head["__metadata__"]["painterly"])
        kind = meta.get("kind", OLD_MODEL_KIND)
    except (OSError, struct.error, ValueError, KeyError, TypeError, AttributeError):
        return OLD_MODEL_KIND
    return kind if isinstance(kind, str) else OLD_MODEL_KIND


def pictures(method: Method, contents: Sequence[LoadedImage], opts: Any) -> list[Image.Image]:
    """A picture of each content (no styles): in batches where the method runs batches
    (``method.pictures``), else one at a time."""
    batched = getattr(method, "pictures", None)
    if batched is not None:
        return batched(contents, opts)
    return [method.picture(c, [], opts) for c in contents]


def tell_notes(method: Method) -> None:
    """Print what the method's model says of itself before it paints (a network's quality
    figure, and a warning when it is far from converged), one ``painterly:`` line each;
    nothing for methods without notes."""
    for line in getattr(method, "notes", ()):
        print(f"painterly: {line}", file=sys.stderr, flush=True)
