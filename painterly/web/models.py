"""The style networks the studio offers, by ids it gives them, and a few kept loaded.

Two places hold models: ``<data dir>/models/<id>.safetensors``, written by training jobs of
the page (the id is the file's name), and the read-only folders given with
``painterly serve --models DIR``, whose every ``*.safetensors`` that loads as a painterly
model is offered under an id made from its path.  A request names a model only by its id;
a file that does not load is left out of the list with a warning in the server log.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import PainterlyError

if TYPE_CHECKING:
    from ..method import Method

log = logging.getLogger("painterly.web")

MODEL_ID = re.compile(r"[0-9a-f]{16}")  # whole: fullmatch
LOADED = 3  # networks kept loaded
PNG = b"\x89PNG\r\n\x1a\n"


class UnknownModel(PainterlyError):
    """An id that names no model (one line for the page)."""


@dataclass
class Entry:
    """One model offered to the page."""

    id: str
    path: Path
    stamp: tuple[int, int]  # (mtime_ns, size) of the file it was read from
    name: str
    arch: dict[str, Any]
    steps: int
    created: float
    trained_here: bool
    thumb: bytes  # PNG of the style image, or b""
    quality: dict[str, Any] | None = None  # the figure measured after training, if any
    preset: str = ""  # the training preset (quality, fast; "" before presets)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "width": self.arch.get("width"),
                "arch": self.arch, "preset": self.preset, "steps": self.steps,
                "created": self.created, "trained_here": self.trained_here,
                "thumb": f"/api/models/{self.id}/thumb.png" if self.thumb else None,
                "quality": _quality(self.quality)}


def _quality(q: dict[str, Any] | None) -> dict[str, Any] | None:
    """A network's quality figure as the page sees it: the numbers, one line saying them
    and the warning of a network far from converged (None); None for files without it."""
    if q is None:
        return None
    from ..network.quality import summary, warning

    keys = ("texture", "content", "grid", "photos", "size", "seen")
    return {**{k: q[k] if isinstance(q.get(k), (int, float)) else None for k in keys},
            "far_from_converged": q.get("far_from_converged") is True,
            "summary": summary(q), "warning": warning(q, "more steps")}


# the endings of a style picture's file name, which a network trained by the command line
# records as its style's name (the page records the name it was given)
PICTURE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def style_name(recorded: Any, path: Path) -> str:
    """The name of a network trained here: the name it recorded (a picture's file name
    without its ending; "Starry v2.1 final" stays whole), else its file's."""
    name = " ".join(str(recorded or "").split())
    if not name:
        return path.stem
    return Path(name).stem if Path(name).suffix.lower() in PICTURE_SUFFIXES else name


def new_model_id() -> str:
    return secrets.token_hex(8)


def _thumb(meta: dict[str, Any]) -> bytes:
    style = meta.get("style")
    text = style.get("thumbnail_png") if isinstance(style, dict) else None
    try:
        data = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except ValueError:
        return b""
    return data if data.startswith(PNG) else b""


class Models:
    """The model list (re-read when files change) and an LRU of loaded networks."""

    def __init__(self, own: Path, folders: Sequence[str | Path] = (), device: str = "auto"):
        self.own = Path(own)
        self.own.mkdir(parents=True, exist_ok=True)
        self.folders = [Path(f) for f in folders]
        self.device = device
        self._lock = threading.Lock()
        self._entries: dict[Path, Entry] = {}
        self._bad: dict[Path, tuple[int, int]] = {}  # files that did not load (warned once)
        self._loaded: OrderedDict[tuple[str, tuple[int, int]], Method] = OrderedDict()

    def path_for(self, model_id: str) -> Path:
        """Where a model trained here with this id is written."""
        return self.own / f"{model_id}.safetensors"

    def _files(self) -> list[tuple[Path, str, bool]]:
        """(file, id, trained here) of every candidate file."""
        out = [(p, p.stem, True) for p in sorted(self.own.glob("*.safetensors"))
               if MODEL_ID.fullmatch(p.stem)]
        for folder in self.folders:
            try:
                found = sorted(folder.glob("*.safetensors"))
            except OSError as e:
                log.warning("cannot list the models folder %s: %s", folder, e)
                continue
            for p in found:
                key = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:16]
                out.append((p, key, False))
        return out

    def _read(self, path: Path, model_id: str, stamp: tuple[int, int], own: bool
              ) -> Entry | None:
        from ..network.modelfile import load_model

        try:
            mf = load_model(path)
        except (PainterlyError, OSError) as e:
            if self._bad.get(path) != stamp:
                log.warning("models: skipping %s", e)
                self._bad[path] = stamp
            return None
        meta = mf.meta
        style = meta.get("style") if isinstance(meta.get("style"), dict) else {}
        name = style_name(style.get("name"), path) if own else path.stem
        steps = meta.get("steps")
        quality = meta.get("quality")
        return Entry(model_id, path, stamp, name[:80], mf.arch.to_dict(),
                     steps if isinstance(steps, int) else 0, stamp[0] / 1e9, own,
                     _thumb(meta), quality if isinstance(quality, dict) else None,
                     str(meta.get("preset") or "")[:20])

    def listing(self) -> list[Entry]:
        """Every model that loads, newest first; files read again only when they change."""
        with self._lock:
            seen: dict[Path, Entry] = {}
            ids: set[str] = set()
            for path, model_id, own in self._files():
                try:
                    st = path.stat()
                except OSError:
                    continue
                stamp = (st.st_mtime_ns, st.st_size)
                if model_id in ids or not path.is_file():
                    continue
                entry = self._entries.get(path)
                if entry is None or entry.stamp != stamp:
                    entry = self._read(path, model_id, stamp, own)
                if entry is not None:
                    seen[path] = entry
                    ids.add(model_id)
            self._entries = seen
            return sorted(seen.values(), key=lambda e: e.created, reverse=True)

    def get(self, model_id: Any) -> Entry:
        """The model with this id; :class:`UnknownModel` for anything else."""
        if not isinstance(model_id, str) or not MODEL_ID.fullmatch(model_id):
            raise UnknownModel("unknown model id")
        for e in self.listing():
            if e.id == model_id:
                return e
        raise UnknownModel("unknown model id (the model is gone; reload the page)")

    def method(self, model_id: str) -> tuple[Entry, Method]:
        """The model and its method (:func:`painterly.methods.for_model`), loaded once and
        kept while it is among the last few used (and its file has not changed)."""
        from .. import methods
        from ..config import Runtime

        entry = self.get(model_id)
        key = (entry.id, entry.stamp)
        with self._lock:
            net = self._loaded.get(key)
            if net is not None:
                self._loaded.move_to_end(key)
                return entry, net
        try:
            net = methods.for_model(entry.path, Runtime(device=self.device))
        except (PainterlyError, OSError) as e:  # changed since it was listed
            log.warning("models: cannot load %s", e)
            raise UnknownModel("the model's file cannot be read any more; see the server "
                               "log") from None
        with self._lock:
            self._loaded[key] = net
            self._loaded.move_to_end(key)
            while len(self._loaded) > LOADED:
                self._loaded.popitem(last=False)
        return entry, net
