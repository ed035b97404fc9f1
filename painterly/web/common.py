"""What every route of the studio shares: the studio and its limits (kept on the app), one-line
errors, and a job as the page sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import BaseModel, model_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException

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
