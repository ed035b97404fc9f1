"""The FastAPI application: a JSON API, server-sent progress events and the static page.

Every error is answered as ``{"error": "one clear line"}``; nothing in a response names a
server path or carries a traceback.  The routes are grouped by concern: the page, its forms
and uploads (:mod:`.files_api`), the jobs (:mod:`.jobs_api`), the style networks
(:mod:`.models_api`) and the quick looks, estimates, camera frames and zips
(:mod:`.instant`); :mod:`.guards` checks every request.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from ..version import __version__
from . import files_api, instant, jobs_api, models_api
from .access import Access
from .common import Site
from .guards import install_guards
from .jobs import Studio
from .uploads import Limits

STATIC = files_api.STATIC


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "painterly" / "studio"


def create_app(data_dir: str | Path | None = None, weights: str | None = None,
               device: str = "auto", *, limits: Limits | None = None,
               preview_interval: float = 0.5, access: Access | None = None,
               model_folders: list[str | Path] = (), photo_folder: str | Path | None = None,
               fast_model: str = "") -> FastAPI:
    """The studio app; jobs and uploads live under ``data_dir`` (default: XDG data home).

    ``access`` says which Host names it answers to and which token it asks for (default:
    the loopback names, no token; see :mod:`painterly.web.access`).  ``model_folders``
    offer their style networks (read only); ``photo_folder`` is a folder of photos that
    training jobs may use without uploading them; ``fast_model`` is the any-painting model
    of the fast method and the quick looks (none: the one shipped with painterly)."""
    limits = limits or Limits()
    studio = Studio(data_dir or default_data_dir(), weights, device, preview_interval,
                    model_folders, photo_folder, fast_model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        studio.start()
        try:
            yield
        finally:
            studio.closing = True
            await asyncio.to_thread(studio.stop)
            studio.release()

    app = FastAPI(title="painterly studio", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.studio = studio
    app.state.site = Site(studio, limits)
    app.state.previewer = instant.Previewer(studio, limits)
    app.state.train_times = models_api.TrainTimes()
    install_guards(app, limits, access or Access())
    for part in (files_api, jobs_api, models_api, instant):
        app.include_router(part.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
