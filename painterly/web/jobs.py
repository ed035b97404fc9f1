"""Jobs on disk, a queue, and one worker thread that runs them one at a time.

Layout of the data folder::

    uploads/<sha256>.<ext>       uploaded images and clips, named by the server
    models/<id>.safetensors      style networks trained from the page
    jobs/<job id>/job.json       settings and status, rewritten atomically on every change
    jobs/<job id>/result.png     the finished image (result.mp4: a clip), written atomically
    jobs/<job id>/thumb.jpg      a small copy for the gallery

A job has a ``kind`` (:data:`~painterly.web.records.KINDS`): ``stylize`` (an image by
optimisation, the default of old records), ``apply`` (an image by a style network: done at
once, outside the queue), ``train`` and ``clip``; :mod:`painterly.web.runners` does the work
of each.  On start, jobs that were queued are queued again; a job that was running when the
server stopped is queued again too if the stop was orderly (a training job goes on from its
checkpoint), and marked failed if it was not.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .. import methods
from ..config import Options, Runtime
from ..errors import Interrupted, PainterlyError, UsageError, is_out_of_memory
from ..images import save_bytes
from ..paths import TEMP_SUFFIX
from .models import Models
from .records import FINAL, JOB_ID, Job, error_message, new_id
from .runners import RESULTS, RUNNERS, Context, apply_job

if TYPE_CHECKING:
    from ..method import Method

log = logging.getLogger("painterly.web")

__all__ = ["FINAL", "JOB_ID", "Job", "Studio"]

LOCK = ".lock"  # held by the one server that uses a data folder


class FolderInUse(UsageError):
    """The data folder is used by another studio (one line, exit status 2)."""


def lock_folder(root: Path) -> int:
    """An open descriptor of ``root/.lock`` holding an exclusive lock on it (released when
    it is closed, or when the process ends however it ends); :class:`FolderInUse` when
    another studio holds it."""
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise FolderInUse(f"--data-dir {root} is used by another painterly serve; stop it "
                          "or use another --data-dir") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def sweep_leftovers(uploads: Path, jobs_dir: Path) -> list[Path]:
    """Remove what a killed server left half written (call with the data folder locked):
    temporary ``.*.part`` files in ``uploads`` and in each job's folder, and job folders
    without a ``job.json`` (a network on an image killed while it painted).  Nothing else
    is touched.  The paths removed."""
    gone: list[Path] = []
    folders = [p for p in _entries(jobs_dir) if JOB_ID.fullmatch(p.name) and _is_dir(p)]
    for folder in folders:
        if not (folder / "job.json").exists():
            shutil.rmtree(folder, ignore_errors=True)
            gone.append(folder)
    for folder in [uploads, *(f for f in folders if f not in gone)]:
        for p in _entries(folder):
            if p.name.startswith(".") and p.name.endswith(TEMP_SUFFIX) and _is_file(p):
                try:
                    p.unlink()
                except OSError as e:
                    log.warning("cannot remove the leftover %s: %s", p, e)
                    continue
                gone.append(p)
    for p in gone:
        log.info("removed %s, left half written by a server that was killed", p)
    return gone


def _entries(folder: Path) -> list[Path]:
    try:
        return sorted(folder.iterdir())
    except OSError:
        return []


def _is_dir(p: Path) -> bool:
    return p.is_dir() and not p.is_symlink()


def _is_file(p: Path) -> bool:
    return p.is_file() and not p.is_symlink()


class QueueFull(PainterlyError):
    """No room in the queue (answered 429)."""


class Studio:
    """The job store, the queue and its worker."""

    def __init__(self, data_dir: str | Path, weights: str | None = None, device: str = "auto",
                 preview_interval: float = 0.5, model_folders: list[str | Path] = (),
                 photo_folder: str | Path | None = None, fast_model: str = ""):
        self.root = Path(data_dir).expanduser()
        self.fast_model = fast_model  # the any-painting model (none: the shipped one)
        self.uploads = self.root / "uploads"
        self.jobs_dir = self.root / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        # one server a folder: a second one would take the first one's running job for a
        # crashed one and run its queued jobs again
        self._lock_fd: int | None = lock_folder(self.root)
        try:
            self._setup(weights, device, preview_interval, model_folders, photo_folder)
        except BaseException:
            self.release()
            raise

    def _setup(self, weights: str | None, device: str, preview_interval: float,
               model_folders: list[str | Path], photo_folder: str | Path | None) -> None:
        for d in (self.uploads, self.jobs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.models = Models(self.root / "models", model_folders, device)
        self.photo_folder = Path(photo_folder) if photo_folder else None
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
        # the methods of stylize and clip jobs by (method, warm start), made on first use and
        # kept; they and the quick looks take one VGG-19 (in float32 with its 205 MB of
        # Winograd kernels)
        self._kept = methods.Kept(self._runtime())
        self.vgg = self._kept.vgg
        self._applying = threading.Semaphore(2)  # networks run at once from requests
        sweep_leftovers(self.uploads, self.jobs_dir)  # safe: the folder is locked
        self._load()

    # ---- persistence ------------------------------------------------------------------

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    def result_path(self, job: Job) -> Path | None:
        """The job's result file (None for kinds without one, e.g. training)."""
        name = RESULTS.get(job.kind)
        return self.job_dir(job.id) / name if name else None

    def _save(self, job: Job) -> None:
        job.changed()
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
            if not isinstance(job.id, str) or not JOB_ID.fullmatch(job.id) \
                    or path.parent.name != job.id:
                continue
            self.jobs[job.id] = job
            if job.status == "running":
                job.status, job.error = "failed", "the server stopped during this job"
                job.finished = time.time()
                self._save(job)
        queued = [j for j in self.jobs.values() if j.status == "queued"]
        self.queue = [j.id for j in sorted(queued, key=lambda j: j.created)]

    def scrub(self, message: str) -> str:
        """A message for the page without the server's paths in it."""
        places = [(str(self.photo_folder), "the server's photo folder")] \
            if self.photo_folder else []
        places += [(str(self.uploads) + "/", ""), (str(self.jobs_dir) + "/", "job "),
                   (str(self.root), "the studio's folder")]
        places += [(str(f), "a models folder") for f in self.models.folders]
        for path, word in sorted(places, key=lambda p: -len(p[0])):
            message = message.replace(path, word)
        return message

    # ---- queue --------------------------------------------------------------------------

    def _new(self, **fields: Any) -> Job:
        job = Job(new_id(), **fields)
        while job.id in self.jobs or self.job_dir(job.id).exists():
            job.id = new_id()
        return job

    def submit(self, content: str, styles: list[str], options: dict[str, Any],
               preset: str = "", limit: int | None = None, **fields: Any) -> Job:
        """Queue a job (``fields``: kind, model, model_name, photos, photo_folder);
        :class:`QueueFull` when ``limit`` jobs wait already (checked and queued at once, so
        that requests at the same moment cannot all pass the check)."""
        with self._cond:
            if limit is not None and len(self.queue) >= limit:
                raise QueueFull(f"the queue is full ({limit} jobs); try again later")
            job = self._new(content=content, styles=list(styles), options=dict(options),
                            preset=preset, **fields)
            self._save(job)
            self.jobs[job.id] = job
            self.queue.append(job.id)
            self._cond.notify_all()
        return job

    def apply(self, content: str, model: str, options: dict[str, Any]) -> Job:
        """A style network on an image, at once in the caller's thread (not queued); the
        result is kept like a job's.  Errors are raised (nothing is kept)."""
        job = self._new(content=content, styles=[], options=dict(options), kind="apply",
                        model=model, status="running", started=time.time())
        folder = self.job_dir(job.id)
        folder.mkdir(parents=True)
        try:
            with self._applying:
                apply_job(job, self._context(job))
            job.status, job.finished = "done", time.time()
            job.progress = {"elapsed": round(job.finished - job.started, 3)}
            self._save(job)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        with self._cond:
            self.jobs[job.id] = job
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
        """Remove a finished job and its files (a model it trained stays)."""
        job = self.jobs[job_id]
        if job.status not in FINAL:
            raise PainterlyError("cancel the job before deleting it")
        shutil.rmtree(self.job_dir(job_id), ignore_errors=True)
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

    def release(self) -> None:
        """Let another studio use the data folder (after :meth:`stop`)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

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
                job.changed()
            finally:
                self.current = None

    def stylizer(self, opts: Options | None = None) -> Method:
        """The method ``opts`` asks for (its ``method``, and a warm start: ``init="fast"``;
        None: optimisation), made on first use and kept (weights, targets, statistics)."""
        return self._kept.get(opts or Options())

    def _runtime(self) -> Runtime:
        return Runtime(weights=self.weights or "", device=self.device,
                       fast_model=self.fast_model)

    def _context(self, job: Job) -> Context:
        return Context(self.uploads, self.job_dir(job.id), self.models,
                       self._runtime(), self.stylizer, self.vgg,
                       lambda: job.cancel.is_set() or self._stopping, self.preview_interval,
                       self.photo_folder)

    def _run(self, job: Job) -> None:
        try:
            RUNNERS[job.kind](job, self._context(job))
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
            job.status, job.error = "failed", self.scrub(error_message(e))
            if is_out_of_memory(e) and torch.cuda.is_available():
                torch.cuda.empty_cache()
        job.finished = time.time() if job.status != "queued" else 0.0
        self._save(job)
