"""The record of a job: what it was asked to do, its state and progress (``job.json``)."""

from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import OUT_OF_MEMORY, PainterlyError, is_out_of_memory

JOB_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")  # whole: fullmatch
FINAL = ("done", "failed", "cancelled")
# stylize: an image by optimisation; apply: an image by a style network (done at once);
# train: a style network; clip: a video clip by a network or by optimisation
KINDS = ("stylize", "apply", "train", "clip")


@dataclass
class Job:
    id: str
    content: str  # upload id of the image or clip ("" for training)
    styles: list[str]  # upload ids of the style images
    options: dict[str, Any]
    preset: str = ""
    kind: str = "stylize"
    model: str = ""  # the network used (apply, clip) or made (train)
    model_name: str = ""
    photos: list[str] = field(default_factory=list)  # training photos (upload ids)
    photo_folder: bool = False  # training on the server's photo folder
    mask: str = ""  # upload id of a label image (which style goes where), as --mask
    status: str = "queued"  # queued, running, done, failed, cancelled
    error: str = ""
    note: str = ""  # what a stopped job left behind
    created: float = field(default_factory=time.time)
    started: float = 0.0
    finished: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)
    # in memory only
    preview: bytes = field(default=b"", repr=False)
    preview_version: int = 0
    version: int = 0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    SAVED = ("id", "content", "styles", "options", "preset", "kind", "model", "model_name",
             "photos", "photo_folder", "mask", "status", "error", "note", "created", "started",
             "finished", "progress")

    def record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.SAVED}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Job:
        job = cls(**{k: rec[k] for k in cls.SAVED if k in rec})
        if job.kind not in KINDS:
            raise ValueError(f"unknown job kind {job.kind!r}")
        return job

    def changed(self) -> None:
        """Tell the progress streams that something changed."""
        self.version += 1

    def show(self, image_bytes: bytes) -> None:
        """A new preview (JPEG bytes)."""
        self.preview = image_bytes
        self.preview_version += 1


def new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


def error_message(e: BaseException) -> str:
    """One line for the page; never a traceback."""
    if isinstance(e, PainterlyError):
        return str(e).removeprefix("--")
    if is_out_of_memory(e):
        return OUT_OF_MEMORY
    return f"internal error ({type(e).__name__}); see the server log"
