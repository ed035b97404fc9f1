"""Jobs on disk, a queue, and one worker thread that runs them one at a time.

Layout of the data folder::

    uploads/<sha256>.<ext>       uploaded images, named by the server
    jobs/<job id>/job.json       settings and status, rewritten atomically on every change
    jobs/<job id>/result.png     the finished image, written atomically
    jobs/<job id>/thumb.jpg      a small copy for the gallery

On start, jobs that were queued are queued again; a job that was running when the server
stopped is queued again too if the stop was orderly, and marked failed if it was not.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..api import Stylizer
from ..config import make_options
from ..engine import Progress
from ..errors import OUT_OF_MEMORY, Interrupted, PainterlyError, is_out_of_memory
from ..images import save_bytes, save_image
from .uploads import path_of

log = logging.getLogger("painterly.web")

JOB_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{8}$")
FINAL = ("done", "failed", "cancelled")
THUMB_SIDE = 360  # gallery pictures


@dataclass
class Job:
    id: str
    content: str
    styles: list[str]
    options: dict[str, Any]
    preset: str = ""
    status: str = "queued"  # queued, running, done, failed, cancelled
    error: str = ""
    created: float = field(default_factory=time.time)
    started: float = 0.0
    finished: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)
    # in memory only
    preview: bytes = field(default=b"", repr=False)
    preview_version: int = 0
    version: int = 0
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    SAVED = ("id", "content", "styles", "options", "preset", "status", "error", "created",
             "started", "finished", "progress")

    def record(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.SAVED}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Job:
        return cls(**{k: rec[k] for k in cls.SAVED if k in rec})


def new_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(4)


def error_message(e: BaseException) -> str:
    """One line for the page; never a traceback."""
    if isinstance(e, PainterlyError):
        return str(e).removeprefix("--")
    if is_out_of_memory(e):
        return OUT_OF_MEMORY
    return f"internal error ({type(e).__name__}); see the server log"


class Studio:
    """The job store, the queue and its worker."""

    def __init__(self, data_dir: str | Path, weights: str | None = None, device: str = "auto",
                 preview_interval: float = 0.5):
        self.root = Path(data_dir).expanduser()
        self.uploads = self.root / "uploads"
        self.jobs_dir = self.root / "jobs"
        for d in (self.uploads, self.jobs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.weights = weights
        self.device = device
        self.preview_interval = preview_interval
        self.jobs: dict[str, Job] = {}
        self.queue: list[str] = []
        self.current: str | None = None
        self._cond = threading.Condition()
        self._stopping = False
        self.closing = False  # set when the server is shutting down
        self._thread: threading.Thread | None = None
        self._stylizer: Stylizer | None = None
        self._load()

    # ---- persistence ------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def result_path(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "result.png"

    def _save(self, job: Job) -> None:
        job.version += 1
        d = self.job_dir(job.id)
        d.mkdir(parents=True, exist_ok=True)
        save_bytes(json.dumps(job.record(), indent=1).encode(), d / "job.json")

    def _load(self) -> None:
        for path in sorted(self.jobs_dir.glob("*/job.json")):
            try:
                job = Job.from_record(json.loads(path.read_text()))
            except (OSError, ValueError, TypeError) as e:
                log.warning("skipping %s: %s", path, e)
                continue
            if not JOB_ID.match(job.id) or path.parent.name != job.id:
                continue
            self.jobs[job.id] = job
            if job.status == "running":
                job.status, job.error = "failed", "the server stopped during this job"
                job.finished = time.time()
                self._save(job)
        queued = [j for j in self.jobs.values() if j.status == "queued"]
        self.queue = [j.id for j in sorted(queued, key=lambda j: j.created)]

    # ---- queue --------------------------------------------------------------------------

    def submit(self, content: str, styles: list[str], options: dict[str, Any],
               preset: str = "") -> Job:
        job = Job(new_id(), content, list(styles), dict(options), preset)
        while job.id in self.jobs:
            job.id = new_id()
        self._save(job)
        with self._cond:
            self.jobs[job.id] = job
            self.queue.append(job.id)
            self._cond.notify_all()
        return job

    def position(self, job_id: str) -> int | None:
        """1 for the next job to run, 2 for the one after...; None if not queued."""
        with self._cond:
            return self.queue.index(job_id) + 1 if job_id in self.queue else None

    def cancel(self, job_id: str) -> Job:
        job = self.jobs[job_id]
        with self._cond:
            if job.id in self.queue:
                self.queue.remove(job.id)
                job.status, job.finished = "cancelled", time.time()
                self._save(job)
            elif job.status == "running":
                job.cancel.set()
        return job

    def delete(self, job_id: str) -> None:
        job = self.jobs[job_id]
        if job.status not in FINAL:
            raise PainterlyError("cancel the job before deleting it")
        d = self.job_dir(job_id)
        for p in d.glob("*"):
            p.unlink(missing_ok=True)
        d.rmdir()
        self.jobs.pop(job_id, None)

    def listing(self) -> list[Job]:
        return sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)

    # ---- worker -------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._work, name="painterly-jobs",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after interrupting the running job (it is queued again for the next start)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _next(self) -> Job | None:
        with self._cond:
            while not self.queue and not self._stopping:
                self._cond.wait(1.0)
            if self._stopping:
                return None
            job = self.jobs[self.queue.pop(0)]
            self.current = job.id
            job.status, job.started, job.progress = "running", time.time(), {}
            self._save(job)
            return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                self._run(job)
            except Exception as e:  # e.g. the disk is full: report it, keep the worker
                log.exception("job %s: cannot record its outcome", job.id)
                job.status, job.error = "failed", error_message(e)
                job.version += 1
            finally:
                self.current = None

    def _run(self, job: Job) -> None:
        last = [0.0]

        def callback(p: Progress) -> None:
            if job.cancel.is_set() or self._stopping:
                raise Interrupted()
            job.progress = {"step": p.step, "total": p.total, "scale": p.scale + 1,
                            "scales": p.n_scales, "width": p.width, "height": p.height,
                            "elapsed": round(p.elapsed, 2), "eta": round(p.eta, 2),
                            "loss": round(p.losses.get("total", 0.0), 6)}
            now = time.monotonic()
            if now - last[0] >= self.preview_interval or p.step == p.total:
                last[0] = now
                buf = io.BytesIO()
                p.image().save(buf, format="JPEG", quality=85)
                job.preview = buf.getvalue()
                job.preview_version += 1
            job.version += 1

        try:
            opts = make_options(**job.options)
            content = str(path_of(self.uploads, job.content))
            styles = [str(path_of(self.uploads, s)) for s in job.styles]
            if self._stylizer is None:
                self._stylizer = Stylizer(self.weights, self.device)
            image = self._stylizer.run(content, styles, opts, callback)
            save_image(image, self.result_path(job.id))
            thumb = image.convert("RGB")
            thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
            save_image(thumb, self.job_dir(job.id) / "thumb.jpg")
            job.status = "done"
        except Interrupted:
            if self._stopping and not job.cancel.is_set():
                job.status = "queued"  # run it again after the restart
                job.progress = {}
            else:
                job.status = "cancelled"
        except Exception as e:  # the server keeps serving whatever one job does
            if not isinstance(e, PainterlyError):
                log.exception("job %s failed", job.id)
            msg = error_message(e).replace(str(self.uploads) + "/", "")
            job.status, job.error = "failed", msg
            if is_out_of_memory(e) and torch.cuda.is_available():
                torch.cuda.empty_cache()
        job.finished = time.time() if job.status != "queued" else 0.0
        self._save(job)
