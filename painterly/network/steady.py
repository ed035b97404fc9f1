"""The steadier of a style network's clips: :class:`GridLocked` keeps the network on the
camera's grid as it pans and zooms, and :func:`frame_fn` adds flow-guided temporal blending
where things move apart from the camera (:func:`painterly.temporal.temporal_blend`,
``--blend``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from ..temporal import Camera, camera_motion, fine_band, small_grey
from .network import Network

REANCHOR = 1.15  # zoom (either way) over which one view of the network lasts
FINER = 0.85  # where a fresh view's scale starts in that range: painted this much finer
SNAP = 3e-3  # a frame's scale change below this is taken as none (a pan stays exact)
LANCZOS = 3  # taps either side of the Lanczos kernel that carries the strokes back


def _taps(pos: torch.Tensor, n: int, a: int = LANCZOS) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (edges repeated) and Lanczos-``a`` weights (each row summing to 1) of the
    ``2a`` input samples around each position of ``pos`` (float64 pixel coordinates)."""
    idx = pos.floor()[:, None] + torch.arange(1 - a, a + 1, dtype=torch.float64)
    t = pos[:, None] - idx
    w = torch.sinc(t) * torch.sinc(t / a)
    return idx.clamp(0, n - 1).long(), w / w.sum(1, keepdim=True)


def _resample(img: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """``img`` (N x C x H x W) sampled on the grid of pixel coordinates ``ys`` x ``xs`` (1-D,
    float64) with a separable Lanczos-3 kernel, edges repeated.

    A painted frame is full of one-pixel strokes and every interpolation softens them: on a
    network's output at 854 px, a half-pixel shift raised the texture's Gram distance to
    the painting by 75% with bicubic interpolation and by 44% with Lanczos-3.  So the grid
    lock resamples only on zooms, and with this kernel."""
    def along_rows(x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        idx, wt = _taps(pos, x.shape[-2])
        wt = wt.to(x)
        out = x.index_select(-2, idx[:, 0]) * wt[:, :1]
        for k in range(1, idx.shape[1]):
            out += x.index_select(-2, idx[:, k]) * wt[:, k:k + 1]
        return out

    cols = along_rows(img.float(), ys).transpose(-1, -2).contiguous()
    return along_rows(cols, xs).transpose(-1, -2).contiguous()


@dataclass
class GridLocked:
    """A network run on the frames of one clip, in order, with the scene kept at the same
    place and size on the network's grid as the camera pans and zooms.

    A strided network paints the same texture for inputs shifted by a multiple of its stride
    and a different one for other shifts or sizes, so a camera that moves a few pixels a
    frame makes the whole texture shimmer.  The camera's motion of each frame
    (:func:`painterly.temporal.camera_motion`, a similarity) is chained into where the
    frame sits in the view of the first frame, the *anchor*: ``a = scale * p + shift``.

    * a pan (scale 1): the frame is padded so that the scene keeps its place modulo the
      stride, and the network runs on it as it is (no resampling);
    * a zoom: the frame is resampled onto the anchor's pixel grid, the network runs there
      and its output is resampled back (Lanczos-3), so the strokes grow and shrink with the
      scene.  A view lasts while its scale (its pixels per frame pixel) stays within
      ``REANCHOR ** (FINER - 1)`` .. ``REANCHOR ** FINER`` (0.98 .. 1.13); past that the
      anchor starts afresh at the current frame, at the end of the range the zoom moves
      away from (1.13 when the camera closes in, 0.98 when it pulls back).  So along a
      view's life the strokes go from 0.89x to 1.02x the size the network paints them, not
      from 1x to 1.1x as when each view started at the frame's own scale: resampled
      strokes keep their texture when shrunk, not when enlarged.  At 854x480 the
      zoom's texture distance went from +12% over frame by frame (+16% over every frame)
      to +3%, at the same flicker (docs/video.md).  With ``keep_detail`` the resampled
      output's finest band (:func:`painterly.temporal.fine_band`) is scaled back to the
      energy it had in the network's output (at most twice).
    """

    net: Network
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    prev: np.ndarray | None = None  # the last frame looked at, as the camera's motion sees it
    camera: Camera = Camera()  # the last frame's motion, as found (before snapping)
    keep_detail: bool = True  # a zoom's finest band back to its energy before resampling
    _looked: deque[Camera | None] = field(default_factory=deque, repr=False)  # by look()

    def look(self, x: torch.Tensor) -> None:
        """Find the camera's motion of the next frame ahead of :meth:`__call__` (frames in
        order, from another thread: :func:`painterly.video.process_clip` calls it as it
        decodes, so the flow is found beside the network's work on the frames before)."""
        cam = None if self.prev is None else camera_motion(x, self.prev)
        self.prev = small_grey(x) if cam is None else cam.greys[0]
        self._looked.append(cam)

    def _find(self, x: torch.Tensor) -> Camera | None:
        """The camera's motion from the last frame to ``x`` (None for a clip's first): as
        found ahead by :meth:`look`, or found now when nobody looked."""
        if not self._looked:
            self.look(x)
        return self._looked.popleft()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        cam = self._find(x)
        if cam is not None:
            self.camera = cam
            k = 1.0 if abs(cam.scale - 1.0) < SNAP else cam.scale
            self.shift = (self.scale * cam.shift[0] + self.shift[0],
                          self.scale * cam.shift[1] + self.shift[1])
            self.scale *= k
            if not REANCHOR ** (FINER - 1) - 1e-9 <= self.scale <= REANCHOR ** FINER + 1e-9:
                self.scale = REANCHOR ** (FINER if k < 1 else FINER - 1)  # a fresh view
                self.shift = (0.0, 0.0)
        st, (tx, ty), s = self.net.stride, self.shift, self.scale
        if s == 1.0:
            return self.net.transform_at(x, round(tx) % st, round(ty) % st)
        h, w = x.shape[-2:]
        x0, y0 = math.floor(tx), math.floor(ty)  # the anchor's pixels that cover the frame
        xs = torch.arange(x0, math.ceil(s * (w - 1) + tx) + 1, dtype=torch.float64)
        ys = torch.arange(y0, math.ceil(s * (h - 1) + ty) + 1, dtype=torch.float64)
        view = _resample(x, (xs - tx) / s, (ys - ty) / s)
        y = self.net.transform_at(view, x0 % st, y0 % st)
        back_x = s * torch.arange(w, dtype=torch.float64) + tx - x0
        back_y = s * torch.arange(h, dtype=torch.float64) + ty - y0
        r = _resample(y, back_x, back_y)
        if self.keep_detail:  # the finest band back to the energy it had before resampling
            fr = fine_band(r)
            e_r = fr.pow(2).mean((-2, -1), keepdim=True).clamp_min(1e-12)
            e_y = fine_band(y).pow(2).mean((-2, -1), keepdim=True)
            r = r + ((e_y / e_r).sqrt().clamp(1.0, 2.0) - 1) * fr
        return r.clamp_(0, 1)


def frame_fn(net: Network, preserve_color: str = "none", strength: float = 1.0,
             blend: float = 0.0, lock: bool = True, keep_detail: bool = True):
    """A per-frame stylizer (:data:`painterly.temporal.FrameFn`) for the frames of one clip,
    in order: the network kept on the camera's grid (``lock``, :class:`GridLocked`) and,
    with ``blend`` > 0, steadied by flow-guided temporal blending.

    Clips lock every network, whatever its stride (docs/video.md): at 854x480, blending a
    pan without the lock cut the flicker further but carried the strokes along the flow
    from frame to frame, each time resampled, until the texture distance was 3.3x (the
    two-stage quality preset) and 4.8x (the fast preset) that of the frames on their own;
    with the lock it stayed within 4%.  (At 256 px the loss did not show.)"""
    from .. import temporal

    if lock or blend > 0:
        temporal.need_flow()
    locked = GridLocked(net, keep_detail=keep_detail) if lock else None
    paint = locked or net.transform

    def fn(x):
        return net.finish(paint(x), x, preserve_color, strength)

    if locked:
        fn.look = locked.look  # the camera found ahead (painterly.temporal.FrameFn)
    if blend <= 0:
        return fn
    camera = (lambda: locked.camera) if locked else None
    return temporal.temporal_blend(fn, blend, camera=camera, warp_mode="bicubic",
                                   flow_side=temporal.FLOW_SIDE, keep_detail=keep_detail)
