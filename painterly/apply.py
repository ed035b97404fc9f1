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
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .config import (
    ClipOutput,
    FolderFormat,
    Runtime,
    add_flags,
    add_output_flag,
    add_quiet_flag,
    clip_flags_note,
    from_args,
    given_flags,
)
from .errors import EXIT_INTERRUPTED, Interrupted, UsageError
from .network.options import ApplyOptions
from .paths import folders_to_make, remove_empty

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
    add_flags(p, Runtime, skip=("weights", "fast_model"))
    add_flags(p, FolderFormat)
    add_flags(p, ClipOutput, title="video (when INPUT is a clip)")
    p.set_defaults(func=cmd_apply)


def _refuse_inputs(o: Path, out: str, read: list) -> None:
    """``-o`` is never one of the files read (an input, the model)."""
    from .images import WRITE_FORMATS
    from .paths import same_file

    for src in read:
        if same_file(o, src) and not o.is_dir():
            raise UsageError(f"-o {out}: is the input {src}; write to another file")
    if not o.exists() and re.fullmatch(r"\.[A-Za-z0-9]{1,5}", o.suffix) \
            and o.suffix.lower() not in WRITE_FORMATS:
        raise UsageError(f"-o {out}: unknown output type '{o.suffix}'; end the name with one "
                         f"of {', '.join(sorted(WRITE_FORMATS))}, or give a folder")


def plan_outputs(files: list[Path], out: str, fmt: str, inputs: Sequence[str] = (),
                 overwrite: bool = False) -> list[Path]:
    """Where each result goes, checked (never an input, nor in an input folder: ``inputs``
    are the sources named, the model among them; nor, unless ``overwrite``, a file already
    there); refuses two inputs that would write the same file.  Creates the output folder
    when needed (removed again if a check fails).  Under torchrun every process checks
    every output, and none writes before all have (:func:`painterly.dist.all_checked`):
    each meets the same error, which rank 0 says."""
    from .dist import all_checked, world
    from .images import WRITE_FORMATS, check_writable
    from .paths import check_output, check_output_folder, same_file

    o = Path(out)
    read = [*files, *inputs]
    folders = [s for s in inputs if Path(s).is_dir()]
    _refuse_inputs(o, out, read)
    w = world()
    if len(files) == 1 and o.suffix.lower() in WRITE_FORMATS and not o.is_dir():
        check_writable(o, "-o", inputs=read, overwrite=overwrite)
        check_output(o, "-o", folders=folders, overwrite=True)
        all_checked(w)
        return [o]
    if (o.exists() and not o.is_dir()) or (not o.exists() and o.suffix.lower() in WRITE_FORMATS):
        if len(files) == 1:  # a file there whose name is no image's
            raise UsageError(f"-o {out}: a file that is there and not named as an image; give "
                             f"a name ending in one of {', '.join(sorted(WRITE_FORMATS))}, "
                             f"or a folder")
        raise UsageError(f"-o {out}: {len(files)} inputs need an output folder, not an image "
                         f"file")
    targets = [o / f"{f.stem}.{fmt}" for f in files]
    seen: dict[Path, Path] = {}
    for f, t in zip(files, targets):
        if t in seen and same_file(seen[t], f):  # named twice, or named and in a folder
            raise UsageError(f"{f} is given twice (an input named again, or inside a folder "
                             f"given); give each picture once")
        if t in seen:
            raise UsageError(f"{seen[t]} and {f} would both be written to {t}; apply them "
                             f"separately")
        seen[t] = f
    for src in read:
        if same_file(o, src):
            raise UsageError(f"-o {out}: is the input folder {src}; give another output "
                             f"folder")
    made = folders_to_make(o)
    check_output_folder(o, "-o")
    try:
        for t in targets:
            check_output(t, "-o", inputs=read, folders=folders, overwrite=overwrite)
    except BaseException:
        remove_empty(made)
        raise
    all_checked(w)
    return targets


def _readable(chunk: list[tuple[Path, Path]], skipped: list[Path], size: int,
              small: list[Path] | None = None) -> list[tuple]:
    """The images of ``chunk`` decoded, with their outputs; one damaged behind a good header
    (added to ``skipped``), or too small to paint at ``size`` (added to ``small``, or to
    ``skipped`` when it is None), is skipped with a warning line."""
    from .errors import ImageError
    from .images import check_content, frames_note, load_image
    from .inputs import warn

    out = []
    for f, target in chunk:
        try:
            img = load_image(f)
        except ImageError as e:
            warn(f"{e}; skipped")
            skipped.append(f)
            continue
        if note := frames_note(img):
            warn(note)
        try:
            out.append((check_content(img, size), target))
        except ImageError as e:
            warn(f"{e}; skipped")
            (skipped if small is None else small).append(f)
    return out


def apply_files(method: Method, files: list[Path], outs: list[Path], opts: ApplyOptions,
                quiet: bool, skipped: list[Path] | None = None,
                small: list[Path] | None = None) -> int:
    """Stylize ``files`` into ``outs`` (this process's share under torchrun), ``opts.batch``
    files at a time; returns the number written.  A file that cannot be decoded is skipped
    with a warning (and added to ``skipped``), and so is one too small to paint at
    ``opts.size`` (added to ``small``, or to ``skipped`` when it is None)."""
    from . import bars, methods
    from .dist import world
    from .images import save_image

    skipped = [] if skipped is None else skipped
    w = world()
    mine = list(zip(files, outs))[w.rank::w.size]
    bar = None
    if not quiet and w.main:
        bar = bars.bar(len(mine), "img", "apply" if w.size == 1 else
                       f"apply (rank 0 of {w.size})")
    written = 0
    try:
        for start in range(0, len(mine), opts.batch):
            chunk = _readable(mine[start:start + opts.batch], skipped, opts.size, small)
            if chunk:
                shown = methods.pictures(method, [im for im, _ in chunk], opts)
                for im, (_, out) in zip(shown, chunk):
                    save_image(im, out)
                    written += 1
            if bar is not None:
                bar.update(len(mine[start:start + opts.batch]))
    except (KeyboardInterrupt, Interrupted):
        e = Interrupted()
        e.written = written  # each of them whole (written atomically)
        raise e from None
    finally:
        if bar is not None:
            bar.close()
    return written


def _apply_clip(args: argparse.Namespace, opts: ApplyOptions, runtime: Runtime) -> int:
    """``apply`` of a clip: the picture flags given are noted, the frames painted."""
    from .clip import apply_clip

    unused = given_flags(args, FolderFormat) + given_flags(args, ApplyOptions, ["batch"])
    if unused and not args.quiet:  # a clip's frames go one by one into the clip
        print(clip_flags_note(unused, "a clip does", "pictures"), file=sys.stderr)
    return apply_clip(args.model, args.inputs, args.output, opts, runtime,
                      from_args(ClipOutput, args), quiet=args.quiet, overwrite=args.overwrite)


def cmd_apply(args: argparse.Namespace) -> int:
    """The ``apply`` subcommand: every option checked, then clip or images."""
    from . import methods
    from .dist import done, totals, world
    from .inputs import scan, warn_emulated
    from .video import is_video_output, sniff_video

    opts, runtime = from_args(ApplyOptions, args), from_args(Runtime, args)
    fmt = from_args(FolderFormat, args)
    if is_video_output(args.output) or any(sniff_video(s) for s in args.inputs):
        return _apply_clip(args, opts, runtime)
    if not args.quiet:  # images: the clip flags given do nothing
        clip_flags = given_flags(args, ApplyOptions, ["blend"]) + given_flags(args, ClipOutput)
        if clip_flags:
            print(clip_flags_note(clip_flags, "pictures do"), file=sys.stderr)
    found = scan(args.inputs)
    files = found.files
    method = methods.for_apply(args.model, runtime, opts=opts)  # before any folder is made
    made = folders_to_make(Path(args.output))  # removed again if nothing is written there
    outs = plan_outputs(files, args.output, fmt.format, [*args.inputs, args.model],
                        args.overwrite)
    if outs == [Path(args.output)]:  # one image file, in a folder that is there
        made = []
    if not args.quiet and world().main:  # a network's quality figure (and warnings)
        methods.tell_notes(method)
        warn_emulated(opts.precision, runtime.device, args.quiet)  # after every check
    skipped: list[Path] = []  # damaged, found when decoded
    small: list[Path] = []  # too small to paint at --size
    w = world()
    n = None  # the pictures written by every process, once all have finished
    try:
        try:
            mine = apply_files(method, files, outs, opts, args.quiet, skipped, small)
            # of every process under torchrun
            n, bad, tiny = totals([mine, len(skipped), len(small)], w)
        except Interrupted as e:
            if w.main:
                where = Path(args.output) if len(outs) > 1 else outs[0]
                share = " (rank 0's share)" if w.size > 1 else ""
                print(f"painterly: interrupted; {e.written} of {len(outs[w.rank::w.size])} "
                      f"pictures{share} written to {where}, each whole", file=sys.stderr)
            if w.size == 1:  # other processes may still be writing there
                remove_empty(made)
            return EXIT_INTERRUPTED
        finally:
            done(w)
        first = files[0] if len(files) == 1 else args.inputs[0]
        _closing_line(n, len(found.skipped) + bad, first, outs, args,
                      getattr(method, "about", ""), say=w.main, small=tiny)
    except BaseException:
        if w.size == 1 or n == 0:  # under torchrun: once no process can write there
            remove_empty(made)
        raise
    _refuse_named(skipped + small, args.inputs)
    return 0


def _refuse_named(unpainted: list[Path], inputs: list[str]) -> None:
    """An error for pictures that could not be painted and were named on the command line
    (those found in a folder are skipped with a warning)."""
    named = [f for f in unpainted if str(f) in inputs]
    if named:
        from .errors import ImageError

        more = f" and {len(named) - 1} more" if len(named) > 1 else ""
        raise ImageError(f"{named[0]}{more}: could not be painted (see above); the other "
                         f"pictures were written")


def _closing_line(n: int, bad: int, first: str | Path, outs: list[Path],
                  args: argparse.Namespace, about: str, say: bool = True,
                  small: int = 0) -> None:
    """What was written (also with -q when files were skipped; ``say`` False: not here, by
    another process); an error when nothing could be.  ``bad``: files skipped as damaged,
    ``small``: pictures skipped as too small to paint (whole, but not damaged)."""
    from .errors import ImageError

    if n == 0:
        what = "could be painted" if small else "could be read"
        raise ImageError(f"{first}: no image {what}; nothing written")
    where = outs[0] if len(outs) == 1 else Path(args.output)
    parts = [f"{bad} damaged file{'s' if bad != 1 else ''}"] if bad else []
    if small:
        parts.append(f"{small} too small to paint")
    note = f"; skipped {' and '.join(parts)}" if parts else ""
    if say and (not args.quiet or parts):
        print(f"{n} image{'s' if n != 1 else ''} written to {where}"
              + (f" ({about})" if about else "") + note, file=sys.stderr)
