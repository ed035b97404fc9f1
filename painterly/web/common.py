"""What every route of the studio shares: the studio and its limits (kept on the app), one-line
errors, and a job as the page sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException
from starlette.responses import MalformedRangeHeader, RangeNotSatisfiable

from ..errors import PainterlyError
from . import settings
from .jobs import FINAL, JOB_ID, Job, QueueFull, Studio
from .uploads import Limits


@dataclass
class Site:
    """The studio and the limits of one app."""

    studio: Studio
    limits: Limits


class Body(BaseModel):
    """A JSON request body: a field it does not know is refused with the nearest known one
    (a misspelt "style" for "styles" was dropped unsaid, then "styles: pick at least one")."""

    @model_validator(mode="before")
    @classmethod
    def _known_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            for name in data:
                if name not in known:
                    raise PydanticCustomError(
                        "unknown_field", settings.unknown("field", name, known, True))
        return data


def site(request: Request) -> Site:
    """The app's :class:`Site` (a FastAPI dependency)."""
    return request.app.state.site


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def checked(s: Site, fn, *args: Any) -> Any:
    """``fn(*args)``, its PainterlyError answered 400 with one line (options named as the
    page names them)."""
    try:
        return fn(*args)
    except PainterlyError as e:
        raise fail(400, settings.page_words(s.studio.scrub(str(e)))) from None


def get_job(s: Site, job_id: str) -> Job:
    if not JOB_ID.fullmatch(job_id) or job_id not in s.studio.jobs:
        raise fail(404, "no such job")
    return s.studio.jobs[job_id]


def queue_job(s: Site, *args: Any, **fields: Any) -> Job:
    """``studio.submit(*args, **fields)`` within the queue's limit (answered 429 if full)."""
    try:
        return s.studio.submit(*args, limit=s.limits.max_queue, **fields)
    except QueueFull as e:
        raise fail(429, str(e)) from None


def public(s: Site, job: Job) -> dict[str, Any]:
    """A job as the page sees it: its record, place in the queue and file addresses."""
    studio = s.studio
    out = job.record()
    out["position"] = studio.position(job.id)
    out["preview_version"] = job.preview_version
    path = studio.result_path(job)
    out["result"] = f"/api/jobs/{job.id}/{path.name}" \
        if job.status == "done" and path is not None else None
    thumb = studio.job_dir(job.id) / "thumb.jpg"
    out["thumb"] = f"/api/jobs/{job.id}/thumb.jpg" \
        if job.status in FINAL and thumb.is_file() else None
    return out


class RangeRefused(Exception):
    """A Range a file cannot be sent for (answered 416 with one line)."""

    def __init__(self, message: str, size: int):
        super().__init__(message)
        self.size = size


class RangedFile(FileResponse):
    """A file with range requests whose refusals are one line of JSON: ``416`` with
    ``Content-Range: bytes */SIZE`` for a range that is malformed, ends before it starts or
    starts past the end; a Range in another unit than bytes is ignored (the whole file)."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        units, eq, _ = http_range.partition("=")
        if eq and units.strip().lower() != "bytes":
            return []  # a unit this server does not know: the whole file
        asked = settings.shown(http_range)
        try:
            return super()._parse_range_header(http_range, file_size)
        except RangeNotSatisfiable:
            raise RangeRefused(f"Range {asked}: the range starts past the end of the file "
                               f"({file_size} bytes)", file_size) from None
        except MalformedRangeHeader as e:
            why = "the range ends before it starts" if "start must be less" in e.content \
                else "not a range of bytes"
            raise RangeRefused(f"Range {asked}: {why}; ask for bytes=FIRST-LAST within "
                               f"0-{file_size - 1}", file_size) from None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except RangeRefused as e:  # raised before anything was sent
            refusal = JSONResponse({"error": str(e)}, status_code=416,
                                   headers={"Content-Range": f"bytes */{e.size}"})
            await refusal(scope, receive, send)
