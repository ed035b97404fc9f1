"""One small function per kind of job: it does the work through painterly's own API and
writes the job's files; :mod:`painterly.web.jobs` decides what the outcome means.

A runner reports progress on the job (``job.progress``, ``job.show(jpeg)``,
``job.changed()``) and raises :class:`~painterly.errors.Interrupted` when it stopped
because ``ctx.stop()`` said so.  Files a runner writes go to the job's folder, each written
atomically; a trained network goes to the studio's models folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..config import Options, Runtime, make, make_options, validate
from ..errors import Interrupted, UsageError
from ..images import save_image
from ..network.options import ApplyOptions
from ..optimise.clips import ClipOptions
from .models import Models
from .records import Job
from .uploads import path_of

if TYPE_CHECKING:
    import numpy as np

    from ..method import Method
    from ..weights import SharedWeights

THUMB_SIDE = 360  # gallery pictures
RESULTS = {"stylize": "result.png", "apply": "result.png", "clip": "result.mp4"}


@dataclass
class Context:
    """What a runner needs from the studio."""

    uploads: Path
    folder: Path  # the job's own folder
    models: Models
    runtime: Runtime
    stylizer: Callable[[Options], Method]  # the studio's method for these options, kept
    vgg: SharedWeights  # the studio's one VGG-19
    stop: Callable[[], bool]  # the job was cancelled or the server is stopping
    preview_interval: float = 0.5
    photo_folder: Path | None = None  # the server's --photos


def jpeg(image: Image.Image, side: int | None = None) -> bytes:
    im = image.convert("RGB")
    if side:
        im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def save_thumb(image: Image.Image, folder: Path) -> None:
    thumb = image.convert("RGB")
    thumb.thumbnail((THUMB_SIDE, THUMB_SIDE))
    save_image(thumb, folder / "thumb.jpg")


class Throttle:
    """True at most every ``interval`` seconds (and whenever ``final``)."""

    def __init__(self, interval: float):
        self.interval, self.last = interval, 0.0

    def __call__(self, final: bool = False) -> bool:
        now = time.monotonic()
        if final or now - self.last >= self.interval:
            self.last = now
            return True
        return False


def step_callback(job: Job, ctx: Context, frame: dict | None = None):
    """An optimiser callback (:class:`painterly.engine.Progress`) that reports on ``job``,
    shows previews and stops when asked; ``frame`` (clips) is kept in the progress."""
    due = Throttle(ctx.preview_interval)

    def callback(p) -> None:
        if ctx.stop():
            raise Interrupted()
        steps = {"step": p.step, "total": p.total, "scale": p.scale + 1,
                 "scales": p.n_scales, "width": p.width, "height": p.height,
                 "loss": round(p.losses.get("total", 0.0), 6)}
        if frame is None:
            job.progress = {**steps, "elapsed": round(p.elapsed, 2), "eta": round(p.eta, 2)}
        else:  # a clip: the clip's own pace and time left stay, not the frame's
            job.progress = {**(job.progress or {}), **frame, **steps}
        if frame is None and due(p.step == p.total):
            job.show(jpeg(p.image()))
        job.changed()

    return callback


# --- stylize: an image by optimisation ------------------------------------------------------

def stylize_job(job: Job, ctx: Context) -> None:
    opts = make_options(**job.options)
    content = str(path_of(ctx.uploads, job.content, "image"))
    styles = [str(path_of(ctx.uploads, s, "image")) for s in job.styles]
    mask = str(path_of(ctx.uploads, job.mask, "image")) if job.mask else None
    image = ctx.stylizer(opts).picture(content, styles, opts, step_callback(job, ctx),
                                       mask=mask)
    save_image(image, ctx.folder / RESULTS["stylize"])
    save_thumb(image, ctx.folder)


# --- apply: an image by a style network, at once -------------------------------------------

def apply_job(job: Job, ctx: Context) -> None:
    a = make(ApplyOptions, **job.options)
    entry, method = ctx.models.method(job.model)
    job.model_name = entry.name
    image = method.picture(path_of(ctx.uploads, job.content, "image"), [], a)
    save_image(image, ctx.folder / RESULTS["apply"])
    save_thumb(image, ctx.folder)


# --- train: a style network -----------------------------------------------------------------

def training_photos(job: Job, ctx: Context) -> Path:
    """The folder the trainer reads: the server's photo folder, or the job's uploaded photos
    linked (or copied) into the job's own folder under their server-made names."""
    if job.photo_folder:
        if ctx.photo_folder is None:
            raise UsageError("this server was started without a photo folder (--photos)")
        return ctx.photo_folder
    folder = ctx.folder / "photos"
    folder.mkdir(exist_ok=True)
    for uid in job.photos:
        src, dst = path_of(ctx.uploads, uid, "image"), folder / uid
        if not dst.exists():
            try:
                os.link(src, dst)
            except OSError:  # another file system, or no hard links there
                shutil.copyfile(src, dst)
    return folder


def train_job(job: Job, ctx: Context) -> None:
    """Train into the job's folder, then move the model into the models folder.  A cancel
    stops like Ctrl-C: the network trained so far becomes the model.  A server stop leaves
    the checkpoint, from which the job goes on after the restart."""
    from ..network.options import TrainOptions
    from ..network.train import checkpoint_path, train

    topts = make(TrainOptions, **job.options)
    style = path_of(ctx.uploads, job.styles[0], "image")
    photos = training_photos(job, ctx)
    out = ctx.folder / "model.safetensors"
    shown: list[Image.Image] = []

    def callback(p) -> None:
        rate = p.step / p.elapsed if p.elapsed > 0 else 0.0
        job.progress = {"step": p.step, "total": p.total, "elapsed": round(p.elapsed, 2),
                        "eta": round(p.eta, 2), "rate": round(rate, 3),
                        "losses": {k: round(v, 6) for k, v in p.losses.items()}}
        if p.preview is not None:
            shown[:] = [p.preview]
            job.show(jpeg(p.preview))
        job.changed()
        if ctx.stop():
            raise Interrupted()

    done = train(str(style), str(photos), str(out), topts, ctx.runtime,
                 resume=checkpoint_path(out).exists(), quiet=True,
                 style_name=job.model_name, callback=callback)
    if done.interrupted and not job.cancel.is_set():
        raise Interrupted()  # the server stops: go on from the checkpoint after the restart
    with Image.open(style) as im:  # the last preview, or else the style itself
        save_thumb(shown[0] if shown else im, ctx.folder)
    os.replace(out, ctx.models.path_for(job.model))
    checkpoint_path(out).unlink(missing_ok=True)
    if not job.photo_folder:
        shutil.rmtree(photos, ignore_errors=True)
    if done.interrupted:
        job.note = (f"stopped at step {done.steps} of {topts.steps}; the network trained so "
                    f"far is saved as the model '{job.model_name}'")
        raise Interrupted()


# --- clip: a video clip by a network or by optimisation -------------------------------------

def clip_frames(job: Job, ctx: Context, frame: dict) -> tuple[Callable, int]:
    """The per-frame stylizer of a clip job and its output size."""
    if job.model:
        a = make(ApplyOptions, **job.options)
        entry, method = ctx.models.method(job.model)
        job.model_name = entry.name
        return method.frames([], a), a.size
    from .. import methods

    names = {f.name for f in dataclasses.fields(ClipOptions)}
    opts = make(Options, **{k: v for k, v in job.options.items() if k not in names})
    clip = make(ClipOptions, **{k: v for k, v in job.options.items() if k in names})
    validate(opts, len(job.styles))
    styles = [path_of(ctx.uploads, s, "image") for s in job.styles]
    method = methods.for_options(opts, ctx.runtime, clip=clip,
                                 callback=step_callback(job, ctx, frame), vgg=ctx.vgg)
    return method.frames(styles, opts), opts.size


def clip_job(job: Job, ctx: Context) -> None:
    """Frames through :func:`painterly.video.process_clip` into ``result.mp4``; a cancel
    keeps nothing (the clip is written to a temporary name and only renamed when complete)."""
    from .. import video

    src = path_of(ctx.uploads, job.content, "clip")
    info = video.probe(src)
    frame = {"frame": 0, "frames": info.frames}
    fn, size = clip_frames(job, ctx, frame)
    due = Throttle(ctx.preview_interval)
    t0 = time.monotonic()

    def progress(done: int, total: int, rgb: np.ndarray) -> None:
        spent = time.monotonic() - t0
        fps = done / spent if spent > 0 else 0.0
        frame.update(frame=done, frames=total)
        job.progress = {**frame, "fps": round(fps, 3), "elapsed": round(spent, 2),
                        "eta": round((total - done) / fps, 2) if fps else 0.0}
        if done == 1:
            save_thumb(Image.fromarray(rgb), ctx.folder)
        if due(done == total):
            job.show(jpeg(Image.fromarray(rgb)))
        job.changed()
        if ctx.stop():
            raise Interrupted()

    status = video.process_clip(src, ctx.folder / RESULTS["clip"], fn, size, quiet=True,
                                info=info, progress=progress, partial=False)
    if status:
        with contextlib.suppress(OSError):
            (ctx.folder / "thumb.jpg").unlink()
        raise Interrupted()


RUNNERS: dict[str, Callable[[Job, Context], None]] = {
    "stylize": stylize_job, "train": train_job, "clip": clip_job}
