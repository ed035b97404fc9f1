"""Parameter sweeps: ``painterly sweep CONTENT STYLE -o DIR --vary style-weight=1e3,1e4``.

Every combination of one or two varied options is rendered with one
:class:`~painterly.Stylizer`, so the network, the weights and the targets (content features
and style Grams, in its :class:`~painterly.objective.TargetCache`) are computed once and reused
by every run that can use them.  The results go to ``DIR`` as one image per run, a CSV of
timings, final losses and whether each run finished (``sweep.csv``) and a contact sheet
``sheet.png``: the first ``--vary`` runs across the columns, the second down the rows, each
titled with its values.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, ImageFont

from . import methods
from .config import INIT_INSTEAD, MaskPaths, Options, Runtime, coerce, make_options, validate
from .errors import Interrupted, UsageError
from .images import (
    check_content,
    check_style,
    fit_longest,
    load_image,
    load_named,
    named,
    save_bytes,
    save_image,
    save_result,
)
from .inputs import IMAGE_EXTS
from .paths import (
    check_output,
    check_output_folder,
    folders_to_make,
    partial_target,
    remove_empty,
)
from .signals import deferred

if TYPE_CHECKING:
    from .method import Method
    from .optimise.stylizer import Stylizer

MAX_RUNS = 64
FONT_SIZE = 14
PAD = 8


@dataclass
class Vary:
    """One varied option: its name (as in Options), the values as typed, and coerced."""

    name: str
    labels: list[str]
    values: list[Any]

    @property
    def flag(self) -> str:
        return self.name.replace("_", "-")


def parse_vary(spec: str) -> Vary:
    """``NAME=V1,V2,...`` (``;`` separates values whose own text has commas, e.g. lists)."""
    name, eq, vals = spec.partition("=")
    name = name.strip().lstrip("-").replace("-", "_")
    if not eq or not name or not vals.strip():
        raise UsageError(f"--vary {spec!r}: expected NAME=VALUE1,VALUE2,...")
    if name not in {f.name for f in dataclasses.fields(Options)}:
        if name in {f.name for c in (Runtime, MaskPaths) for f in dataclasses.fields(c)}:
            raise UsageError(f"--vary {name.replace('_', '-')}: cannot be varied within a "
                             f"sweep")
        coerce(name, "", (Options,))  # unknown: says which names can be varied
    sep = ";" if ";" in vals else ","
    labels = [v.strip() for v in vals.split(sep) if v.strip()]
    return Vary(name, labels, [coerce(name, v, (Options,)) for v in labels])


@dataclass
class Cell:
    row: int
    col: int
    box: tuple[int, int, int, int]  # left, top, right, bottom of the image area


@dataclass
class SheetLayout:
    """Where everything goes on the contact sheet."""

    size: tuple[int, int]  # width, height
    thumb: tuple[int, int]  # width, height of one cell's image area
    col_title: str
    col_labels: list[str]
    row_title: str
    row_labels: list[str]
    cells: list[Cell] = field(default_factory=list)
    left: int = 0  # width of the row-label margin
    top: int = 0  # height of the column-title band

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, columns)"""
        return len(self.row_labels) or 1, len(self.col_labels)


def _font(size: int = FONT_SIZE) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ValueError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _text_wh(font, text: str) -> tuple[int, int]:
    x0, y0, x1, y1 = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=font)
    return x1 - x0, y1 - y0


def layout_sheet(cols: Vary, rows: Vary | None, thumb: tuple[int, int]) -> SheetLayout:
    """Column titles on top (the option's name above its values), row titles on the left.
    A cell is at least as wide as its column's value and as high as a row's title, so that
    titles never run into each other (a long value, a thin strip of a picture, a small
    --thumb); its picture keeps the ``thumb`` size, centred."""
    font = _font()
    line = _text_wh(font, "Ag=0")[1] + 4
    row_labels = [f"{rows.flag} = {lab}" for lab in rows.labels] if rows else []
    tw = max(thumb[0], *(_text_wh(font, lab)[0] + PAD for lab in cols.labels))
    th = max(thumb[1], line) if row_labels else thumb[1]
    left = (max(_text_wh(font, s)[0] for s in row_labels) + 2 * PAD) if row_labels else PAD
    top = PAD + 2 * line + PAD // 2
    n_rows, n_cols = max(1, len(row_labels)), len(cols.labels)
    width = max(left + n_cols * (tw + PAD), left + _text_wh(font, cols.flag)[0] + PAD)
    height = top + n_rows * (th + PAD)
    lay = SheetLayout((width, height), tuple(thumb), cols.flag, list(cols.labels),
                      rows.flag if rows else "", row_labels, left=left, top=top)
    for r in range(n_rows):
        for c in range(n_cols):
            x, y = left + c * (tw + PAD), top + r * (th + PAD)
            lay.cells.append(Cell(r, c, (x, y, x + tw, y + th)))
    return lay


def draw_sheet(lay: SheetLayout, images: dict[tuple[int, int], Image.Image]) -> Image.Image:
    """The contact sheet: ``images[(row, col)]`` fitted into each cell (missing ones grey)."""
    font = _font()
    sheet = Image.new("RGB", lay.size, "white")
    d = ImageDraw.Draw(sheet)
    line = _text_wh(font, "Ag=0")[1] + 4
    grid_w = lay.size[0] - lay.left
    tw = _text_wh(font, lay.col_title)[0]
    d.text((lay.left + (grid_w - tw) // 2, PAD), lay.col_title, fill="black", font=font)
    for cell in lay.cells:
        x0, y0, x1, y1 = cell.box
        if cell.row == 0:
            lab = lay.col_labels[cell.col]
            d.text((x0 + (x1 - x0 - _text_wh(font, lab)[0]) // 2, PAD + line), lab,
                   fill="black", font=font)
        if cell.col == 0 and lay.row_labels:
            lab = lay.row_labels[cell.row]
            d.text((PAD, (y0 + y1 - line) // 2), lab, fill="black", font=font)
        im = images.get((cell.row, cell.col))
        if im is None:
            d.rectangle(cell.box, fill=(200, 200, 200))
            continue
        w, h = fit_longest(*im.size, max(lay.thumb))
        s = min((x1 - x0) / w, (y1 - y0) / h, 1.0)
        w, h = max(1, round(w * s)), max(1, round(h * s))
        thumb = im.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)
        sheet.paste(thumb, (x0 + (x1 - x0 - w) // 2, y0 + (y1 - y0 - h) // 2))
    return sheet


MAX_SLUG = 80  # characters of a run's file name taken from its values


def _slug(parts: list[tuple[Vary, int]]) -> str:
    text = "_".join(f"{v.flag}={v.labels[i]}" for v, i in parts)
    return re.sub(r"[^A-Za-z0-9=._+-]+", "-", text)[:MAX_SLUG]


def check_plans(plans: dict[tuple[int, int], Options], vgg_arch: Callable[[], str],
                n_styles: int, paths: MaskPaths) -> None:
    """Everything a run could refuse, for every combination, before the first run: the
    options against the number of styles, the layer names for the architecture of the
    VGG weights (``vgg_arch()``, asked only of combinations that optimise), start images
    and masks."""
    from .objective import layer_setup

    seen: set[str] = set()
    for opts in plans.values():
        validate(opts, n_styles)
        if opts.method != "fast" or opts.refine > 0:  # the fast model alone takes no VGG
            layer_setup(opts, vgg_arch())
        if opts.init_is_path and opts.init not in seen:
            load_named(opts.init, "--init", INIT_INSTEAD)
            seen.add(opts.init)
    if paths.style_masks and len(paths.style_masks) != n_styles:
        raise UsageError(f"--style-masks: {len(paths.style_masks)} mask(s) for {n_styles} "
                         "style image(s); give one per style ('-' for none)")
    flags = [("--mask", paths.mask), *(("--style-masks", m) for m in paths.style_masks)]
    for flag, m in flags:
        if m and m != "-" and m not in seen:
            with named(flag):
                load_image(m)
            seen.add(m)


@dataclass
class SweepResult:
    layout: SheetLayout
    sheet: Path
    files: dict[tuple[int, int], Path]
    seconds: dict[tuple[int, int], float]
    interrupted: bool = False


def _plans(base: Options, cols: Vary, rows: Vary | None
           ) -> dict[tuple[int, int], Options]:
    """The options of every (row, column), each checked before any work."""
    combos = list(itertools.product(range(len(rows.labels) if rows else 1),
                                    range(len(cols.labels))))
    if len(combos) > MAX_RUNS:
        raise UsageError(f"--vary: {len(combos)} runs; at most {MAX_RUNS} per sweep")
    plans = {}
    for r, c in combos:
        changes = {cols.name: cols.values[c]}
        if rows:
            changes[rows.name] = rows.values[r]
        plans[(r, c)] = make_options(base, **changes)
    return plans


def _file_names(plans: dict[tuple[int, int], Options], cols: Vary, rows: Vary | None,
                ext: str) -> dict[tuple[int, int], str]:
    return {k: f"{i:02d}_{_slug([(cols, k[1])] + ([(rows, k[0])] if rows else []))}.{ext}"
            for i, k in enumerate(plans, 1)}


def sweep(content: str, styles: list[str], out_dir: str | Path, base: Options,
          varies: list[Vary], *, runtime: Runtime | None = None,
          paths: MaskPaths | None = None, thumb: int = 256, ext: str = "png",
          quiet: bool = True, stylizer: Stylizer | None = None,
          overwrite: bool = False) -> SweepResult:
    """Render every combination of ``varies`` (one or two) and the contact sheet; files
    already in ``out_dir`` under their names are refused unless ``overwrite``."""
    if not 1 <= len(varies) <= 2:
        raise UsageError("--vary: give one or two options to vary")
    if len(varies) == 2 and varies[0].name == varies[1].name:
        raise UsageError(f"--vary {varies[0].flag}: given twice")
    if Path(out_dir).suffix.lower() in IMAGE_EXTS and not os.path.lexists(out_dir):
        raise UsageError(f"-o {out_dir}: a sweep writes a folder (its pictures, sheet.png "
                         f"and sweep.csv); give a folder's name")
    cols, rows = varies[0], (varies[1] if len(varies) == 2 else None)
    plans = _plans(base, cols, rows)
    c_img = load_image(content)
    for size in sorted({opts.size for opts in plans.values()}):  # every size a run paints
        check_content(c_img, size)
    s_imgs = [check_style(load_image(s)) for s in styles]
    lay = layout_sheet(cols, rows, fit_longest(*c_img.size, thumb))
    runtime, paths = runtime or Runtime(), paths or MaskPaths()
    # each combination painted by the method (and warm start) it names, one of each kind
    kept = methods.Kept(runtime, {("optimise", ""): stylizer} if stylizer else None)
    made = {k: kept.get(opts) for k, opts in plans.items()}
    check_plans(plans, lambda: (stylizer._weights_for(base) if stylizer else
                                kept.vgg.get()).arch, len(s_imgs), paths)
    new_folders = folders_to_make(Path(out_dir))  # removed again if they are left empty
    out = check_output_folder(out_dir, "-o")
    try:
        names = _file_names(plans, cols, rows, ext)
        inputs = [content, *styles, *(f for f in (runtime.weights, runtime.fast_model) if f),
                  *{opts.init for opts in plans.values() if opts.init_is_path},
                  *(m for m in (paths.mask, *paths.style_masks) if m and m != "-")]
        for name in [*names.values(), "sheet.png", "sweep.csv"]:
            check_output(out / name, "-o", inputs=inputs, overwrite=overwrite)
        # an interrupted sweep never replaces an earlier result
        existed = {out / n for n in [*names.values(), "sheet.png", "sweep.csv"]
                   if (out / n).exists()}
        res = SweepResult(lay, out / "sheet.png", {}, {})
        images, log_rows = _render_all(made, c_img, s_imgs, plans, paths,
                                       {k: out / n for k, n in names.items()}, (cols, rows), res,
                                       quiet, existed)
        with deferred():
            res.sheet = save_image(draw_sheet(lay, images),
                                   _target(out / "sheet.png", res, existed))
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(log_rows[0]))
            w.writeheader()
            w.writerows(log_rows)
            save_bytes(buf.getvalue().encode(), _target(out / "sweep.csv", res, existed))
        return res
    except BaseException:  # an error or Ctrl-C before the first picture: no empty folder
        remove_empty(new_folders)
        raise


def _render_all(made: dict[tuple[int, int], Method], c_img, s_imgs,
                plans: dict[tuple[int, int], Options],
                paths: MaskPaths, files: dict[tuple[int, int], Path],
                axes: tuple[Vary, Vary | None], res: SweepResult, quiet: bool,
                existed: frozenset[Path] | set[Path] = frozenset()
                ) -> tuple[dict[tuple[int, int], Image.Image], list[dict[str, Any]]]:
    """Every run in order (stopping after an interrupted one); the images and the CSV rows,
    the files and seconds kept in ``res`` (an interrupted run's image beside an earlier
    file of ``existed``)."""
    cols, rows = axes
    images: dict[tuple[int, int], Image.Image] = {}
    log_rows = []
    for i, (r, c) in enumerate(plans, 1):
        parts = [(cols, c)] + ([(rows, r)] if rows else [])
        path = files[(r, c)]
        last: dict[str, float] = {}
        t0 = time.perf_counter()
        try:
            im = made[(r, c)].picture(c_img, s_imgs, plans[(r, c)],
                            lambda p, last=last: last.update(p.losses),
                            mask=paths.mask or None, style_masks=paths.style_masks)
        except Interrupted as e:
            im, res.interrupted = e.image, True
        res.seconds[(r, c)] = time.perf_counter() - t0
        with deferred():
            target = _target(path, res, existed)
            images[(r, c)], res.files[(r, c)] = im, save_result(im, target)
        log_rows.append({"file": res.files[(r, c)].name, cols.flag: cols.labels[c],
                         **({rows.flag: rows.labels[r]} if rows else {}),
                         "seconds": round(res.seconds[(r, c)], 3),
                         **{k: f"{last.get(k, 0.0):.6g}" for k in ("content", "style", "tv",
                                                                      "total")},
                         "finished": "no" if res.interrupted else "yes"})
        if not quiet:
            label = " ".join(f"{v.flag}={v.labels[j]}" for v, j in parts)
            print(f"[{i}/{len(plans)}] {label}: {res.seconds[(r, c)]:.1f} s -> "
                  f"{res.files[(r, c)]}{' (interrupted: the picture so far)' * res.interrupted}",
                  file=sys.stderr)
        if res.interrupted:
            break
    return images, log_rows


def _target(path: Path, res: SweepResult, existed: frozenset[Path] | set[Path]) -> Path:
    """Where a result goes: beside an earlier file when the sweep was interrupted."""
    return partial_target(path, res.interrupted and path in existed)


run_sweep = sweep  # the name of earlier versions
