"""Routes of the page itself, its forms and the uploads."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import FileResponse

from ..errors import PainterlyError
from ..version import __version__
from . import settings, uploads
from .common import RangedFile, Site, checked, fail, site

STATIC = Path(__file__).parent / "static"
UPLOADS = "/api/uploads"

router = APIRouter()


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/api/schema")
def schema(s: Site = Depends(site)) -> dict[str, Any]:
    return {**settings.schema(s.limits.max_size), "version": __version__,
            "limits": s.limits.to_json(), "photo_folder": s.studio.photo_folder is not None}


@router.post(UPLOADS, status_code=201)
async def upload(file: UploadFile = File(...), s: Site = Depends(site)) -> dict[str, Any]:
    limits = s.limits
    size = file.size if file.size is not None else 0
    too_big = f"the file is larger than {uploads.human_size(limits.max_bytes)}"
    if size > limits.max_body:
        raise fail(413, f"the file is larger than {uploads.human_size(limits.max_body)}")
    # the header first: a large file that is no image or clip is never read whole
    head = await asyncio.to_thread(uploads.read_head, file.file)
    if uploads.sniff(head) is None and size > limits.max_bytes:
        raise fail(413, too_big)
    kind = checked(s, uploads.check_header, head)
    if kind == "clip":
        return await _store_clip(file, size, s)
    if size > limits.max_bytes:
        raise fail(413, too_big)
    data = await file.read(limits.max_bytes + 1)
    try:
        item = await asyncio.to_thread(uploads.store, data, s.studio.uploads, limits)
    except PainterlyError as e:
        raise fail(400 if len(data) <= limits.max_bytes else 413, str(e)) from None
    return item.to_json()


async def _store_clip(file: UploadFile, size: int, s: Site) -> dict[str, Any]:
    if size > s.limits.max_clip_bytes:
        raise fail(413, "the clip is larger than "
                        f"{uploads.human_size(s.limits.max_clip_bytes)}")
    try:
        item = await asyncio.to_thread(uploads.store_clip, file.file, s.studio.uploads,
                                       s.limits)
    except PainterlyError as e:
        raise fail(413 if isinstance(e, uploads.TooLarge) else 400, str(e)) from None
    return item.to_json()


@router.api_route("/api/uploads/{upload_id}", methods=["GET", "HEAD"])  # HEAD: still there?
def get_upload(upload_id: str, s: Site = Depends(site)) -> FileResponse:
    try:
        path = uploads.path_of(s.studio.uploads, upload_id)
    except PainterlyError as e:
        raise fail(404, str(e)) from None
    return RangedFile(path, media_type=uploads.MEDIA_TYPES[path.suffix[1:]])
