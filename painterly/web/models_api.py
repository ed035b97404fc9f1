"""Routes of the style networks: the list, a network on an image at once, and training one."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from ..errors import UsageError
from ..network.options import ApplyOptions, TrainOptions
from . import settings, uploads
from .common import Body, Site, checked, fail, public, queue_job, site
from .models import UnknownModel, new_model_id

MAX_PHOTOS = 5000  # training photos one request may name
# The estimate's test pass runs on crops of at most MEASURED_SIDE, smaller for a network
# heavier than the quality preset's (width 16, 10 blocks), at least SMALLEST_SIDE, and its
# time is scaled up by the pixels of the real crop (a pass at 512 px of a network of width
# 128 took minutes and 7 GB inside the request).  A network whose pass would still be over
# MOST_WORK times the preset's at MEASURED_SIDE is not timed.
MEASURED_SIDE = 128
SMALLEST_SIDE = 32
REFERENCE_WORK = 16 ** 2 * 10  # width squared times blocks of the quality preset
MOST_WORK = 2.5
KEPT_TIMES = 32  # measured step times kept, one per shape of run
# options that change what a step costs (the others: how many steps, and what they learn)
STEP_SHAPE = ("batch", "crop", "photo_size", "preset", "width", "blocks", "downs", "down", "up",
              "content_layers",
              "style_layers", "structure", "precision")

router = APIRouter()


class ApplyRequest(Body):
    model: str = Field(max_length=64)
    content: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict)


class TrainEstimateRequest(Body):
    options: dict[str, Any] = Field(default_factory=dict)


class TrainRequest(Body):
    style: str = Field(max_length=64)
    photos: list[str] = Field(default_factory=list, max_length=MAX_PHOTOS)
    photo_folder: bool = False  # train on the server's --photos folder
    name: str = Field(default="", max_length=80)
    options: dict[str, Any] = Field(default_factory=dict)


@router.get("/api/models")
def list_models(s: Site = Depends(site)) -> dict[str, Any]:
    return {"models": [e.to_json() for e in s.studio.models.listing()]}


@router.api_route("/api/models/{model_id}/thumb.png", methods=["GET", "HEAD"])
def model_thumb(model_id: str, s: Site = Depends(site)) -> Response:
    try:
        entry = s.studio.models.get(model_id)
    except UnknownModel as e:
        raise fail(404, str(e)) from None
    if not entry.thumb:
        raise fail(404, "this model has no picture of its style")
    return Response(entry.thumb, media_type="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})


@router.post("/api/apply", status_code=201)
def apply(req: ApplyRequest, s: Site = Depends(site)) -> dict[str, Any]:
    """A style network on an image, at once (not queued); kept like a job's result."""
    options = checked(s, apply_plan, req, s)
    return public(s, checked(s, s.studio.apply, req.content, req.model, options))


def apply_plan(req: ApplyRequest, s: Site) -> dict[str, Any]:
    uploads.path_of(s.studio.uploads, req.content)
    if uploads.kind_of(req.content) == "clip":
        raise UsageError("content: a clip is stylized by a job (POST /api/jobs with the model)")
    s.studio.models.get(req.model)
    return settings.public_options(settings.parse_form(req.options, ApplyOptions,
                                                       s.limits.max_size))


@router.post("/api/train", status_code=201)
def train(req: TrainRequest, s: Site = Depends(site)) -> dict[str, Any]:
    """Queue the training of a style network on uploaded photos or the server's."""
    topts, photos, name = checked(s, train_plan, req, s)
    job = queue_job(s, "", [req.style], settings.public_options(topts), kind="train",
                    model=new_model_id(), model_name=name, photos=photos,
                    photo_folder=req.photo_folder)
    return public(s, job)


class TrainTimes:
    """Seconds a training step takes here, measured once per shape of run by a short pass
    of a network and objective made for the options (:func:`painterly.network.estimate.
    for_options`: a few seconds on a CPU), one measurement at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.kept: OrderedDict[tuple, float] = OrderedDict()

    def estimate(self, topts: TrainOptions, s: Site) -> dict[str, Any]:
        from ..config import Runtime
        from ..network.estimate import Estimate, for_options

        key = tuple(repr(getattr(topts, k)) for k in STEP_SHAPE)
        with self.lock:
            if key not in self.kept:
                rt = Runtime(weights=s.studio.weights or "", device=s.studio.device)
                small = measured_options(topts)
                scale = (topts.crop / small.crop) ** 2
                self.kept[key] = for_options(small, rt).seconds_per_step * scale
            self.kept.move_to_end(key)
            while len(self.kept) > KEPT_TIMES:
                self.kept.popitem(last=False)
            return Estimate(self.kept[key], topts.steps, batch=topts.batch).to_json()


def measured_options(topts: TrainOptions) -> TrainOptions:
    """The options of the estimate's test pass: crops and photos small enough for a pass of
    about the quality preset's network at :data:`MEASURED_SIDE` (see there), the rest as
    asked; UsageError for a network too heavy to time even on the smallest crops."""
    layout = topts.layout()
    heavier = layout["width"] ** 2 * max(1, layout["blocks"]) / REFERENCE_WORK
    side = int(MEASURED_SIDE / math.sqrt(max(1.0, heavier))) // 16 * 16
    side = min(topts.crop, max(SMALLEST_SIDE, side))
    if heavier * (side / MEASURED_SIDE) ** 2 > MOST_WORK:
        raise UsageError(f"width: a network of width {layout['width']} with "
                         f"{layout['blocks']} blocks is too large to time here (and to train "
                         "in a reasonable time); lower the width or the blocks (the quality "
                         "preset's: 16 and 10)")
    return dataclasses.replace(topts, crop=side,
                               photo_size=min(topts.photo_size, MEASURED_SIDE))


def train_times(request: Request) -> TrainTimes:
    """The app's :class:`TrainTimes` (a FastAPI dependency)."""
    return request.app.state.train_times


@router.post("/api/train/estimate")
def train_estimate(req: TrainEstimateRequest, s: Site = Depends(site),
                   times: TrainTimes = Depends(train_times)) -> dict[str, Any]:
    """How long training with the form's options will take here: ``seconds``, ``steps``,
    ``seconds_per_step`` (photos' decoding left out)."""
    topts = checked(s, settings.parse_form, req.options, TrainOptions, s.limits.max_size)
    return checked(s, times.estimate, topts, s)


def train_plan(req: TrainRequest, s: Site) -> tuple[TrainOptions, list[str], str]:
    """The options, photos and name of a training job, checked as training checks them."""
    studio = s.studio
    uploads.path_of(studio.uploads, req.style, "image")
    name = " ".join(req.name.split())
    if not name.isprintable():
        raise UsageError("name: use printable characters")
    photos = list(dict.fromkeys(req.photos))
    count = _photo_count(req, photos, studio)
    topts = settings.parse_form(req.options, TrainOptions, s.limits.max_size)
    topts.check_photos(count, dashes="")
    return topts, photos, name or "network"


def _photo_count(req: TrainRequest, photos: list[str], studio) -> int:
    from ..inputs import collect

    if req.photo_folder:
        if photos:
            raise UsageError("photos: give uploaded photos or the server's photo folder, "
                             "not both")
        if studio.photo_folder is None:
            raise UsageError("photo_folder: this server has no photo folder; upload "
                             "photos to train on")
        return len(collect([str(studio.photo_folder)], quiet=True))
    if not photos:
        raise UsageError("photos: upload photos to train on"
                         + (", or use the server's photo folder" if studio.photo_folder
                            else ""))
    for uid in photos:
        uploads.path_of(studio.uploads, uid, "image")
    return len(photos)
