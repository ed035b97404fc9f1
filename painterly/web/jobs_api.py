"""Routes of the jobs: a stylization (an image or a clip) queued, listed, followed as
server-sent events, cancelled, deleted, and its files."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import Field

from ..config import FIELDS, Options, validate
from ..errors import PainterlyError, UsageError
from ..images import LoadedImage, check_content, load_image, upright_size
from ..network.options import ApplyOptions
from . import settings, uploads
from .common import Body, RangedFile, Site, checked, fail, get_job, public, queue_job, site
from .jobs import FINAL, Studio

router = APIRouter()


class JobRequest(Body):
    content: str = Field(max_length=64)
    styles: list[str] = Field(default_factory=list, max_length=8)
    model: str = Field(default="", max_length=64)  # a clip by a style network
    options: dict[str, Any] = Field(default_factory=dict)
    preset: str = Field(default="", max_length=40)
    mask: str = Field(default="", max_length=64)  # an uploaded label image (as --mask)


@router.post("/api/jobs", status_code=201)
def submit(req: JobRequest, s: Site = Depends(site)) -> dict[str, Any]:
    """A stylization by optimisation of an image or a clip, or a clip by a network."""
    kind, fields = checked(s, job_plan, req, s)
    preset = req.preset if req.preset in settings.PRESETS and not req.model else ""
    job = queue_job(s, req.content, req.styles, fields.pop("options"), preset, kind=kind,
                    **fields)
    return public(s, job)


def job_plan(req: JobRequest, s: Site) -> tuple[str, dict[str, Any]]:
    """The job's kind and fields, every option checked; UsageError otherwise."""
    studio, max_size = s.studio, s.limits.max_size
    if req.preset and req.preset not in settings.PRESETS:  # it was dropped unsaid
        raise UsageError(f"preset: '{req.preset}' is not one of "
                         f"{', '.join(settings.PRESETS)}")
    uploads.path_of(studio.uploads, req.content)
    clip = uploads.kind_of(req.content) == "clip"
    if clip and req.mask:
        raise UsageError("mask: painted regions are for photos, not clips")
    if req.model:
        if not clip:
            raise UsageError("model: an image is stylized by a network at once "
                             "(POST /api/apply); jobs take clips")
        if req.styles:
            raise UsageError("styles: a clip by a network takes no style images")
        entry = studio.models.get(req.model)
        opts = settings.parse_form(req.options, ApplyOptions, max_size)
        return "clip", {"options": settings.public_options(opts), "model": entry.id,
                        "model_name": entry.name}
    if not req.styles:
        raise UsageError("styles: pick at least one style image")
    for uid in req.styles:
        uploads.path_of(studio.uploads, uid, "image")
    if clip:
        opts, more = settings.clip_options(req.options, max_size)
        can_run(studio, opts, len(req.styles))
        return "clip", {"options": {**settings.public_options(opts),
                                    **settings.public_options(more)}}
    opts = settings.web_options(req.options, max_size)
    can_run(studio, opts, len(req.styles))
    content_fits(studio, req.content, opts.size)
    if req.mask:
        mask_fits(studio, req.mask, len(req.styles))
    return "stylize", {"options": settings.public_options(opts), "mask": req.mask}


def can_run(studio: Studio, opts: Options, n_styles: int) -> None:
    """The checks a run makes of its options before it starts (the blend weights against
    the styles) and a network the server has weights for; UsageError otherwise."""
    validate(opts, n_styles, spelling=FIELDS)
    if opts.model != "vgg19":
        arch = studio.vgg.get().arch
        if opts.model != arch:
            raise UsageError(f"model: this studio has {arch.upper().replace('VGG', 'VGG-')} "
                             f"weights only; choose {arch}")


def content_fits(studio: Studio, uid: str, size: int) -> None:
    """UsageError when the photo is too small to paint at ``size`` (read from its header)."""
    from PIL import Image

    with Image.open(uploads.path_of(studio.uploads, uid, "image")) as im:
        w, h = upright_size(im)
    check_content(LoadedImage(np.empty((h, w, 0), np.float32), None, "content"), size)


def mask_fits(studio: Studio, uid: str, n_styles: int) -> None:
    """UsageError when the label image cannot say where ``n_styles`` paintings go (too many
    or too few colours, a photo, transparent parts)."""
    from ..masks import label_regions

    img = load_image(uploads.path_of(studio.uploads, uid, "image"), profile=False)
    label_regions(dataclasses.replace(img, name=uid), n_styles, (8, 8), flag="mask")


@router.get("/api/jobs")
def list_jobs(s: Site = Depends(site)) -> dict[str, Any]:
    return {"jobs": [public(s, j) for j in s.studio.listing()], "running": s.studio.current,
            "queue": list(s.studio.queue)}


@router.get("/api/jobs/{job_id}")
def job_info(job_id: str, s: Site = Depends(site)) -> dict[str, Any]:
    return public(s, get_job(s, job_id))


@router.post("/api/jobs/{job_id}/cancel")
def cancel(job_id: str, s: Site = Depends(site)) -> dict[str, Any]:
    return public(s, s.studio.cancel(get_job(s, job_id).id))


@router.delete("/api/jobs/{job_id}")
def delete(job_id: str, s: Site = Depends(site)) -> dict[str, Any]:
    try:
        s.studio.delete(get_job(s, job_id).id)
    except PainterlyError as e:
        raise fail(409, str(e)) from None
    return {"deleted": job_id}


@router.api_route("/api/jobs/{job_id}/preview.jpg", methods=["GET", "HEAD"])
def preview(job_id: str, s: Site = Depends(site)) -> Response:
    job = get_job(s, job_id)
    if not job.preview:
        raise fail(404, "no preview yet")
    return Response(job.preview, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def result(s: Site, job_id: str, ext: str, download: bool) -> FileResponse:
    job = get_job(s, job_id)
    path = s.studio.result_path(job)
    if job.status != "done" or path is None or path.suffix != f".{ext}" or not path.is_file():
        raise fail(404, "this job has no result")
    name = f"painterly-{job.id}.{ext}"
    return RangedFile(path, media_type=uploads.MEDIA_TYPES[ext],
                        filename=name if download else None,
                        content_disposition_type="attachment" if download else "inline")


@router.api_route("/api/jobs/{job_id}/result.png", methods=["GET", "HEAD"])
def result_png(job_id: str, download: bool = False, s: Site = Depends(site)) -> FileResponse:
    return result(s, job_id, "png", download)


@router.api_route("/api/jobs/{job_id}/result.mp4", methods=["GET", "HEAD"])
def result_mp4(job_id: str, download: bool = False, s: Site = Depends(site)) -> FileResponse:
    """A clip, with range requests (seeking in the page's player)."""
    return result(s, job_id, "mp4", download)


@router.api_route("/api/jobs/{job_id}/thumb.jpg", methods=["GET", "HEAD"])
def thumb(job_id: str, s: Site = Depends(site)) -> FileResponse:
    job = get_job(s, job_id)
    path = s.studio.job_dir(job.id) / "thumb.jpg"
    if job.status not in FINAL or not path.is_file():
        raise fail(404, "this job has no picture")
    return RangedFile(path, media_type="image/jpeg")


@router.get("/api/jobs/{job_id}/events")
async def events(job_id: str, request: Request, s: Site = Depends(site)) -> StreamingResponse:
    return StreamingResponse(_stream(s, get_job(s, job_id).id, request),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _stream(s: Site, job_id: str, request: Request) -> AsyncIterator[str]:
    """The job as an event whenever it changes, until it ends; a keep-alive when quiet."""
    studio, job = s.studio, s.studio.jobs[job_id]
    seen: tuple = ()
    quiet = 0.0
    while not studio.closing and not await request.is_disconnected():
        state = (job.version, studio.position(job.id))
        if state != seen:
            seen, quiet = state, 0.0
            yield f"data: {json.dumps(public(s, job))}\n\n"
            if job.status in FINAL:
                return
        elif quiet > 15:
            quiet = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(0.1)
        quiet += 0.1
