"""The FastAPI application: a JSON API, server-sent progress events and the static page.

Every error is answered as ``{"error": "one clear line"}``; nothing in a response names a
server path or carries a traceback.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
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

from ..errors import PainterlyError, UsageError
from ..nets.options import TrainOptions
from ..version import __version__
from . import instant, settings, uploads
from .access import COOKIE, Access
from .jobs import FINAL, JOB_ID, Job, Studio
from .models import UnknownModel, new_model_id
from .settings import ApplyOptions
from .uploads import Limits

log = logging.getLogger("painterly.web")
STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")


UPLOADS = "/api/uploads"
BODY_OVERHEAD = 65536  # multipart headers around an upload of the largest accepted size
BODY_TOO_LARGE = "request body too large"  # BodyLimit's, answered with the limit
MAX_PHOTOS = 5000  # training photos one request may name


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "painterly" / "studio"


class JobRequest(BaseModel):
    content: str = Field(max_length=64)
    styles: list[str] = Field(default_factory=list, max_length=8)
    model: str = Field(default="", max_length=64)  # a clip by a style network
    options: dict[str, Any] = Field(default_factory=dict)
    preset: str = Field(default="", max_length=40)
    mask: str = Field(default="", max_length=64)  # an uploaded label image (as --mask)


class ApplyRequest(BaseModel):
    model: str = Field(max_length=64)
    content: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict)


class TrainRequest(BaseModel):
    style: str = Field(max_length=64)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)
    photo_folder: bool = False  # train on the server's --photos folder
    name: str = Field(default="", max_length=80)
    options: dict[str, Any] = Field(default_factory=dict)


def fail(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


def create_app(data_dir: str | Path | None = None, weights: str | None = None,
               device: str = "auto", *, limits: Limits | None = None,
               preview_interval: float = 0.5, access: Access | None = None,
               model_folders: list[str | Path] = (), photo_folder: str | Path | None = None
               ) -> FastAPI:
    """The studio app; jobs and uploads live under ``data_dir`` (default: XDG data home).

    ``access`` says which Host names it answers to and which token it asks for (default:
    the loopback names, no token; see :mod:`painterly.web.access`).  ``model_folders``
    offer their style networks (read only); ``photo_folder`` is a folder of photos that
    training jobs may use without uploading them."""
    limits = limits or Limits()
    access = access or Access()
    studio = Studio(data_dir or default_data_dir(), weights, device, preview_interval,
                    model_folders, photo_folder)

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
        path = studio.result_path(job)
        out["result"] = f"/api/jobs/{job.id}/{path.name}" \
            if job.status == "done" and path is not None else None
        thumb = studio.job_dir(job.id) / "thumb.jpg"
        out["thumb"] = f"/api/jobs/{job.id}/thumb.jpg" \
            if job.status in FINAL and thumb.is_file() else None
        return out

    def checked(fn, *args: Any) -> Any:
        """``fn(*args)``, its PainterlyError answered 400 with one line."""
        try:
            return fn(*args)
        except PainterlyError as e:
            raise fail(400, studio.scrub(str(e))) from None

    def queue_room() -> None:
        if len(studio.queue) >= limits.max_queue:
            raise fail(429, f"the queue is full ({limits.max_queue} jobs); try again later")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/api/schema")
    def schema() -> dict[str, Any]:
        return {**settings.schema(limits.max_size), "version": __version__,
                "limits": limits.to_json(), "photo_folder": studio.photo_folder is not None}

    @app.post(UPLOADS, status_code=201)
    async def upload(file: UploadFile = File(...)) -> dict[str, Any]:
        size = file.size if file.size is not None else 0
        too_big = f"the file is larger than {uploads.human_size(limits.max_bytes)}"
        if size > limits.max_body:
            raise fail(413, f"the file is larger than {uploads.human_size(limits.max_body)}")
        # the header first: a large file that is no image or clip is never read whole
        head = await asyncio.to_thread(uploads.read_head, file.file)
        if uploads.sniff(head) is None and size > limits.max_bytes:
            raise fail(413, too_big)
        kind = checked(uploads.check_header, head)
        if kind == "clip":
            if size > limits.max_clip_bytes:
                raise fail(413, "the clip is larger than "
                                f"{uploads.human_size(limits.max_clip_bytes)}")
            try:
                item = await asyncio.to_thread(uploads.store_clip, file.file, studio.uploads,
                                               limits)
            except PainterlyError as e:
                raise fail(413 if isinstance(e, uploads.TooLarge) else 400, str(e)) from None
            return item.to_json()
        if size > limits.max_bytes:
            raise fail(413, too_big)
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
        """A stylization by optimisation of an image or a clip, or a clip by a network."""
        kind, fields = checked(job_plan, req)
        queue_room()
        preset = req.preset if req.preset in settings.PRESETS and not req.model else ""
        job = studio.submit(req.content, req.styles, fields.pop("options"), preset,
                            kind=kind, **fields)
        return public(job)

    def job_plan(req: JobRequest) -> tuple[str, dict[str, Any]]:
        uploads.path_of(studio.uploads, req.content)
        clip = uploads.kind_of(req.content) == "clip"
        if req.model:
            if not clip:
                raise UsageError("model: an image is stylized by a network at once "
                                 "(POST /api/apply); jobs take clips")
            if req.styles:
                raise UsageError("styles: a clip by a network takes no style images")
            entry = studio.models.get(req.model)
            opts = settings.parse_form(req.options, ApplyOptions, limits.max_size)
            return "clip", {"options": dataclasses.asdict(opts), "model": entry.id,
                            "model_name": entry.name}
        if not req.styles:
            raise UsageError("styles: pick at least one style image")
        for uid in req.styles:
            uploads.path_of(studio.uploads, uid, "image")
        if clip:
            if req.mask:
                raise UsageError("mask: painted regions are for photos, not clips")
            opts, more = settings.clip_options(req.options, limits.max_size)
            return "clip", {"options": {**dataclasses.asdict(opts),
                                        **dataclasses.asdict(more)}}
        opts = settings.web_options(req.options, limits.max_size)
        if req.mask:
            uploads.path_of(studio.uploads, req.mask, "image")
        return "stylize", {"options": settings.public_options(opts), "mask": req.mask}

    @app.post("/api/apply", status_code=201)
    def apply(req: ApplyRequest) -> dict[str, Any]:
        """A style network on an image, at once (not queued); kept like a job's result."""
        def check() -> dict[str, Any]:
            uploads.path_of(studio.uploads, req.content)
            if uploads.kind_of(req.content) == "clip":
                raise UsageError("content: a clip is stylized by a job (POST /api/jobs with "
                                 "the model)")
            studio.models.get(req.model)
            return dataclasses.asdict(settings.parse_form(req.options, ApplyOptions,
                                                          limits.max_size))

        options = checked(check)
        return public(checked(studio.apply, req.content, req.model, options))

    @app.post("/api/train", status_code=201)
    def train(req: TrainRequest) -> dict[str, Any]:
        """Queue the training of a style network on uploaded photos or the server's."""
        topts, photos, name = checked(train_plan, req)
        queue_room()
        job = studio.submit("", [req.style], dataclasses.asdict(topts), kind="train",
                            model=new_model_id(), model_name=name, photos=photos,
                            photo_folder=req.photo_folder)
        return public(job)

    def train_plan(req: TrainRequest) -> tuple[TrainOptions, list[str], str]:
        from ..nets.apply import collect

        uploads.path_of(studio.uploads, req.style, "image")
        name = " ".join(req.name.split())
        if not name.isprintable():
            raise UsageError("name: use printable characters")
        photos = list(dict.fromkeys(req.photos))
        if req.photo_folder:
            if photos:
                raise UsageError("photos: give uploaded photos or the server's photo folder, "
                                 "not both")
            if studio.photo_folder is None:
                raise UsageError("photo_folder: this server has no photo folder; upload "
                                 "photos to train on")
            count = len(collect([str(studio.photo_folder)]))
        else:
            if not photos:
                raise UsageError("photos: upload photos to train on"
                                 + (", or use the server's photo folder"
                                    if studio.photo_folder else ""))
            for uid in photos:
                uploads.path_of(studio.uploads, uid, "image")
            count = len(photos)
        topts = settings.parse_form(req.options, TrainOptions, limits.max_size)
        if topts.holdout >= count:
            raise UsageError(f"holdout: {topts.holdout} of {count} photos held out leaves "
                             "none to train on")
        if count - topts.holdout < topts.batch:
            raise UsageError(f"photos: {count - topts.holdout} to train on (after "
                             f"{topts.holdout} held out), fewer than batch {topts.batch}; "
                             "add photos or lower batch")
        return topts, photos, name or "network"

    @app.get("/api/models")
    def list_models() -> dict[str, Any]:
        return {"models": [e.to_json() for e in studio.models.listing()]}

    @app.get("/api/models/{model_id}/thumb.png")
    def model_thumb(model_id: str) -> Response:
        try:
            entry = studio.models.get(model_id)
        except UnknownModel as e:
            raise fail(404, str(e)) from None
        if not entry.thumb:
            raise fail(404, "this model has no picture of its style")
        return Response(entry.thumb, media_type="image/png",
                        headers={"Cache-Control": "private, max-age=3600"})

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

    def result(job_id: str, ext: str, download: bool) -> FileResponse:
        job = get_job(job_id)
        path = studio.result_path(job)
        if job.status != "done" or path is None or path.suffix != f".{ext}" \
                or not path.is_file():
            raise fail(404, "this job has no result")
        name = f"painterly-{job.id}.{ext}"
        return FileResponse(path, media_type=uploads.MEDIA_TYPES[ext],
                            filename=name if download else None,
                            content_disposition_type="attachment" if download else "inline")

    @app.get("/api/jobs/{job_id}/result.png")
    def result_png(job_id: str, download: bool = False) -> FileResponse:
        return result(job_id, "png", download)

    @app.get("/api/jobs/{job_id}/result.mp4")
    def result_mp4(job_id: str, download: bool = False) -> FileResponse:
        """A clip, with range requests (seeking in the page's player)."""
        return result(job_id, "mp4", download)

    @app.get("/api/jobs/{job_id}/thumb.jpg")
    def thumb(job_id: str) -> FileResponse:
        job = get_job(job_id)
        path = studio.job_dir(job.id) / "thumb.jpg"
        if job.status not in FINAL or not path.is_file():
            raise fail(404, "this job has no picture")
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

    app.include_router(instant.router(studio, limits))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _install_guards(app: FastAPI, limits: Limits, access: Access) -> None:
    """One-line JSON errors, security headers, Host, token, request size and cross-site
    checks."""
    def body_limit(path: str) -> int:
        """An upload may be as large as a clip; any other request as an image upload."""
        return (limits.max_body if path == UPLOADS else limits.max_bytes) + BODY_OVERHEAD

    def too_large(path: str) -> str:
        if path == UPLOADS:
            return f"the upload is larger than {uploads.human_size(limits.max_body)}"
        return f"the request is larger than {uploads.human_size(limits.max_bytes)}"

    app.add_middleware(BodyLimit, limit=body_limit)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        detail = too_large(request.url.path) if exc.detail == BODY_TOO_LARGE \
            else str(exc.detail)
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
            if size.isdigit() and int(size) > body_limit(request.url.path):
                return JSONResponse({"error": too_large(request.url.path)}, status_code=413)
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response


class BodyLimit:
    """Counts a request's body as it arrives and stops it at ``limit(path)`` bytes with 413,
    also when no Content-Length was sent (a chunked upload is never read whole)."""

    def __init__(self, app, limit: Callable[[str], int]):
        self.app = app
        self.limit = limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = 0
        most = self.limit(scope["path"])

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > most:
                    raise HTTPException(status_code=413, detail=BODY_TOO_LARGE)
            return message

        await self.app(scope, counted, send)
