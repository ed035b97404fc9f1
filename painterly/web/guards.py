"""The studio's guards: one-line JSON errors, security headers, the Host and token checks,
request sizes and cross-site requests."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from . import uploads
from .access import COOKIE, Access
from .files_api import UPLOADS
from .uploads import Limits

log = logging.getLogger("painterly.web")
CSP = ("default-src 'self'; img-src 'self' blob: data:; script-src 'self'; "
       "style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'")
BODY_OVERHEAD = 65536  # multipart headers around an upload of the largest accepted size
BODY_TOO_LARGE = "request body too large"  # BodyLimit's, answered with the limit
UNPARSED = "There was an error parsing the body"  # FastAPI's, for a body it cannot read
NOT_JSON = ("the request body is not valid JSON; send one JSON object of fields in UTF-8 "
            "(Content-Type: application/json)")
NO_FILE = ("file: send the picture or clip as a file in the form field 'file' "
           "(curl -F file=@photo.jpg)")


class Sizes:
    """How large a request to a path may be, and what to say when it is larger."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def limit(self, path: str) -> int:
        """An upload may be as large as a clip; any other request as an image upload."""
        lim = self.limits
        return (lim.max_body if path == UPLOADS else lim.max_bytes) + BODY_OVERHEAD

    def too_large(self, path: str) -> str:
        if path == UPLOADS:
            return f"the upload is larger than {uploads.human_size(self.limits.max_body)}"
        return f"the request is larger than {uploads.human_size(self.limits.max_bytes)}"


def install_guards(app: FastAPI, limits: Limits, access: Access) -> None:
    """Every guard on ``app``."""
    sizes = Sizes(limits)
    app.add_middleware(BodyLimit, limit=sizes.limit)
    _install_errors(app, sizes)

    @app.middleware("http")
    async def guard(request: Request, call_next):
        refused = _host_and_token(request, access) or _cross_site_or_size(request, sizes)
        if refused is not None:
            return secured(refused)
        return secured(await call_next(request))


def secured(response: Response) -> Response:
    """``response`` with the security headers: a strict Content-Security-Policy, no type
    sniffing, no referrer, and no use by other sites (an upload's id is its content's hash:
    a page that could show ``/api/uploads/<id>`` would learn whether that picture is here)."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    return response


def _install_errors(app: FastAPI, sizes: Sizes) -> None:
    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == UNPARSED:  # e.g. too deep, not UTF-8
            multipart = _content_type(request).startswith("multipart/")
            return JSONResponse({"error": NO_FILE if multipart else NOT_JSON},
                                status_code=422)
        detail = sizes.too_large(request.url.path) if exc.detail == BODY_TOO_LARGE \
            else str(exc.detail)
        return JSONResponse({"error": detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = exc.errors()
        if errs and errs[0].get("type") == "json_invalid":  # loc holds the offset, not a field
            at = errs[0].get("loc", ())[1:]
            text = "the request body is not valid JSON" + (f" (at character {at[0]})"
                                                           if at else "")
            return JSONResponse({"error": text}, status_code=422)
        if errs and tuple(errs[0].get("loc", ())) == ("body",) and errs[0].get("type") in (
                "missing", "model_attributes_type", "model_type"):  # the body as a whole
            return JSONResponse({"error": _whole_body(request, errs[0])}, status_code=422)
        if request.url.path == UPLOADS and errs and tuple(errs[0].get("loc", ())) == (
                "body", "file"):  # no file, or a text field (-F file=hello)
            return JSONResponse({"error": NO_FILE}, status_code=422)
        where = ".".join(str(x) for x in errs[0].get("loc", ())[1:]) if errs else ""
        msg = errs[0].get("msg", "invalid request") if errs else "invalid request"
        return JSONResponse({"error": f"{where}: {msg}" if where else msg}, status_code=422)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error while serving %s", request.url.path)
        return secured(JSONResponse({"error": "internal error; see the server log"},
                                    status_code=500))


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _whole_body(request: Request, err: dict) -> str:
    """One line for a body that is missing, not sent as JSON, or JSON but not an object."""
    kind = _content_type(request)
    if err.get("type") == "missing":
        return "send the request's fields as a JSON object (Content-Type: application/json)"
    if kind != "application/json" and not kind.endswith("+json"):
        return (f"send the body as JSON with Content-Type: application/json (it came as "
                f"{kind[:40] or 'no type'})")
    return "the request body must be a JSON object of fields ({\"name\": value, ...})"


def _host_and_token(request: Request, access: Access) -> Response | None:
    """A refusal for a foreign Host or a missing token; a redirect that takes a valid token
    out of a page's address (into a cookie); None when the request may go on."""
    if not access.host_ok(request.headers.get("host")):
        return JSONResponse({"error": "this server does not answer to that host name; "
                                      "open the address painterly serve printed"},
                            status_code=421)
    if access.token is None:
        return None
    given = request.query_params.get("token")
    if given is not None and access.token_ok(given):
        if request.method in ("GET", "HEAD"):  # take the token out of the address
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            query = urlencode(rest)
            # one slash first: "//evil.com/" would send the browser to another site
            path = "/" + request.url.path.lstrip("/")
            response = RedirectResponse(path + (f"?{query}" if query else ""), 303)
            response.set_cookie(COOKIE, access.token, httponly=True, samesite="strict",
                                path="/")
            return response
    else:
        auth = request.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else \
            request.cookies.get(COOKIE)
    if not access.token_ok(given):
        return JSONResponse({"error": "this studio needs its access token: open the "
                                      "address with ?token= that painterly serve "
                                      "printed"}, status_code=401)
    return None


def _cross_site_or_size(request: Request, sizes: Sizes) -> Response | None:
    """A refusal for a cross-site or too large request that changes something."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.headers.get("host"):
        return JSONResponse({"error": "cross-site request refused"}, status_code=403)
    size = request.headers.get("content-length", "")
    if size.isdigit() and int(size) > sizes.limit(request.url.path):
        return JSONResponse({"error": sizes.too_large(request.url.path)}, status_code=413)
    return None


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
