"""The studio's instant side: a quick look at any photo and painting, the time a full
picture will take, webcam frames through a network, and many results as one zip.

* ``POST /api/preview``: a small picture of the content in the style of the paintings, a
  few seconds after they are chosen.  With the any-painting fast method (``Options.method``
  has a ``"fast"`` choice and :data:`painterly.methods.ROOMS` a room for it) it is that
  method's picture; otherwise a quick optimisation by the registry's optimise method at
  :data:`FIRST_SIDE` pixels, stopped after :data:`FIRST_SECONDS`, on a kept VGG with the
  style statistics cached per upload; the page then asks again with ``refine`` (going on
  from its last look, at :data:`PREVIEW_SIDE` pixels, :data:`PREVIEW_SECONDS` a round)
  until the look has had :data:`REFINED_STEPS` steps (header ``X-Look: final``).  A newer
  request from the same page makes an older one stop (answered ``204``), so dragging a
  slider never queues work.
* ``POST /api/estimate``: how long Start will take, from what this machine measured (the
  last picture painted here, else the quick looks, else a short calibration).
* ``POST /api/frame``: one webcam frame (JPEG body) through a style network (or the fast
  method) and back as a JPEG; frames are neither stored nor logged.
* ``GET /api/results.zip?jobs=ID,ID``: the finished pictures of those jobs in one zip.

Every method is reached through the registry (:func:`painterly.methods.for_options`,
:meth:`painterly.web.models.Models.method`) and talks only to ``picture``.  Each app keeps
its :class:`Previewer` as ``app.state.previewer`` (:func:`previewer`).
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from PIL import Image
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from .. import methods
from ..config import Options, Runtime, make
from ..engine import plan
from ..errors import ImageError, Interrupted, PainterlyError, UsageError
from ..images import LoadedImage, decode, fit_longest, load_image, resize_tensor, to_tensor
from ..network.options import ApplyOptions
from ..weights import SharedWeights
from . import settings, uploads
from .common import Body, fail
from .jobs import JOB_ID, Studio
from .runners import jpeg
from .uploads import Limits

if TYPE_CHECKING:
    from ..method import Method

log = logging.getLogger("painterly.web")

PREVIEW_SIDE = 160  # longest side of a quick look by optimisation (when refined)
FIRST_SIDE = 112  # the first look of new settings: half the pixels, twice as soon
PREVIEW_STEPS = 12  # at most per request; stopped earlier by the time budget
PREVIEW_SECONDS = 2.0  # then it stops and shows what there is (after one step at least)
FIRST_SECONDS = 1.0  # the first look of new settings: shown sooner, refined after
REFINED_STEPS = 36  # a look refined (``refine``: going on from the last) up to this many
CALIBRATION_STEPS = 3  # at 256 px, when nothing was measured yet
MAX_ZIP_JOBS = 500
LOOK_SIDE = 512  # the largest side of a fast quick look (and of the photo it is made of)
KEPT_IMAGES = 12  # decoded uploads kept for the quick looks, at most
KEPT_BYTES = 256 * 2**20  # and at most this many bytes of them (the newest always kept)
FAST = "fast"  # the page's name for the any-painting method in /api/frame


class PreviewRequest(Body):
    content: str = Field(max_length=64)
    styles: list[str] = Field(default_factory=list, max_length=8)
    options: dict[str, Any] = Field(default_factory=dict)
    mask: str = Field(default="", max_length=64)
    tab: str = Field(default="", max_length=40)  # the page asking: newer requests win
    refine: bool = False  # go on from this page's last look when nothing else changed


class EstimateRequest(Body):
    content: str = Field(max_length=64)
    options: dict[str, Any] = Field(default_factory=dict)


def has_fast_choice() -> bool:
    """Whether this painterly offers the any-painting fast method: a ``"fast"`` choice of
    ``--method`` and a room for it in the registry."""
    found = [f for f in dataclasses.fields(Options) if f.name == "method"]
    return (bool(found) and FAST in (found[0].metadata.get("choices") or ())
            and FAST in methods.ROOMS)


def load_fast_method(weights: str | None, device: str,
                     vgg: SharedWeights | None = None, fast_model: str = "") -> Method | None:
    """The fast method (weights loaded) that the registry makes for
    ``Options(method="fast")`` (``vgg``: the VGG-19 of its refining steps, shared), or None
    where this painterly has none."""
    if not has_fast_choice():
        return None
    try:
        return methods.for_options(Options(method=FAST),
                                   Runtime(weights=weights or "", device=device,
                                           fast_model=fast_model), vgg=vgg)
    except (PainterlyError, OSError) as e:  # e.g. its model file is missing
        log.warning("preview: the fast method is not available: %s", e)
        return None


def make_optimiser(weights: str | None, device: str,
                   vgg: SharedWeights | None = None) -> Callable[..., Image.Image]:
    """``paint(content, styles, opts, callback, mask=, init=)`` by optimisation: the
    registry's optimise method, on its own kept network and style statistics (``vgg``: its
    VGG-19, shared)."""
    return methods.for_options(Options(), Runtime(weights=weights or "", device=device),
                               vgg=vgg).picture


MIN_WORK = 128 * 128 * 10  # pixel-steps: a job smaller than this is mostly fixed overhead
MIN_FAST_PIXELS = 128 * 128  # output pixels: likewise for the fast method


@dataclasses.dataclass
class Rate:
    """Seconds per unit of work as measured here: per optimisation step per output pixel
    (the fast method: per output pixel)."""

    seconds_per_pixel_step: float
    source: str


class Previewer:
    """Quick looks, one at a time, the newest request of each page winning."""

    def __init__(self, studio: Studio, limits: Limits):
        self.studio, self.limits = studio, limits
        self.lock = threading.Lock()  # one quick look (or calibration) at a time
        self._tickets = threading.Lock()
        self.latest: dict[str, int] = {}
        self.issued = 0
        self.measured: Rate | None = None  # optimisation, from the quick looks or a test
        self.measured_fast: Rate | None = None  # the fast method, likewise
        self._paint: Callable[..., Image.Image] | None = None
        self._fast: Method | None = None
        self._fast_checked = False
        self._vgg: SharedWeights = studio.vgg  # the studio's one VGG-19
        self._images: OrderedDict[tuple[str, bool], LoadedImage] = OrderedDict()
        self._last: OrderedDict[str, tuple[str, LoadedImage, int]] = OrderedDict()

    # ---- what is kept --------------------------------------------------------------------

    def paint(self, *args: Any, **kwargs: Any) -> Image.Image:
        """A picture by optimisation (see :func:`make_optimiser`)."""
        if self._paint is None:
            self._paint = make_optimiser(self.studio.weights, self.studio.device, self._vgg)
        return self._paint(*args, **kwargs)

    def fast(self) -> Method | None:
        if not self._fast_checked:
            self._fast = load_fast_method(self.studio.weights, self.studio.device, self._vgg,
                                          fast_model=self.studio.fast_model)
            self._fast_checked = True
        return self._fast

    def image(self, uid: str, kind: str = "image") -> LoadedImage:
        """An uploaded image, decoded once and kept among the last few, scaled down to the
        largest side a quick look uses: ``kind`` "frame" (the photo; a clip's first frame
        where a clip is given) :data:`LOOK_SIDE`, "mask" (a label image) the same without
        blending its colours, "image" (a painting, seen at up to the size times the style
        scale) the server's largest size."""
        frame = kind == "frame" and uploads.kind_of(uid) == "clip"
        side = max(LOOK_SIDE, self.limits.max_size) if kind == "image" else LOOK_SIDE
        key = (uid, frame, kind == "mask", side)  # a clip's frame is never an image
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key]
        if frame:
            from .. import video

            frames = video.read_frames(video.probe(uploads.path_of(self.studio.uploads, uid,
                                                                   "clip")))
            try:
                first = next(frames, None)
            finally:
                frames.close()  # the clip's file is closed at once
            if first is None:
                raise ImageError("the clip has no frame to look at")
            img = load_image(first.rgb)
        else:
            img = load_image(uploads.path_of(self.studio.uploads, uid, "image"))
        img = smaller(img, side, nearest=kind == "mask")
        self._images[key] = img
        while len(self._images) > 1 and (len(self._images) > KEPT_IMAGES or sum(
                image_bytes(i) for i in self._images.values()) > KEPT_BYTES):
            self._images.popitem(last=False)
        return img

    def warm(self) -> None:
        """Load the network (and the fast method) and paint one step of a made-up picture,
        so that the first quick look finds everything ready (about twice as fast)."""
        if self._paint is not None:
            return
        with self.lock:
            if self._paint is not None:  # another page warmed it meanwhile
                return
            try:
                if self.fast() is not None:
                    return
                rng = np.random.default_rng(0)
                made = load_image((rng.random((90, 120, 3)) * 255).astype(np.uint8))
                self.paint(made, [made], Options(size=FIRST_SIDE, steps=1, scales=1))
            except Exception as e:  # a missing weights file says so on the first look
                log.warning("preview: cannot warm up: %s", e)

    # ---- quick looks -------------------------------------------------------------------------

    def ticket(self, tab: str) -> int:
        with self._tickets:
            self.issued += 1
            self.latest[tab] = self.issued
            if len(self.latest) > 64:
                self.latest.pop(next(iter(self.latest)))
            return self.issued

    def stale(self, tab: str, ticket: int) -> bool:
        return self.latest.get(tab, ticket) != ticket

    def look(self, req: PreviewRequest, ticket: int) -> tuple[bytes, bool] | None:
        """The quick look as JPEG bytes and whether it is as good as it gets; None when a
        newer request came first."""
        opts = settings.web_options(req.options, self.limits.max_size)
        with self.lock:
            if self.stale(req.tab, ticket):
                return None
            content = self.image(req.content, "frame")  # a clip: its first frame
            styles = [self.image(s) for s in req.styles]
            mask = self.image(req.mask, "mask") if req.mask else None
            fast = self.fast()
            if fast is not None:
                small = opts.replace(method=FAST, size=min(opts.size, LOOK_SIDE))
                began = time.monotonic()
                picture = fast.picture(content, styles, small, mask=mask)
                pixels = picture.width * picture.height
                if pixels >= MIN_FAST_PIXELS:
                    self.measured_fast = Rate((time.monotonic() - began) / pixels,
                                              "the quick looks")
                return jpeg(picture), True
            return self._optimised(content, styles, mask, opts, req, ticket)

    def _optimised(self, content: LoadedImage, styles: list[LoadedImage],
                   mask: LoadedImage | None, opts: Options, req: PreviewRequest, ticket: int
                   ) -> tuple[bytes, bool] | None:
        tab = req.tab
        small = opts.replace(method="optimise", size=min(PREVIEW_SIDE, opts.size),
                             steps=PREVIEW_STEPS, scales=1, optimizer="lbfgs")
        key = repr((req.content, req.styles, req.mask, small))
        last = self._last.get(tab)
        init, done = None, 0
        if req.refine and last is not None and last[0] == key:
            init, done = last[1], last[2]
            small = small.replace(init="the last look")
        else:
            small = small.replace(size=min(FIRST_SIDE, small.size))
        budget = PREVIEW_SECONDS if init is not None else FIRST_SECONDS
        began = time.monotonic()
        marks: list[tuple[float, int, int]] = []

        def callback(p) -> None:
            marks.append((time.monotonic(), p.step, p.width * p.height))
            if self.stale(tab, ticket):
                raise Interrupted()
            if marks[-1][0] - began > budget:
                raise Interrupted()  # enough for a look: show what there is

        try:
            image = self.paint(content, styles, small, callback, mask=mask, init=init)
        except Interrupted as e:
            if self.stale(tab, ticket) or e.image is None:
                return None
            image = e.image
        if len(marks) > 1:
            (t0, s0, px), (t1, s1, _) = marks[0], marks[-1]
            self.measured = Rate((t1 - t0) / max(1, s1 - s0) / px, "quick looks")
        done += len(marks)
        self._last[tab] = (key, load_image(image.convert("RGB")), done)
        while len(self._last) > 8:
            self._last.popitem(last=False)
        return jpeg(image), done >= REFINED_STEPS

    # ---- time estimates --------------------------------------------------------------------

    def rate(self, content: str, method: str = "optimise") -> Rate:
        """The last picture painted here by ``method`` (one large enough that its fixed
        overhead does not count; optimisation: its steps' own time), else the quick looks,
        else a calibration.  ``method`` "fast": seconds per output pixel."""
        fast = method == FAST
        for job in self.studio.listing():
            if job.kind != "stylize" or job.status != "done" or job.finished <= job.started:
                continue
            try:
                opts = make(Options, **job.options)
                if (opts.method == FAST) != fast or (not fast and opts.init == FAST):
                    continue
                work = output_pixels(self.studio, job.content, opts) if fast \
                    else pixel_steps(self.studio, job.content, opts)
            except (PainterlyError, OSError, TypeError, ValueError):
                continue
            if work < (MIN_FAST_PIXELS if fast else MIN_WORK):
                continue  # mostly fixed overhead: it says little of a larger picture
            spent = job.finished - job.started
            stepping = job.progress.get("elapsed") if isinstance(job.progress, dict) else None
            if not fast and isinstance(stepping, (int, float)) and 0 < stepping <= spent:
                spent = stepping  # the steps only: loading and setting up left out
            return Rate(spent / work,
                        f"the last picture painted here ({job.options.get('size')} px)")
        if fast:
            if self.measured_fast is None:
                self._calibrate_fast(content)
            assert self.measured_fast is not None
            return self.measured_fast
        if self.measured is None:
            self._calibrate(content)
        assert self.measured is not None
        return self.measured

    def _calibrate_fast(self, content: str) -> None:
        fast = self.fast()
        if fast is None:
            raise UsageError("method: this studio has no any-painting model; choose optimise")
        with self.lock:
            img = self.image(content, "frame")
            began = time.monotonic()
            picture = fast.picture(img, [img], Options(method=FAST, size=256))
            self.measured_fast = Rate((time.monotonic() - began)
                                      / (picture.width * picture.height), "a short test run")

    def _calibrate(self, content: str) -> None:
        with self.lock:
            img = self.image(content)
            opts = Options(size=256, steps=CALIBRATION_STEPS, scales=1, init="content")
            marks: list[float] = []
            self.paint(img, [img], opts, lambda p: marks.append(time.monotonic()))
            h, w = fit_longest(img.size[0], img.size[1], 256)[::-1]
            per_step = (marks[-1] - marks[0]) / max(1, len(marks) - 1)
            self.measured = Rate(per_step / (h * w), "a short test run")

    def estimate(self, req: EstimateRequest) -> dict[str, Any]:
        opts = settings.web_options(req.options, self.limits.max_size)
        uploads.path_of(self.studio.uploads, req.content, "image")
        rate = self.rate(req.content, opts.method)
        work = output_pixels(self.studio, req.content, opts) if opts.method == FAST \
            else pixel_steps(self.studio, req.content, opts)
        seconds = rate.seconds_per_pixel_step * work
        return {"seconds": round(seconds, 3), "measured_on": rate.source}


def smaller(img: LoadedImage, side: int, nearest: bool = False) -> LoadedImage:
    """``img`` with its longest side at most ``side`` (antialiased; ``nearest``: each pixel
    one of the image's own, for a label image)."""
    w, h = img.size
    if max(w, h) <= side:
        return img
    ow, oh = fit_longest(w, h, side)
    if nearest:
        rows = ((np.arange(oh) + 0.5) * h / oh).astype(np.int64)
        cols = ((np.arange(ow) + 0.5) * w / ow).astype(np.int64)
        rgb = img.rgb[rows][:, cols]
        alpha = img.alpha[rows][:, cols] if img.alpha is not None else None
    else:
        rgb = resize_tensor(to_tensor(img.rgb), (oh, ow))[0].permute(1, 2, 0).numpy()
        alpha = None if img.alpha is None else resize_tensor(
            torch.from_numpy(np.ascontiguousarray(img.alpha))[None, None], (oh, ow))[0, 0].numpy()
    return LoadedImage(np.ascontiguousarray(rgb, dtype=np.float32),
                       None if alpha is None else np.ascontiguousarray(alpha), img.name)


def image_bytes(img: LoadedImage) -> int:
    return img.rgb.nbytes + (img.alpha.nbytes if img.alpha is not None else 0)


def output_pixels(studio: Studio, content: str, opts: Options) -> float:
    """The pixels of the picture a run on this content makes."""
    with Image.open(uploads.path_of(studio.uploads, content, "image")) as im:
        w, h = fit_longest(im.width, im.height, opts.size)
    return float(w * h)


def pixel_steps(studio: Studio, content: str, opts: Options) -> float:
    """Output pixels times steps over every scale of a run on this content."""
    with Image.open(uploads.path_of(studio.uploads, content, "image")) as im:
        w, h = fit_longest(im.width, im.height, opts.size)
    return float(sum(s.steps * s.height * s.width for s in plan(opts, (h, w))))


router = APIRouter()


def previewer(request: Request) -> Previewer:
    """The app's :class:`Previewer` (a FastAPI dependency)."""
    return request.app.state.previewer


def checked(pv: Previewer, fn, *args: Any) -> Any:
    """``fn(*args)``, its PainterlyError answered 400 with one line (options named as the
    page names them)."""
    try:
        return fn(*args)
    except PainterlyError as e:
        raise fail(400, settings.page_words(pv.studio.scrub(str(e)))) from None


# what a browser says of a request's origin (Sec-Fetch-Site) when it is the studio's page
# or an address typed in; any other site must not make the server load its networks
OWN_SITE = ("same-origin", "none", "")


@router.get("/api/preview/info")
def info(request: Request, pv: Previewer = Depends(previewer)) -> dict[str, Any]:
    """What the page can expect; loads the network in the background (not for a request
    another site's page makes)."""
    if request.headers.get("sec-fetch-site", "") in OWN_SITE:
        threading.Thread(target=pv.warm, name="painterly-warm", daemon=True).start()
    return {"fast": has_fast_choice(), "side": PREVIEW_SIDE}


@router.post("/api/preview")
def preview(req: PreviewRequest, pv: Previewer = Depends(previewer)) -> Response:
    ticket = pv.ticket(req.tab)
    got = checked(pv, pv.look, req, ticket)
    if got is None:
        return Response(status_code=204)
    return Response(got[0], media_type="image/jpeg",
                    headers={"Cache-Control": "no-store",
                             "X-Look": "final" if got[1] else "more"})


@router.post("/api/estimate")
def estimate(req: EstimateRequest, pv: Previewer = Depends(previewer)) -> dict[str, Any]:
    return checked(pv, pv.estimate, req)


@router.post("/api/frame")
async def frame(request: Request, pv: Previewer = Depends(previewer)) -> Response:
    data = await request.body()
    # the access token may come in the address (the guard checked it): it is no option
    query = {k: v for k, v in request.query_params.items() if k != "token"}
    # in the request threads (not the event loop's own pool, whose end Ctrl-C would wait on)
    return await run_in_threadpool(checked, pv, frame_jpeg, pv, data, query)


@router.get("/api/results.zip")
def results_zip(jobs: str = "", pv: Previewer = Depends(previewer)) -> Response:
    return Response(checked(pv, zip_results, pv.studio, jobs), media_type="application/zip",
                    headers={"Content-Disposition":
                             'attachment; filename="painterly-results.zip"'})


def frame_jpeg(pv: Previewer, data: bytes, query: dict[str, str]) -> Response:
    """One webcam frame through a network (``model``: its id) or the fast method
    (``model=fast`` with ``style``: an upload id); ``size``, ``strength``,
    ``preserve_color`` as for a network."""
    if not data:
        raise UsageError("frame: send the camera picture as the request body")
    model = query.pop("model", "")
    style = query.pop("style", "")
    a = settings.parse_form(query, ApplyOptions, pv.limits.max_size)
    # named "frame" in every message (not the decoded picture's "<PngImageFile>")
    picture = dataclasses.replace(load_image(decode(data, "frame", pv.limits.max_pixels)),
                                  name="frame")
    if model == FAST:
        fast = pv.fast()
        if fast is None:
            raise UsageError("model: this studio has no any-painting model; pick a network")
        if not style:
            raise UsageError("style: pick a painting for the any-painting model (style=ID of "
                             "an uploaded picture)")
        opts = Options().replace(method=FAST, size=a.size, refine=0)  # a camera: the model only
        out = fast.picture(picture, [pv.image(style)], opts)
    else:
        _, network = pv.studio.models.method(model)
        out = network.picture(picture, [], a)
    return Response(jpeg(out), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def zip_results(studio: Studio, ids: str) -> bytes:
    """The result pictures of the named finished jobs, in one zip (in memory)."""
    names = [i for i in ids.split(",") if i]
    if not names:
        raise UsageError("jobs: name the jobs whose pictures go in the zip")
    if len(names) > MAX_ZIP_JOBS:
        raise UsageError(f"jobs: at most {MAX_ZIP_JOBS} at once")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for jid in dict.fromkeys(names):
            job = studio.jobs.get(jid) if JOB_ID.fullmatch(jid) else None
            path = studio.result_path(job) if job is not None else None
            if job is None or job.status != "done" or path is None or not path.is_file():
                raise UsageError(f"jobs: {jid[:40]} has no finished picture")
            z.write(path, f"painterly-{jid}{path.suffix}")
    return buf.getvalue()
