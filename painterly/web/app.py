"""The FastAPI application: a JSON API, server-sent progress events and the static page.

Every error is answered as ``{"error": "one clear line"}``; nothing in a response names a
server path or carries a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from .. import __version__
from ..errors import PainterlyError
from . import settings, uploads
from .access import COOKIE, Access
from .jobs import FINAL, JOB_ID, Job, Studio
from .uploads import Limits

log = logging.getLogger("painterly.web")
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


BODY_OVERHEAD = 65536  # multipart headers around an upload of the largest accepted size


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "painterly" / "studio"


class JobRequest(BaseModel):
    content: str = Field(max_length=64)
    styles: list[str] = Field(min_length=1, max_length=8)
    options: dict[str, Any] = Field(default_factory=dict)
    preset: str = Field(default="", max_length=40)


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def create_app(data_dir: str | Path | None = None, weights: str | None = None,
               device: str = "auto", *, limits: Limits | None = None,
               preview_interval: float = 0.5, access: Access | None = None) -> FastAPI:
    """The studio app; jobs and uploads live under ``data_dir`` (default: XDG data home).

    ``access`` says which Host names it answers to and which token it asks for (default:
    the loopback names, no token; see :mod:`painterly.web.access`)."""
    limits = limits or Limits()
    access = access or Access()
    studio = Studio(data_dir or default_data_dir(), weights, device, preview_interval)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio.start()
        try:
            yield
        finally:
            studio.closing = True
            await asyncio.to_thread(studio.stop)

    app = FastAPI(title="painterly studio", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    _install_guards(app, limits, access)

    def get_job(job_id: str) -> Job:
        if not JOB_ID.match(job_id) or job_id not in studio.jobs:
            raise fail(404, "no such job")
        return studio.jobs[job_id]

    def public(job: Job) -> dict[str, Any]:
        out = job.record()
        out["position"] = studio.position(job.id)
        out["preview_version"] = job.preview_version
        out["result"] = f"/api/jobs/{job.id}/result.png" if job.status == "done" else None
        return out

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/schema")
    def schema() -> dict[str, Any]:
        return {"options": settings.web_schema(limits.max_size), "presets": settings.PRESETS,
                "default_preset": settings.DEFAULT_PRESET, "version": __version__,
                "limits": {"max_bytes": limits.max_bytes, "max_pixels": limits.max_pixels,
                           "max_size": limits.max_size}}

    @app.post("/api/uploads", status_code=201)
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:
        if file.size is not None and file.size > limits.max_bytes:
            raise fail(413, f"the file is larger than {uploads.human_size(limits.max_bytes)}")
        try:  # the header first: a large file that is no image is never read into memory
            await asyncio.to_thread(uploads.check_header, file.file)
        except PainterlyError as e:
            raise fail(400, str(e)) from None
        data = await file.read(limits.max_bytes + 1)
        try:
            item = await asyncio.to_thread(uploads.store, data, studio.uploads, limits)
        except PainterlyError as e:
            raise fail(400 if len(data) <= limits.max_bytes else 413, str(e)) from None
        return item.to_json()

    @app.get("/api/uploads/{upload_id}")
    def get_upload(upload_id: str) -> FileResponse:
        try:
            path = uploads.path_of(studio.uploads, upload_id)
        except PainterlyError as e:
            raise fail(404, str(e)) from None
        return FileResponse(path, media_type=uploads.MEDIA_TYPES[path.suffix[1:]])

    @app.post("/api/jobs", status_code=201)
    def submit(req: JobRequest) -> dict[str, Any]:
        try:
            for uid in [req.content, *req.styles]:
                uploads.path_of(studio.uploads, uid)
            opts = settings.web_options(req.options, limits.max_size)
        except PainterlyError as e:
            raise fail(400, str(e)) from None
        if len(studio.queue) >= limits.max_queue:
            raise fail(429, f"the queue is full ({limits.max_queue} jobs); try again later")
        preset = req.preset if req.preset in settings.PRESETS else ""
        job = studio.submit(req.content, req.styles, settings.public_options(opts), preset)
        return public(job)

    @app.get("/api/jobs")
    def list_jobs() -> dict[str, Any]:
        return {"jobs": [public(j) for j in studio.listing()], "running": studio.current,
                "queue": list(studio.queue)}

    @app.get("/api/jobs/{job_id}")
    def job_info(job_id: str) -> dict[str, Any]:
        return public(get_job(job_id))

    @app.post("/api/jobs/{job_id}/cancel")
    def cancel(job_id: str) -> dict[str, Any]:
        return public(studio.cancel(get_job(job_id).id))

    @app.delete("/api/jobs/{job_id}")
    def delete(job_id: str) -> dict[str, Any]:
        try:
            studio.delete(get_job(job_id).id)
        except PainterlyError as e:
            raise fail(409, str(e)) from None
        return {"deleted": job_id}

    @app.get("/api/jobs/{job_id}/preview.jpg")
    def preview(job_id: str) -> Response:
        job = get_job(job_id)
        if not job.preview:
            raise fail(404, "no preview yet")
        return Response(job.preview, media_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})

    @app.get("/api/jobs/{job_id}/result.png")
    def result(job_id: str, download: bool = False) -> FileResponse:
        job = get_job(job_id)
        path = studio.result_path(job.id)
        if job.status != "done" or not path.is_file():
            raise fail(404, "this job has no result")
        name = f"painterly-{job.id}.png"
        return FileResponse(path, media_type="image/png",
                            filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/jobs/{job_id}/thumb.jpg")
    def thumb(job_id: str) -> FileResponse:
        job = get_job(job_id)
        path = studio.job_dir(job.id) / "thumb.jpg"
        if job.status != "done" or not path.is_file():
            raise fail(404, "this job has no result")
        return FileResponse(path, media_type="image/jpeg")

    @app.get("/api/jobs/{job_id}/events")
    async def events(job_id: str, request: Request) -> StreamingResponse:
        job = get_job(job_id)

        async def stream() -> AsyncIterator[str]:
            seen: tuple = ()
            quiet = 0.0
            while not studio.closing and not await request.is_disconnected():
                state = (job.version, studio.position(job.id))
                if state != seen:
                    seen, quiet = state, 0.0
                    yield f"data: {json.dumps(public(job))}\n\n"
                    if job.status in FINAL:
                        return
                elif quiet > 15:
                    quiet = 0.0
                    yield ": keep-alive\n\n"
                await asyncio.sleep(0.1)
                quiet += 0.1

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _install_guards(app: FastAPI, limits: Limits, access: Access) -> None:
    """One-line JSON errors, security headers, Host, token, request size and cross-site
    checks."""
    too_large = f"the upload is larger than {uploads.human_size(limits.max_bytes)}"
    app.add_middleware(BodyLimit, max_bytes=limits.max_bytes + BODY_OVERHEAD)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = too_large if exc.status_code == 413 else str(exc.detail)
        return JSONResponse({"error": detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        where = ".".join(str(x) for x in errs[0].get("loc", ())[1:]) if errs else ""
        msg = errs[0].get("msg", "invalid request") if errs else "invalid request"
        return JSONResponse({"error": f"{where}: {msg}" if where else msg}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error while serving %s", request.url.path)
        return JSONResponse({"error": "internal error; see the server log"}, status_code=500)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        if not access.host_ok(request.headers.get("host")):
            return JSONResponse({"error": "this server does not answer to that host name; "
                                          "open the address painterly serve printed"},
                                status_code=421)
        if access.token is not None:
            given = request.query_params.get("token")
            if given is not None and access.token_ok(given):
                if request.method in ("GET", "HEAD"):  # take the token out of the address
                    rest = [(k, v) for k, v in request.query_params.multi_items()
                            if k != "token"]
                    query = urlencode(rest)
                    response = RedirectResponse(request.url.path + (f"?{query}" if query
                                                                    else ""), 303)
                    response.set_cookie(COOKIE, access.token, httponly=True,
                                        samesite="strict", path="/")
                    return response
            else:
                auth = request.headers.get("authorization", "")
                given = auth[7:].strip() if auth.lower().startswith("bearer ") else \
                    request.cookies.get(COOKIE)
            if not access.token_ok(given):
                return JSONResponse({"error": "this studio needs its access token: open the "
                                              "address with ?token= that painterly serve "
                                              "printed"}, status_code=401)
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc != request.headers.get("host"):
                return JSONResponse({"error": "cross-site request refused"}, status_code=403)
            size = request.headers.get("content-length", "")
            if size.isdigit() and int(size) > limits.max_bytes + BODY_OVERHEAD:
                return JSONResponse({"error": too_large}, status_code=413)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


class BodyLimit:
    """Counts a request's body as it arrives and stops it at ``max_bytes`` with 413, also
    when no Content-Length was sent (a chunked upload is never read whole)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(status_code=413, detail="request body too large")
            return message

        await self.app(scope, counted, send)
