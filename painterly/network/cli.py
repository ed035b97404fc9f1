"""Flags of the network room's own commands, ``painterly train`` and ``painterly export``
(built without importing torch; the work is imported when a command runs)."""

from __future__ import annotations

import argparse
import sys

from ..config import Runtime, add_flags, add_output_flag, add_quiet_flag, from_args
from .options import TrainFiles, TrainOptions


def add_parsers(sub) -> None:
    add_train_parser(sub)
    add_export_parser(sub)


TRAIN_DESCRIPTION = ("Train a feed-forward network that repaints any photo in the style of "
                     "STYLE, with the objective of 'painterly stylize'.  Data-parallel under "
                     "'torchrun --nproc_per_node=N -m painterly train ...'.")


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a style network for STYLE on a folder of photos",
                       description=TRAIN_DESCRIPTION)
    p.add_argument("style", metavar="STYLE", help="style image (the artwork)")
    add_output_flag(p, "model file to write (.safetensors); checkpoints go to MODEL.ckpt",
                    "MODEL")
    add_quiet_flag(p)
    add_flags(p, TrainFiles, title="files")
    add_flags(p, TrainOptions)
    add_flags(p, Runtime, skip=("fast_model",))
    p.set_defaults(func=_train)


def _not_resumed(args: argparse.Namespace) -> list[str]:
    """The flags given that differ from the checkpoint's options, which --resume keeps
    (none where there is no readable checkpoint: the run itself says why)."""
    from ..config import given_flags
    from ..errors import PainterlyError
    from .modelfile import load_model
    from .train import checkpoint_path

    try:
        saved = load_model(checkpoint_path(args.output)).meta.get("training") or {}
        given = from_args(TrainOptions, args)  # the values as the options hold them
    except (PainterlyError, OSError):
        return []
    differ = [k for k, v in saved.items()
              if k not in ("steps", "minutes") and getattr(given, k, v) != v]
    return given_flags(args, TrainOptions, differ)


def _train(args: argparse.Namespace) -> int:
    from ..errors import EXIT_INTERRUPTED, UsageError
    from .train import train

    files = from_args(TrainFiles, args)
    if not files.photos:
        raise UsageError("--photos DIR: give the folder of photos to train on")
    if files.resume and not args.quiet:  # the checkpoint's options hold: say which are not
        kept = _not_resumed(args)
        if kept:
            print(f"painterly: note: --resume goes on with the checkpoint's options: "
                  f"{', '.join(kept)} not used (--overwrite trains afresh with them)",
                  file=sys.stderr)
    done = train(args.style, files.photos, args.output, from_args(TrainOptions, args),
                 from_args(Runtime, args), resume=files.resume,
                 previews=files.previews or None, workers=files.workers, quiet=args.quiet,
                 steps_given=getattr(args, "steps", None) is not None,
                 overwrite=args.overwrite, init_from=files.init_from or None)
    return EXIT_INTERRUPTED if done.interrupted else 0


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="write a trained style network as an ONNX graph",
                       description="Write the network of MODEL as an ONNX graph (needs the "
                                   "onnx package: pip install 'painterly[onnx]').  Input "
                                   "'image' and output 'stylized': float32 N x 3 x H x W, "
                                   "RGB in 0..1, any N, H, W; the model's description goes "
                                   "into the graph's metadata.")
    p.add_argument("model", metavar="MODEL", help="model file (.safetensors)")
    add_output_flag(p, "ONNX file to write (.onnx)")
    add_quiet_flag(p, "no closing line")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    import sys

    from .export import export_onnx

    path = export_onnx(args.model, args.output, args.overwrite)
    if not args.quiet:
        print(f"wrote {path}", file=sys.stderr)
    return 0
