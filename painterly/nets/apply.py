"""``painterly apply MODEL INPUT... -o OUT``: a trained style network over images and folders.

Inputs are image files and folders (their images, not recursing).  One input and an output
with an image extension writes that file; otherwise OUT is a folder (created if needed)
that receives ``NAME.png`` (``--format``) for every input.  Images of the same size after
``--size`` run as one batch.  Under ``torchrun --nproc_per_node=N`` each process takes every
N-th file.  Every file is written atomically.

A clip (``painterly apply MODEL clip.mp4 -o out.mp4``) is stylized frame by frame through
:func:`painterly.video.process_clip` (rate, timestamps and audio kept), kept on the
camera's grid as it pans (:class:`GridLocked`) and steadied by flow-guided temporal blending
where things move apart from the camera (:func:`painterly.temporal.temporal_blend`,
``--blend``).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ImageError, UsageError
from ..images import WRITE_FORMATS, check_folder, load_image, save_image, to_pil
from ..temporal import Camera, camera_motion, small_grey
from .dist import device_for, world
from .network import Network, check_apply_options, photo_tensor

READ_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def collect(inputs: list[str]) -> list[Path]:
    """The image files named or found (one level) in the given folders, in order."""
    files: list[Path] = []
    for s in inputs:
        p = Path(s)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in READ_EXTS
                           and f.is_file() and not f.name.startswith("."))
            if not found:
                raise ImageError(f"{s}: no images in this folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise ImageError(f"{s}: no such file or folder")
    return files


def plan_outputs(files: list[Path], out: str, fmt: str) -> list[Path]:
    """Where each result goes; refuses two inputs that would write the same file."""
    o = Path(out)
    if len(files) == 1 and o.suffix.lower() in WRITE_FORMATS and not o.is_dir():
        check_folder(o)
        return [o]
    if (o.exists() and not o.is_dir()) or (not o.exists() and o.suffix.lower() in WRITE_FORMATS):
        raise UsageError(f"-o {out}: {len(files)} inputs need an output folder, not an image "
                         f"file")
    targets = [o / f"{f.stem}.{fmt}" for f in files]
    seen: dict[Path, Path] = {}
    for f, t in zip(files, targets):
        if t in seen:
            raise UsageError(f"{seen[t]} and {f} would both be written to {t}; apply them "
                             f"separately")
        seen[t] = f
    return targets


def apply_files(net: Network, files: list[Path], outs: list[Path], size: int | None,
                preserve_color: str, strength: float, batch: int, quiet: bool) -> int:
    """Stylize ``files`` into ``outs`` (this process's share under torchrun)."""
    w = world()
    mine = list(zip(files, outs))[w.rank::w.size]
    bar = None
    if not quiet and w.main:
        from tqdm import tqdm

        bar = tqdm(total=len(mine), unit="img", file=sys.stderr, dynamic_ncols=True,
                   desc="apply" if w.size == 1 else f"apply (rank 0 of {w.size})")
    pending: list = []  # (loaded image, tensor, out path) of one size

    def flush() -> None:
        import torch

        x = torch.cat([p[1] for p in pending])
        y = net.finish(net.run(x), x, preserve_color, strength).cpu()
        for i, (img, _, out) in enumerate(pending):
            save_image(to_pil(y[i:i + 1], img.alpha), out)
        if bar is not None:
            bar.update(len(pending))
        pending.clear()

    for f, out in mine:
        img = load_image(f)
        x = photo_tensor(img, size)
        if pending and (pending[0][1].shape != x.shape or len(pending) >= batch):
            flush()
        pending.append((img, x, out))
    if pending:
        flush()
    if bar is not None:
        bar.close()
    return len(mine)


REANCHOR = 1.1  # zoom (either way) after which the network's view starts afresh
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
      scene.  Past a zoom of ``REANCHOR`` either way (the strokes would get too coarse or
      fine) the anchor starts afresh at the current frame.
    """

    net: Network
    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    prev: np.ndarray | None = None  # the last frame, as the camera's motion sees it
    camera: Camera = Camera()  # the last frame's motion, as found (before snapping)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.prev is None:
            self.prev = small_grey(x)
        else:
            cam = self.camera = camera_motion(x, self.prev)
            self.prev = cam.greys[0]
            k = 1.0 if abs(cam.scale - 1.0) < SNAP else cam.scale
            self.shift = (self.scale * cam.shift[0] + self.shift[0],
                          self.scale * cam.shift[1] + self.shift[1])
            self.scale *= k
            if abs(math.log(self.scale)) > math.log(REANCHOR):
                self.scale, self.shift = 1.0, (0.0, 0.0)
        st, (tx, ty), s = self.net.stride, self.shift, self.scale
        if s == 1.0:
            return self.net.run_at(x, round(tx) % st, round(ty) % st)
        h, w = x.shape[-2:]
        x0, y0 = math.floor(tx), math.floor(ty)  # the anchor's pixels that cover the frame
        xs = torch.arange(x0, math.ceil(s * (w - 1) + tx) + 1, dtype=torch.float64)
        ys = torch.arange(y0, math.ceil(s * (h - 1) + ty) + 1, dtype=torch.float64)
        view = _resample(x, (xs - tx) / s, (ys - ty) / s)
        y = self.net.run_at(view, x0 % st, y0 % st)
        back_x = s * torch.arange(w, dtype=torch.float64) + tx - x0
        back_y = s * torch.arange(h, dtype=torch.float64) + ty - y0
        return _resample(y, back_x, back_y).clamp_(0, 1)


def frame_fn(net: Network, preserve_color: str = "none", strength: float = 1.0,
             blend: float = 0.0, lock: bool = True):
    """A per-frame stylizer (:data:`painterly.temporal.FrameFn`) for the frames of one clip,
    in order: the network kept on the camera's grid (``lock``, :class:`GridLocked`) and,
    with ``blend`` > 0, steadied by flow-guided temporal blending."""
    from .. import temporal

    locked = GridLocked(net) if lock else None
    run = locked or net.run

    def fn(x):
        return net.finish(run(x), x, preserve_color, strength)

    if blend <= 0:
        return fn
    camera = (lambda: locked.camera) if locked else None
    return temporal.temporal_blend(fn, blend, camera=camera, warp_mode="bicubic",
                                   flow_side=temporal.FLOW_SIDE)


def apply_clip(args) -> int:
    """``apply`` on one clip into a video output (checked before the model is loaded)."""
    from .. import video
    from ..config import ClipOutput, from_args

    out = from_args(ClipOutput, args)
    if len(args.inputs) != 1 or not video.sniff_video(args.inputs[0]):
        raise UsageError("a clip is applied on its own: one clip as INPUT and a video file as "
                         "-o (images go to an image or a folder output)")
    if not video.is_video_output(args.output):
        raise UsageError(f"-o {args.output}: a clip needs a video output file "
                         f"({', '.join(sorted(video.OUTPUT_FORMATS))}), not a folder or image")
    if not 0.0 <= args.blend <= 1.0:
        raise UsageError(f"--blend: {args.blend} is not between 0 and 1")
    w = world()
    if w.size > 1:
        raise UsageError("a clip runs in one process; start it without torchrun")
    video.check_output(args.output, [*args.inputs, args.model], out.quality)
    info = video.probe(args.inputs[0])
    net = Network.load(args.model, str(device_for(args.device, w)), args.precision,
                       args.runtime)
    fn = frame_fn(net, args.preserve_color, args.strength, args.blend)
    return video.process_clip(args.inputs[0], args.output, fn, args.size, quiet=args.quiet,
                              audio=not args.no_audio, info=info, quality=out.quality)


def cmd_apply(args) -> int:
    """The ``apply`` subcommand (flags: :mod:`painterly.nets.cli`)."""
    from ..video import is_video_output, sniff_video

    check_apply_options(args.size, args.preserve_color, args.strength)
    if is_video_output(args.output) or any(sniff_video(s) for s in args.inputs):
        return apply_clip(args)
    if not 1 <= args.batch <= 256:
        raise UsageError(f"--batch: {args.batch} is not between 1 and 256")
    files = collect(args.inputs)
    outs = plan_outputs(files, args.output, args.ext)
    if len(outs) > 1 or outs[0] != Path(args.output):
        Path(args.output).mkdir(parents=True, exist_ok=True)
    w = world()
    net = Network.load(args.model, str(device_for(args.device, w)), args.precision,
                       args.runtime)
    n = apply_files(net, files, outs, args.size, args.preserve_color, args.strength,
                    args.batch, args.quiet)
    if not args.quiet and w.size == 1:
        where = outs[0] if len(outs) == 1 else Path(args.output)
        print(f"{n} image{'s' if n != 1 else ''} written to {where} ({net.runtime}, "
              f"{net.precision})", file=sys.stderr)
    return 0
