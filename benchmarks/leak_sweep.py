"""Candidate settings against the painting's objects leaking into the photo, all measures.

Every candidate (a named set of option overrides; ``default`` is today's defaults) is run
over every content x style pair and size with one in-process :class:`painterly.Stylizer`
(weights loaded once), and every output is scored by ``benchmarks/score.py`` with the fixed
VGG-19 in float32: style, texture and content distances, recognizability against the
photos of ``--photos`` and the leak fraction (see score.py for their definitions).

Written to ``--out``: ``leak_sweep.csv`` (one row per run), ``leak_sweep.md`` (a summary per
candidate and every run, with the targets leak <= 0.2, texture <= 0.06, recog <= 0.8) and
one contact sheet ``sheet_<candidate>.png`` per candidate (a row per pair: the style, then
the output at each size with its measures).  The table and CSV are rewritten after every
run, so a run cut short keeps what it measured.

Run from the repository root::

    PYTHONPATH=. python3 benchmarks/leak_sweep.py --device cuda --out /tmp/leak \\
        [--images DIR] [--photos DIR] [--sizes 384 512] [--candidates default no-relu5 ...]

``--list`` shows the built-in candidates; a candidate can also be written out as
``NAME:option=value;option=value`` (list values separated by spaces), e.g.
``'mine:structure=0.25;content_layers=relu4_2 relu5_1'``.  ``--pack-weights FILE`` writes
the weights in use to FILE with every layer past conv5_1 (which neither the default layers
nor the scorer reach) stored as a one-number placeholder: the same scores from a file of
52 MB instead of 80.
"""

from __future__ import annotations

import argparse
import csv
import io
import itertools
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageDraw

from benchmarks.score import N_PHOTOS, Scorer
from painterly.config import Options, make_options
from painterly.errors import PainterlyError, UsageError
from painterly.images import LoadedImage, load_image, save_bytes, save_image
from painterly.optimise.stylizer import Stylizer
from painterly.sweep import _font
from painterly.vgg import canonical, layer_names
from painterly.weights import VGGWeights, load_weights, resolve, save_weights

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CONTENTS = ("tubingen.jpg", "hoovertowernight.jpg")
STYLES = ("starry_night.jpg", "the_scream.jpg", "woman-with-hat-matisse.jpg", "shipwreck.jpg")
TEXTURE_LAYERS = "relu1_1 relu2_1 relu3_1 relu4_1"

# Targets of the measures (an output meets them all or not)
LEAK_MAX, TEXTURE_MAX, RECOG_MAX = 0.2, 0.06, 0.8

CANDIDATES: dict[str, dict[str, str]] = {
    "default": {},
    "no-relu5": {"style_layers": TEXTURE_LAYERS},
    "content-relu5": {"content_layers": "relu4_2 relu5_1"},
    "structure-0.5": {"structure": "0.5"},
    "structure-0.3": {"structure": "0.3"},
    "structure-0.2": {"structure": "0.2"},
    # more, measured on request (--candidates NAME)
    "structure-0.12": {"structure": "0.12"},
    "structure-0.3+content-relu5": {"structure": "0.3", "content_layers": "relu4_2 relu5_1"},
    "no-relu5+content-relu5": {"style_layers": TEXTURE_LAYERS,
                               "content_layers": "relu4_2 relu5_1"},
    "style-scale-1.5": {"style_scale": "1.5"},
    "style-scale-0.75": {"style_scale": "0.75"},
}
DEFAULT_CANDIDATES = ("default", "no-relu5", "content-relu5", "structure-0.5", "structure-0.3",
                      "structure-0.2")
MEASURES = ("leak", "texture", "recog", "style", "content")
GRAM_COLUMNS = tuple(f"gram_relu{b}_1" for b in range(1, 6))
DEEPEST = "relu5_1"  # a packed weights file holds the real network up to here


@dataclass
class Candidate:
    name: str
    overrides: dict[str, str]

    def describe(self) -> str:
        return "; ".join(f"--{k.replace('_', '-')} {v}" for k, v in self.overrides.items()) \
            or "(defaults)"


def parse_candidate(spec: str) -> Candidate:
    """A built-in name, or ``NAME:option=value;option=value``."""
    if spec in CANDIDATES:
        return Candidate(spec, dict(CANDIDATES[spec]))
    name, colon, rest = spec.partition(":")
    if not colon or not name.strip():
        known = ", ".join(CANDIDATES)
        raise UsageError(f"--candidates {spec!r}: not a built-in ({known}) nor "
                         "NAME:option=value;option=value")
    overrides = {}
    for part in filter(None, (p.strip() for p in rest.split(";"))):
        key, eq, value = part.partition("=")
        if not eq:
            raise UsageError(f"--candidates {spec!r}: '{part}' is not option=value")
        overrides[key.strip().lstrip("-").replace("-", "_")] = value.strip()
    return Candidate(name.strip(), overrides)


def candidate_options(cand: Candidate, size: int, precision: str) -> Options:
    opts = make_options(**{"size": size, "precision": precision, **cand.overrides})
    order = layer_names(opts.model)
    for layer in [*opts.style_layers, *opts.content_layers]:
        if order.index(canonical(layer, opts.model)) > order.index(DEEPEST):
            raise UsageError(f"candidate {cand.name}: layer {layer} lies past {DEEPEST}, "
                             "which a packed weights file does not hold")
    return opts


def parse_pair(spec: str, contents: list[str], styles: list[str]) -> tuple[str, str]:
    """``CONTENT:STYLE`` by file name or stem."""
    c, colon, s = spec.partition(":")
    if not colon:
        raise UsageError(f"--pairs {spec!r}: expected CONTENT:STYLE, e.g. tubingen:the_scream")

    def find(x: str, names: list[str]) -> str:
        for n in names:
            if x in (n, Path(n).stem):
                return n
        return x if Path(x).suffix else x + ".jpg"

    return find(c, contents), find(s, styles)


def pack_weights(w: VGGWeights, dest: Path) -> Path:
    """Save ``w`` with the convolutions past conv5_1 as placeholders (a single stored number
    each, broadcast to the right shape): the file loads and checks like the full one, and
    every layer up to relu5_1 is bit for bit the same."""
    state = {}
    for k, v in w.state.items():
        if k.startswith(("conv5_2", "conv5_3", "conv5_4")):
            state[k] = torch.zeros(1, dtype=v.dtype).expand(v.shape)
        else:
            state[k] = v.contiguous()
    buf = io.BytesIO()
    save_weights(VGGWeights(w.arch, w.preprocess, state, w.source), buf)
    return save_bytes(buf.getvalue(), dest)


# --- tables ----------------------------------------------------------------------------------

def meets(row: dict[str, Any]) -> bool:
    return (row["leak"] <= LEAK_MAX and row["texture"] <= TEXTURE_MAX
            and row.get("recog", 0.0) <= RECOG_MAX)


def write_csv(rows: list[dict[str, Any]], dest: Path) -> None:
    cols = ["candidate", "content_image", "style_image", "size", "seconds", *MEASURES,
            *GRAM_COLUMNS,
            "meets_targets", "options"]
    buf = io.StringIO()
    wr = csv.DictWriter(buf, cols, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow({**{k: (f"{v:.5f}" if isinstance(v, float) else v) for k, v in r.items()},
                     "meets_targets": int(meets(r))})
    save_bytes(buf.getvalue().encode(), dest)


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def summary_markdown(rows: list[dict[str, Any]], cands: list[Candidate], header: str) -> str:
    lines = [header, "",
             f"Targets: leak <= {LEAK_MAX}, texture <= {TEXTURE_MAX}, recog <= {RECOG_MAX} "
             "(all three: 'meets').  Mean and worst (max) over the runs of each candidate.", "",
             "| candidate | options | runs | meets | leak mean | leak max | texture mean | "
             "texture max | recog mean | recog max | style mean | content mean | s/run |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in cands:
        rs = [r for r in rows if r["candidate"] == c.name]
        if not rs:
            continue

        def col(k: str, rs=rs) -> list[float]:
            return [r[k] for r in rs if k in r]

        def mean(k: str) -> float | None:
            return statistics.fmean(col(k)) if col(k) else None

        def worst(k: str) -> float | None:
            return max(col(k)) if col(k) else None

        lines.append(f"| {c.name} | {c.describe()} | {len(rs)} | "
                     f"{sum(meets(r) for r in rs)}/{len(rs)} | {_fmt(mean('leak'))} | "
                     f"{_fmt(worst('leak'))} | {_fmt(mean('texture'))} | "
                     f"{_fmt(worst('texture'))} | {_fmt(mean('recog'))} | "
                     f"{_fmt(worst('recog'))} | {_fmt(mean('style'))} | "
                     f"{_fmt(mean('content'))} | {mean('seconds'):.2f} |")
    lines += ["", "Every run:", "",
              "| candidate | content | style | size | leak | texture | recog | style | content "
              "| relu5_1 Gram | s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['candidate']} | {Path(r['content_image']).stem} | "
                     f"{Path(r['style_image']).stem} | {r['size']} | {r['leak']:.3f} | "
                     f"{r['texture']:.3f} | {_fmt(r.get('recog'))} | {r['style']:.3f} | "
                     f"{r['content']:.3f} | {r['gram_relu5_1']:.3f} | {r['seconds']:.2f} |")
    return "\n".join(lines) + "\n"


# --- contact sheets -----------------------------------------------------------------------------

def contact_sheet(cand: Candidate, pairs: list[tuple[str, str]], sizes: list[int],
                  styles: dict[str, LoadedImage], results: dict[tuple, tuple[Image.Image, dict]],
                  thumb: int) -> Image.Image:
    """One row per pair: the style, then the output at every size, titled with measures."""
    font = _font()
    pad, line = 6, 16
    col_w = [thumb] + [round(thumb * 1.9)] * len(sizes)  # the widest content is 1.9:1
    width = pad + sum(w + pad for w in col_w)
    top = pad + 2 * line
    row_h = line + thumb + line + pad
    sheet = Image.new("RGB", (width, top + row_h * len(pairs)), "white")
    d = ImageDraw.Draw(sheet)
    d.text((pad, pad), f"{cand.name}: {cand.describe()}", fill="black", font=font)
    for i, (c, s) in enumerate(pairs):
        y = top + i * row_h
        d.text((pad, y), f"{Path(c).stem} x {Path(s).stem}", fill="black", font=font)
        style = Image.fromarray((styles[s].rgb.clip(0, 1) * 255 + 0.5).astype("uint8"))
        cells: list[tuple[Image.Image | None, str]] = [(style, "style")]
        for size in sizes:
            im, m = results.get((c, s, size), (None, {}))
            label = (f"{size} px  leak {m['leak']:.2f}  tex {m['texture']:.3f}  "
                     f"rec {_fmt(m.get('recog'))}") if m else f"{size} px: not run"
            cells.append((im, label))
        x = pad
        for (im, label), w in zip(cells, col_w):
            if im is not None:
                tw, th = im.size
                scale = min(w / tw, thumb / th)
                tw, th = max(1, round(tw * scale)), max(1, round(th * scale))
                sheet.paste(im.convert("RGB").resize((tw, th), Image.Resampling.LANCZOS),
                            (x, y + line))
            d.text((x, y + line + thumb + 2), label, fill="black", font=font)
            x += w + pad
    return sheet


# --- the sweep ----------------------------------------------------------------------------------

def run(args: argparse.Namespace) -> int:
    images, photos, out = Path(args.images), Path(args.photos), Path(args.out)
    contents, styles = list(args.contents), list(args.styles)
    pairs = ([parse_pair(p, contents, styles) for p in args.pairs] if args.pairs
             else list(itertools.product(contents, styles)))
    cands = [parse_candidate(c) for c in args.candidates]
    if len({c.name for c in cands}) != len(cands):
        raise UsageError("--candidates: a name is given twice")
    for c in cands:  # fail on a bad option before any work
        candidate_options(c, args.sizes[0], args.precision)
    missing = sorted({str(images / n) for p in pairs for n in p if not (images / n).is_file()})
    if missing:
        raise UsageError(f"image not found: {missing[0]} (give the folder with --images)")
    if not photos.is_dir():
        raise UsageError(f"{photos}: no such folder of photos (give one with --photos)")
    out.mkdir(parents=True, exist_ok=True)

    weights = load_weights(args.weights) if args.weights else resolve()
    stylizer = Stylizer(weights, args.device)
    device = str(stylizer.device)
    scorer = Scorer(weights, device, photos, args.n_photos)
    loaded = {n: load_image(str(images / n)) for n in {n for p in pairs for n in p}}
    header = (f"`benchmarks/leak_sweep.py`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())},"
              f" device {_device_name(stylizer.device)}, precision {args.precision}, sizes "
              f"{' '.join(map(str, args.sizes))}, {len(pairs)} pairs, "
              f"{len(scorer.photo_paths)} photos for recog, weights {weights.source}")
    print(header, flush=True)
    rows: list[dict[str, Any]] = []
    jobs = [(c, p, s) for c in cands for p in pairs for s in args.sizes]
    bar = _progress(len(jobs), args.quiet)
    t_all = time.perf_counter()
    for cand in cands:
        results: dict[tuple, tuple[Image.Image, dict]] = {}
        for (c, s), size in itertools.product(pairs, args.sizes):
            opts = candidate_options(cand, size, args.precision)
            t = time.perf_counter()
            img = stylizer.run(loaded[c], [loaded[s]], opts)
            secs = time.perf_counter() - t
            m = scorer.score(img, loaded[c], loaded[s])
            rows.append({"candidate": cand.name, "content_image": c, "style_image": s,
                         "size": size,
                         "seconds": secs, **m, "options": cand.describe()})
            results[(c, s, size)] = (img, m)
            if args.keep_images:
                keep = out / "images" / cand.name
                keep.mkdir(parents=True, exist_ok=True)
                save_image(img, keep / f"{Path(c).stem}_{Path(s).stem}_{size}.png")
            bar(f"{cand.name} {Path(c).stem} x {Path(s).stem} {size}: leak {m['leak']:.2f} "
                f"texture {m['texture']:.3f} recog {_fmt(m.get('recog'))} ({secs:.1f} s)")
            write_csv(rows, out / "leak_sweep.csv")
            save_bytes(summary_markdown(rows, cands, header).encode(), out / "leak_sweep.md")
        sheet = contact_sheet(cand, pairs, list(args.sizes),
                              {s: loaded[s] for _, s in pairs}, results, args.thumb)
        save_image(sheet, out / f"sheet_{_slug(cand.name)}.png")
    print(summary_markdown(rows, cands, header).split("\n\nEvery run:")[0])
    print(f"{len(jobs)} runs in {time.perf_counter() - t_all:.0f} s; written to {out}")
    return 0


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._+-" else "-" for ch in name)


def _device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)}, torch {torch.__version__})"
    return f"cpu ({torch.get_num_threads()} threads, torch {torch.__version__})"


def _progress(total: int, quiet: bool):
    """A progress bar on a terminal, else one line per run (nothing with --quiet)."""
    bar = None
    if not quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=total, file=sys.stderr)
    n = [0]

    def step(msg: str) -> None:
        n[0] += 1
        if bar is not None:
            bar.update(1)
            bar.write(msg)
        elif not quiet:
            print(f"[{n[0]}/{total}] {msg}", flush=True)

    return step


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="\n".join(__doc__.splitlines()[1:]))
    p.add_argument("--images", default=str(SHARED / "images"),
                   help="folder with the content and style images [../shared/images]")
    p.add_argument("--photos", default=str(SHARED / "photos"),
                   help="folder of other photos for recognizability [../shared/photos]")
    p.add_argument("--n-photos", type=int, default=N_PHOTOS,
                   help=f"how many photos (first by name) [{N_PHOTOS}]")
    p.add_argument("--contents", nargs="+", default=list(CONTENTS))
    p.add_argument("--styles", nargs="+", default=list(STYLES))
    p.add_argument("--pairs", nargs="+", metavar="CONTENT:STYLE",
                   help="only these pairs, e.g. tubingen:the_scream [every content x style]")
    p.add_argument("--sizes", nargs="+", type=int, default=[384, 512])
    p.add_argument("--candidates", nargs="+", default=list(DEFAULT_CANDIDATES),
                   metavar="NAME", help="built-in names (--list) or NAME:option=value;...")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (both the "
                                                    "stylization and the scoring)")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="arithmetic of the stylization (scoring is always float32)")
    p.add_argument("--weights", default="", help="weights file [PAINTERLY_WEIGHTS or cache]")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "leak"))
    p.add_argument("--thumb", type=int, default=288, help="thumbnail height on the sheets")
    p.add_argument("--keep-images", action="store_true",
                   help="also save every output under OUT/images/CANDIDATE/")
    p.add_argument("--list", action="store_true", help="list the built-in candidates")
    p.add_argument("--pack-weights", metavar="FILE",
                   help="write the weights, past conv5_1 as placeholders, to FILE and exit")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.list:
            for name, ov in CANDIDATES.items():
                mark = "*" if name in DEFAULT_CANDIDATES else " "
                print(f"{mark} {name:32s} {Candidate(name, ov).describe()}")
            return 0
        if args.pack_weights:
            w = load_weights(args.weights) if args.weights else resolve()
            print(f"written {pack_weights(w, Path(args.pack_weights))}")
            return 0
        return run(args)
    except PainterlyError as e:
        print(f"leak_sweep: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
