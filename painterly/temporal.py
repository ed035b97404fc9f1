"""Motion between video frames, and what makes a stylized clip steady.

Images are RGB tensors 1 x 3 x H x W in 0..1; a flow is a float32 array H x W x 2 of pixel
offsets (dx, dy).

Conventions.  ``flow(a, b)`` gives, for every pixel p of ``a``, where it is in ``b``:
``b(p + f(p)) ~ a(p)``.  To carry the previous frame onto the current one we need the
*backward* flow ``f_b = flow(current, previous)``; then ``warp(previous, f_b)(p) =
previous(p + f_b(p))``.

Occlusion (Sundaram, Brox & Keutzer 2010; used by Ruder, Dosovitskiy & Brox 2016).  A pixel
p of the current frame is reliable when following the backward flow and then the forward
flow ``f_f = flow(previous, current)`` comes back to p::

    |f_b(p) + f_f(p + f_b(p))|^2  <=  0.01 (|f_b(p)|^2 + |f_f(p + f_b(p))|^2) + 0.5

and p + f_b(p) lies inside the previous frame.  Pixels that fail were hidden in the previous
frame (disoccluded) or sit on a motion boundary where the flow is unreliable.

Flicker metric (Lai et al. 2018, "Learning Blind Video Temporal Consistency"): the temporal
warping error of an output clip O given its input clip I,

    E_warp = 1/(T-1) sum_{t>=1} [ sum_p M_t(p) |O_t(p) - warp(O_{t-1}, f_b)(p)|^2 / sum_p M_t(p) ]

with f_b and the mask M_t computed from the *input* frames (:func:`motion`: forward-backward
consistency, and the warped input matching the input), |.|^2 summed over the three channels
(RGB in 0..1).

Anti-flicker:

* optimisation (Ruder et al. 2016): start each frame from the previous stylized frame warped
  by the flow (the current frame where the flow sees nothing), and add the temporal loss
  ``temporal_loss(x, warped, mask) = sum_p M(p) |x(p) - warped(p)|^2 / (3 H W)``;
* any per-frame stylizer (networks): :func:`temporal_blend` mixes the current output with the
  warped previous output where the flow is reliable and the input pixels agree;
* strided networks also follow the camera (:func:`camera_motion`, a similarity fitted to the
  flow) so that their texture stays on the scene as it pans and zooms
  (:class:`painterly.network.steady.GridLocked`), and then need blending only where things move
  apart from the camera.

The optical flow is OpenCV's DIS (Kroeger et al. 2016) at its "medium" preset, chosen over
Farneback by measurement on clips with known motion (``benchmarks/video.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from .errors import UsageError
from .images import separable_conv

FrameFn = Callable[[torch.Tensor], torch.Tensor]
"""A per-frame stylizer: 1 x 3 x H x W in 0..1 -> 1 x 3 x H x W in 0..1 (the same size),
called with the frames of one clip in order.  One may also have a ``look(frame)`` method:
:func:`painterly.video.process_clip` calls it with each frame, in order, in its decoding
thread, before the frame reaches the stylizer, for work that depends on the input frames
only (a grid-locked network's camera motion), done there beside the stylizer's work on the
frames before."""

FLOW_METHODS = ("dis", "farneback")
LUMA = (0.299, 0.587, 0.114)  # the grey of R, G and B


def _grey(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A frame as 8-bit grey H x W (what OpenCV's flow wants): RGB as a 1 x 3 x H x W tensor
    or an H x W x 3 array (0..1 or 0..255), or already grey (a 1 x 1 x H x W tensor in 0..1;
    an H x W uint8 array is kept)."""
    if isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == np.uint8:
        return x
    if isinstance(x, np.ndarray):
        a = torch.from_numpy(np.asarray(x, dtype=np.float32)).permute(2, 0, 1)[None]
        if a.max() > 1.0:
            a = a / 255.0
    else:
        a = x.detach().float().cpu()
    g = a if a.shape[1] == 1 else _luma(a)
    return (g[0, 0] * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).numpy()


def _luma(x: torch.Tensor) -> torch.Tensor:
    """The grey of RGB (N x 3 x H x W -> N x 1 x H x W)."""
    return x[:, :1] * LUMA[0] + x[:, 1:2] * LUMA[1] + x[:, 2:3] * LUMA[2]


def need_flow() -> None:
    """UsageError unless OpenCV, which finds the optical flow, can be imported: asked when a
    clip's frames are made, so that a clip that would need it stops before its first frame
    rather than with a traceback after it."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        raise UsageError("clips are steadied along the optical flow, which needs OpenCV: "
                         "pip install 'painterly[video]'") from None


def optical_flow(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray,
                 method: str = "dis") -> np.ndarray:
    """Flow from frame ``a`` to frame ``b`` (H x W x 2, pixels): b(p + f(p)) ~ a(p).  The
    frames are RGB (tensors or arrays) or already 8-bit grey H x W arrays."""
    import cv2

    ga, gb = _grey(a), _grey(b)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        return dis.calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, pyr_scale=0.5, levels=4, winsize=15,
                                            iterations=3, poly_n=5, poly_sigma=1.2, flags=0)
    raise ValueError(f"unknown flow method {method!r}; one of {FLOW_METHODS}")


FLOW_SIDE = 480  # longest side of the copies on which networks find the motion (speed)


@dataclass(frozen=True)
class Camera:
    """The camera's motion between two frames as a similarity: the pixel p of the current
    frame was at ``q = scale * p + shift`` in the previous one (a pan: scale 1; zooming in:
    scale < 1)."""

    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    # the backward flow it was fitted to, on the copies shrunk to FLOW_SIDE, and those copies
    # in grey (current, previous): the temporal blend reuses them instead of making them again
    flow: np.ndarray | None = field(default=None, compare=False, repr=False)
    greys: tuple[np.ndarray, np.ndarray] | None = field(default=None, compare=False,
                                                       repr=False)


def fit_camera(flow: np.ndarray, step: int = 1) -> Camera:
    """The similarity (scale and shift) that best explains a backward flow: from the median
    flow (a pan), refitted by least squares four times on every ``step``-th pixel that the
    last fit explains within half a pixel (or the better half): things that move on their own
    do not pull it."""
    f = np.asarray(flow, dtype=np.float64)[::step, ::step]
    h, w = f.shape[:2]
    px = np.tile(np.arange(w, dtype=np.float64) * step, h)
    py = np.repeat(np.arange(h, dtype=np.float64) * step, w)
    qx, qy = px + f[..., 0].ravel(), py + f[..., 1].ravel()
    scale, tx, ty = 1.0, float(np.median(qx - px)), float(np.median(qy - py))  # a pan first
    for _ in range(4):
        ex, ey = scale * px + tx - qx, scale * py + ty - qy
        miss = np.sqrt(ex * ex + ey * ey)
        keep = miss < max(0.5, float(np.median(miss)))
        if np.count_nonzero(keep) < 8:
            break
        kpx, kpy, kqx, kqy = px[keep], py[keep], qx[keep], qy[keep]  # each taken once
        mx, my = kpx.mean(), kpy.mean()
        dx, dy = kpx - mx, kpy - my
        spread = float((dx * dx + dy * dy).sum())  # no BLAS: its threads would spin
        scale = float((dx * (kqx - kqx.mean()) + dy * (kqy - kqy.mean())).sum() / spread) \
            if spread > 0 else 1.0                   # beside torch's on the same cores
        tx, ty = kqx.mean() - scale * mx, kqy.mean() - scale * my
    return Camera(scale, (float(tx), float(ty)))


def _shrink(x: torch.Tensor, side: int | None) -> torch.Tensor:
    """``x`` (1 x C x H x W) shrunk to the longest side ``side`` (as it is when smaller or
    ``side`` is None); a pixel centre p of the copy is the frame's (p + 0.5) k - 0.5."""
    h, w = x.shape[-2:]
    if not side or max(h, w) <= side:
        return x
    k = side / max(h, w)
    hw = (max(round(h * k), 16), max(round(w * k), 16))
    return F.interpolate(x, size=hw, mode="bilinear", antialias=True, align_corners=False)


def small_grey(x: torch.Tensor) -> np.ndarray:
    """A frame (1 x 3 x H x W) shrunk to ``FLOW_SIDE`` in 8-bit grey: what the motion of a
    network's clip is found on: the grey of the full frame shrunk (one channel to shrink
    instead of three; both steps are linear, so the same grey as :func:`_grey` of the
    shrunk frame but for rounding)."""
    return _grey(_shrink(_luma(x.detach().float().cpu()), FLOW_SIDE))


def camera_motion(current: torch.Tensor, previous: torch.Tensor | np.ndarray) -> Camera:
    """The camera's motion from ``previous`` to ``current`` (:class:`Camera`, in full-size
    pixels), fitted to the optical flow of copies shrunk to ``FLOW_SIDE`` (a few ms): a
    still background gives no motion however textured the objects moving over it.
    ``previous``: the previous frame, or its :func:`small_grey` kept from the last call."""
    small = small_grey(current)
    before = previous if isinstance(previous, np.ndarray) else small_grey(previous)
    flow = optical_flow(small, before)
    cam = fit_camera(flow, step=2)  # backward: current(p) ~ previous(p + f(p))
    (h, w), (sh, sw) = current.shape[-2:], small.shape
    ky, kx, s = h / sh, w / sw, cam.scale
    return Camera(s, (cam.shift[0] * kx + 0.5 * (s - 1) * (1 - kx),
                      cam.shift[1] * ky + 0.5 * (s - 1) * (1 - ky)), flow, (small, before))


def _to_grid(px: torch.Tensor, py: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pixel coordinates of an h x w image as grid_sample's -1..1 (align_corners), stacked
    on a last axis of 2."""
    return torch.stack([px * (2.0 / max(w - 1, 1)) - 1.0, py * (2.0 / max(h - 1, 1)) - 1.0],
                       dim=-1)


def _grid(flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Sampling grid (1 x H x W x 2, in -1..1) for grid_sample at p + f(p)."""
    f = torch.as_tensor(flow, dtype=torch.float32)
    h, w = f.shape[:2]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    return _to_grid(xs + f[..., 0], ys + f[..., 1], h, w)[None]


def warp(img: torch.Tensor, flow: np.ndarray | torch.Tensor,
         mode: str = "bilinear") -> torch.Tensor:
    """``img`` (1 x C x H x W) sampled at p + flow(p), edges repeated; ``mode`` bilinear or
    bicubic (sharper, for pictures carried over many frames)."""
    grid = _grid(flow).to(img.device)
    return F.grid_sample(img.float(), grid, mode=mode, padding_mode="border",
                         align_corners=True).to(img.dtype)


def _sample(img: torch.Tensor, px: torch.Tensor, py: torch.Tensor,
            mode: str = "bilinear") -> torch.Tensor:
    """``img`` (1 x C x H x W) at the K points (px, py) (pixels), as C x K: the values
    :func:`warp` gives there."""
    grid = _to_grid(px, py, *img.shape[-2:])[None, None].to(img.device)
    return F.grid_sample(img.float(), grid, mode=mode, padding_mode="border",
                         align_corners=True)[0, :, 0]


def fine_band(x: torch.Tensor) -> torch.Tensor:
    """The finest band of ``x`` (N x C x H x W): ``x`` less its [1,2,1] x [1,2,1] / 16 blur
    (edges repeated), the one-pixel strokes that every interpolation and every mix of two
    unrelated stroke patterns weakens."""
    return x - separable_conv(x, torch.tensor([0.25, 0.5, 0.25]), "replicate")


def occlusion_mask(flow_bw: np.ndarray, flow_fw: np.ndarray) -> np.ndarray:
    """1 where the backward flow of the current frame is reliable, else 0 (H x W float32).

    Forward-backward consistency, and the target inside the previous frame (module doc)."""
    h, w = flow_bw.shape[:2]
    fb = torch.as_tensor(flow_bw, dtype=torch.float32)
    ff = torch.as_tensor(flow_fw, dtype=torch.float32).permute(2, 0, 1)[None]
    ff_at = warp(ff, fb)[0].permute(1, 2, 0)  # forward flow at p + f_b(p)
    err = (fb + ff_at).pow(2).sum(-1)
    tol = 0.01 * (fb.pow(2).sum(-1) + ff_at.pow(2).sum(-1)) + 0.5
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32),
                            torch.arange(w, dtype=torch.float32), indexing="ij")
    tx, ty = xs + fb[..., 0], ys + fb[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return ((err <= tol) & inside).float().numpy()


@dataclass
class Motion:
    """What the flow says about the step from the previous frame to the current one."""

    flow: np.ndarray  # backward flow of the current frame, H x W x 2
    mask: torch.Tensor  # 1 x 1 x H x W, 1 where the previous frame sees the pixel
    photo: torch.Tensor | None = None  # 1 x 1 x H x W, |current - warped previous|^2


PHOTO_TOL = 0.02  # squared RGB distance (0..1 scale, summed over channels)
LOCK_FREE = 0.5  # px of motion apart from the camera's taken as the flow's own error
LOCK_TOL = 1.0  # px more at which a locked pixel is fully blended


def motion(current: torch.Tensor, previous: torch.Tensor, method: str = "dis",
           side: int | None = None) -> Motion:
    """Backward flow and reliability mask between two input frames (same size).

    The mask is the forward-backward :func:`occlusion_mask`, less the pixels where the warped
    previous frame does not match the current one (squared RGB distance over ``PHOTO_TOL``):
    smooth flow fields can pass the consistency check on a strip just uncovered by a moving
    object, and the colours catch it.  With ``side``, the flows and the consistency check
    are computed on copies shrunk to that longest side (about 3x faster at 854x480) and
    brought back to full size; the colour check stays at full size."""
    current = current.detach().float().cpu()
    previous = previous.detach().float().cpu()
    h, w = current.shape[-2:]
    small_c, small_p = _shrink(current, side), _shrink(previous, side)
    fb = optical_flow(small_c, small_p, method)
    ff = optical_flow(small_p, small_c, method)
    fb, mask = _flow_to_size(fb, h, w), _mask_to_size(occlusion_mask(fb, ff), h, w)
    photo = (current - warp(previous, fb)).pow(2).sum(1, keepdim=True)
    return Motion(fb, mask * (photo <= PHOTO_TOL).float(), photo)


def _flow_to_size(flow: np.ndarray, h: int, w: int) -> np.ndarray:
    """A flow found on a shrunk copy, brought to h x w (bilinear, offsets rescaled)."""
    if flow.shape[:2] == (h, w):
        return flow
    f = torch.from_numpy(flow).permute(2, 0, 1)[None]
    f = F.interpolate(f, size=(h, w), mode="bilinear", align_corners=False)
    f[:, 0] *= w / flow.shape[1]
    f[:, 1] *= h / flow.shape[0]
    return f[0].permute(1, 2, 0).contiguous().numpy()


def _mask_to_size(mask: np.ndarray, h: int, w: int) -> torch.Tensor:
    """An occlusion mask (H x W) as 1 x 1 x h x w, 1 only where the shrunk copy is sure."""
    m = torch.from_numpy(mask)[None, None]
    if m.shape[-2:] == (h, w):
        return m
    return (F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False) > 0.99).float()


def warping_error(outputs: Iterable[torch.Tensor], inputs: Iterable[torch.Tensor],
                  method: str = "dis") -> tuple[float, list[float]]:
    """Temporal warping error (module doc) of an output clip given its input clip.

    Returns the mean over frames and the error of every frame after the first.  Frames are
    consumed one at a time, so the clips may be generators."""
    errs: list[float] = []
    prev_in = prev_out = None
    for o, i in zip(outputs, inputs):
        o = o.detach().float().cpu()
        i = i.detach().float().cpu()
        if prev_in is not None:
            m = motion(i, prev_in, method)
            diff = (o - warp(prev_out, m.flow)).pow(2).sum(1, keepdim=True)
            errs.append(float((diff * m.mask).sum() / m.mask.sum().clamp(min=1.0)))
        prev_in, prev_out = i, o
    return (float(np.mean(errs)) if errs else 0.0), errs


def temporal_loss(x: torch.Tensor, warped: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ruder et al.'s short-term temporal loss: masked mean squared distance of ``x`` to the
    warped previous output.  ``warped`` and ``mask`` are resized to ``x`` if need be."""
    hw = tuple(x.shape[-2:])
    if tuple(warped.shape[-2:]) != hw:
        warped = F.interpolate(warped.float(), size=hw, mode="bilinear", align_corners=False)
    if tuple(mask.shape[-2:]) != hw:
        mask = F.interpolate(mask.float(), size=hw, mode="bilinear", align_corners=False)
    warped, mask = warped.to(x.device), mask.to(x.device)
    return (mask * (x.float() - warped.float()).pow(2)).sum() / x[0].numel()


def init_from_previous(content: torch.Tensor, prev_out: torch.Tensor,
                       m: Motion) -> tuple[torch.Tensor, torch.Tensor]:
    """(initial image, warped previous output): the previous output carried by the flow,
    the current frame where the flow sees nothing (disoccluded pixels)."""
    warped = warp(prev_out, m.flow)
    return m.mask * warped + (1 - m.mask) * content, warped


# --- networks: flow-guided blending at inference ----------------------------------------

def apart_from_camera(flow: np.ndarray, cam: Camera) -> torch.Tensor:
    """1 x 1 x H x W: how far (pixels) each pixel's backward flow is from the camera's."""
    f = torch.as_tensor(flow, dtype=torch.float32)
    h, w = f.shape[:2]
    ex = (cam.scale - 1) * torch.arange(w, dtype=torch.float32) + cam.shift[0]  # q - p, a row
    ey = (cam.scale - 1) * torch.arange(h, dtype=torch.float32)[:, None] + cam.shift[1]
    return torch.hypot(f[..., 0] - ex, f[..., 1] - ey)[None, None]


@dataclass
class TemporalBlend:
    """A per-frame stylizer made steady: ``out_t = s_t + a * c_t * (warp(out_{t-1}) - s_t)``
    with ``s_t = fn(frame_t)``, ``a = strength`` and ``c_t`` the confidence of the flow: the
    non-occlusion mask times ``exp(-|frame_t - warp(frame_{t-1})|^2 / sigma^2)`` (pixels
    whose input changed are not blended, so moving things do not leave ghosts).

    ``camera``: ``fn`` already keeps its texture on the scene as the camera pans and zooms (a
    grid-locked network, :class:`painterly.network.steady.GridLocked`), and ``camera()`` is the
    camera motion it followed for the frame just stylized; pixels that move with the camera
    are steady as they are and blending them would only smooth the texture, so the
    confidence is scaled by ``clamp((d(p) - LOCK_FREE) / LOCK_TOL, 0, 1)`` with ``d(p)`` the
    pixel's motion apart from the camera's (:func:`apart_from_camera`): the flow's own error
    of a fraction of a pixel on a zoom blends nothing.  With a camera the flows are DIS on
    copies shrunk to ``FLOW_SIDE`` (those the camera was fitted to; ``flow_method`` and
    ``flow_side`` apply without one).  ``warp_mode`` bicubic carries the previous output
    with less blur than bilinear (it adds up over the frames).  ``keep_detail`` (with a
    camera): the blend mixes the coarse part as above and the finest band
    (:func:`fine_band`) as ``((1 - w) f_t + w warp(f_{t-1})) / sqrt((1 - w)^2 + w^2)``,
    ``w = a * c_t``: two unrelated stroke patterns mixed keep the energy of either (plain
    mixing halves it at w = 0.5, and the texture distance of a moving object rose by 19%).

    Called with the frames of one clip in order; :meth:`reset` before another clip."""

    fn: FrameFn
    strength: float = 0.7
    sigma: float = 0.1
    flow_method: str = "dis"
    warp_mode: str = "bilinear"
    camera: Callable[[], Camera] | None = None
    flow_side: int | None = None
    keep_detail: bool = False
    _prev_in: torch.Tensor | None = field(default=None, repr=False)
    _prev_out: torch.Tensor | None = field(default=None, repr=False)

    def reset(self) -> None:
        self._prev_in = self._prev_out = None

    def look(self, frame: torch.Tensor) -> None:
        """The wrapped stylizer's ``look`` (:data:`FrameFn`), if it has one."""
        look = getattr(self.fn, "look", None)
        if look is not None:
            look(frame)

    def __call__(self, frame: torch.Tensor) -> torch.Tensor:
        out = self.fn(frame).detach().float()
        frame = frame.detach().float()
        if self._prev_in is not None and self.strength > 0:
            if self.camera is not None:
                out = self._blend_apart(frame, out, self.camera())
            else:
                out = self._blend(frame, out)
        self._prev_in, self._prev_out = frame, out
        return out

    def _blend(self, frame: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The blend over the whole frame."""
        m = motion(frame, self._prev_in, self.flow_method, self.flow_side)
        conf = m.mask.to(out.device)
        conf = conf * torch.exp(-m.photo.to(out.device) / self.sigma ** 2)
        carried = warp(self._prev_out, m.flow, self.warp_mode).clamp_(0, 1)
        return out + self.strength * conf * (carried - out)

    def _blend_apart(self, frame: torch.Tensor, out: torch.Tensor, cam: Camera
                     ) -> torch.Tensor:
        """The blend behind a grid-locked network, computed only where it changes anything:
        the pixels that move apart from the camera and that land inside the previous frame
        (on a pan or zoom, a few percent of the frame).  It works from the DIS flow the
        camera was fitted to (``FLOW_SIDE``) and never computes a forward flow: where a
        pixel was hidden in the previous frame, the colour it lands on there differs, and
        the photometric check (``PHOTO_TOL``, then ``exp(-d/sigma^2)``) refuses to carry it,
        as the whole-frame blend's forward-backward check would.  Measured on the three
        clip kinds at 854x480, flicker and texture are the same as with that check, at a
        fifth less time per frame.  The per-pixel rule is the whole-frame blend's times the
        lift."""
        if cam.flow is None:  # a camera given without its flow
            now, before = small_grey(frame), small_grey(self._prev_in)
            cam = replace(cam, flow=optical_flow(now, before), greys=(now, before))
        h, w = frame.shape[-2:]
        fb = torch.from_numpy(_flow_to_size(cam.flow, h, w))
        lift = ((apart_from_camera(fb, cam)[0, 0] - LOCK_FREE) / LOCK_TOL).clamp(0.0, 1.0)
        if not bool((lift > 0).any()):
            return out
        ys, xs = (lift > 0).nonzero(as_tuple=True)
        f = fb[ys, xs]
        px, py = xs.float() + f[:, 0], ys.float() + f[:, 1]
        inside = (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)
        ys, xs, px, py = ys[inside], xs[inside], px[inside], py[inside]
        if not len(ys):
            return out
        photo = (frame[0, :, ys, xs].cpu() - _sample(self._prev_in.cpu(), px, py)
                 ).pow(2).sum(0)
        conf = lift[ys, xs] * (photo <= PHOTO_TOL).float() * torch.exp(-photo / self.sigma ** 2)
        carried = _sample(self._prev_out.cpu(), px, py, self.warp_mode).clamp_(0, 1)
        out = out.clone()
        here = out[0, :, ys, xs]
        a = self.strength * conf.to(out.device)
        if not self.keep_detail:
            out[0, :, ys, xs] = here + a * (carried.to(out.device) - here)
            return out
        # the coarse part mixed as it is; the finest band (two unrelated stroke patterns,
        # mixed, lose energy) scaled back to the energy of either: / sqrt((1-a)^2 + a^2)
        f_here = _band_at(out, ys, xs)
        f_car = _band_at(self._prev_out.cpu(), py, px, self.warp_mode).to(out.device)
        coarse = here - f_here
        coarse = coarse + a * (carried.to(out.device) - f_car - coarse)
        fine = ((1 - a) * f_here + a * f_car) / ((1 - a) ** 2 + a ** 2).sqrt()
        out[0, :, ys, xs] = (coarse + fine).clamp_(0, 1)
        return out


def _band_at(img: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor,
             mode: str | None = None) -> torch.Tensor:
    """The finest band of ``img`` (1 x C x H x W) at the pixels ``ys``, ``xs`` (C x N), or
    sampled at those coordinates with ``mode``: at pixels, from the nine neighbours of each
    (edges repeated); sampled, over their bounding box only, with the margin the band and
    the sampling kernel read.  The same numbers as over the whole frame (at 854x480 the two
    whole-frame bands of a blended frame took 12 ms; the flow's own errors on a pan scatter
    the blended pixels over half the frame, where the box took 3 ms and the neighbours
    take a tenth of that)."""
    h, w = img.shape[-2:]
    if mode is None:
        ys, xs = ys.long(), xs.long()
        blur = 0.0
        for dy, ky in ((-1, 0.25), (0, 0.5), (1, 0.25)):
            yy = (ys + dy).clamp(0, h - 1)
            for dx, kx in ((-1, 0.25), (0, 0.5), (1, 0.25)):
                blur = blur + (ky * kx) * img[0, :, yy, (xs + dx).clamp(0, w - 1)]
        return img[0, :, ys, xs] - blur
    m = 4  # the band's tap, plus bicubic's two either side
    y0, x0 = max(int(ys.min().floor()) - m, 0), max(int(xs.min().floor()) - m, 0)
    y1, x1 = min(int(ys.max().ceil()) + m + 1, h), min(int(xs.max().ceil()) + m + 1, w)
    return _sample(fine_band(img[..., y0:y1, x0:x1]), xs - x0, ys - y0, mode)


def temporal_blend(fn: FrameFn, strength: float = 0.7, sigma: float = 0.1,
                   flow_method: str = "dis", *, camera: Callable[[], Camera] | None = None,
                   warp_mode: str = "bilinear", flow_side: int | None = None,
                   keep_detail: bool = False) -> TemporalBlend:
    """Wrap any per-frame stylizer with flow-guided temporal blending (:class:`TemporalBlend`)."""
    if strength > 0:
        need_flow()
    return TemporalBlend(fn, strength, sigma, flow_method, warp_mode, camera, flow_side,
                         keep_detail)
