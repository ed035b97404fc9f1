"""``painterly apply MODEL INPUT... -o OUT``: a model's method over images and folders, or
one clip.

The method is the one the model file names (:func:`painterly.methods.for_model`); this
module talks to it only through ``picture`` (in batches where it runs them) and ``frames``.
Inputs are image files and folders (their images, not recursing).  One input and an output
with an image extension writes that file; otherwise OUT is a folder (created if needed) that
receives ``NAME.png`` (``--format``) for every input.  Under ``torchrun --nproc_per_node=N``
each process takes every N-th file.  Every file is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import (
    ClipOutput,
    FolderFormat,
    Runtime,
    add_flags,
    add_output_flag,
    add_quiet_flag,
    from_args,
)
from .errors import UsageError
from .network.options import ApplyOptions

if TYPE_CHECKING:
    from .method import Method

DESCRIPTION = ("Stylize images and folders, or one video clip, with a style network made by "
               "'painterly train'.  Under torchrun the files are split between the processes.")


def add_apply_parser(sub) -> None:
    p = sub.add_parser("apply", help="stylize images or a clip with a trained style network",
                       description=DESCRIPTION)
    p.add_argument("model", metavar="MODEL", help="model file (.safetensors)")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="images and folders of images, or one clip")
    add_output_flag(p, "output image (one input) or folder (created if needed); a video file "
                       "for a clip")
    add_quiet_flag(p)
    add_flags(p, ApplyOptions)
    add_flags(p, Runtime, skip=("weights",))
    add_flags(p, FolderFormat)
    add_flags(p, ClipOutput, title="video (when INPUT is a clip)")
    p.set_defaults(func=cmd_apply)


def plan_outputs(files: list[Path], out: str, fmt: str) -> list[Path]:
    """Where each result goes; refuses two inputs that would write the same file."""
    from .images import WRITE_FORMATS, check_folder

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


def apply_files(method: Method, files: list[Path], outs: list[Path], opts: ApplyOptions,
                quiet: bool) -> int:
    """Stylize ``files`` into ``outs`` (this process's share under torchrun), ``opts.batch``
    files at a time."""
    from . import bars, methods
    from .dist import world
    from .images import load_image, save_image

    w = world()
    mine = list(zip(files, outs))[w.rank::w.size]
    bar = None
    if not quiet and w.main:
        bar = bars.bar(len(mine), "img", "apply" if w.size == 1 else
                       f"apply (rank 0 of {w.size})")
    for start in range(0, len(mine), opts.batch):
        chunk = mine[start:start + opts.batch]
        shown = methods.pictures(method, [load_image(f) for f, _ in chunk], opts)
        for im, (_, out) in zip(shown, chunk):
            save_image(im, out)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return len(mine)


def cmd_apply(args: argparse.Namespace) -> int:
    """The ``apply`` subcommand: every option checked, then clip or images."""
    from . import methods
    from .dist import world
    from .images import collect
    from .video import is_video_output, sniff_video

    opts, runtime = from_args(ApplyOptions, args), from_args(Runtime, args)
    fmt, kept = from_args(FolderFormat, args), from_args(ClipOutput, args)
    if is_video_output(args.output) or any(sniff_video(s) for s in args.inputs):
        from .clip import apply_clip

        return apply_clip(args.model, args.inputs, args.output, opts, runtime, kept,
                          quiet=args.quiet)
    files = collect(args.inputs)
    outs = plan_outputs(files, args.output, fmt.format)
    if len(outs) > 1 or outs[0] != Path(args.output):
        Path(args.output).mkdir(parents=True, exist_ok=True)
    method = methods.for_model(args.model, runtime, opts=opts)
    n = apply_files(method, files, outs, opts, args.quiet)
    if not args.quiet and world().size == 1:
        where = outs[0] if len(outs) == 1 else Path(args.output)
        about = getattr(method, "about", "")
        print(f"{n} image{'s' if n != 1 else ''} written to {where}"
              + (f" ({about})" if about else ""), file=sys.stderr)
    return 0
