"""Flags of ``painterly apply``, ``painterly train`` and ``painterly export`` (built without
importing torch; the work is imported when a command runs)."""

from __future__ import annotations

import argparse

from ..config import ClipOutput, Runtime, add_flags, from_args
from .options import TrainOptions

# Chosen by measurement (README, Video): with the grid lock, halves the flicker of a sliding
# object with the style distance within 10%.
CLIP_BLEND = 0.5


def add_parsers(sub) -> None:
    add_apply_parser(sub)
    add_train_parser(sub)
    add_export_parser(sub)


def add_apply_parser(sub) -> None:
    p = sub.add_parser("apply", help="stylize images or a clip with a trained style network",
                       description="Stylize images and folders, or one video clip, with a "
                                   "style network made by 'painterly train'.  Under torchrun "
                                   "the files are split between the processes.")
    p.add_argument("model", metavar="MODEL", help="model file (.safetensors)")
    p.add_argument("inputs", metavar="INPUT", nargs="+",
                   help="images and folders of images, or one clip")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output image (one input) or folder (created if needed); a video "
                        "file for a clip")
    p.add_argument("--size", type=int, default=None, metavar="PX",
                   help="longest side of the outputs [default: each input's own size]")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N [default: auto]")
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="arithmetic: auto (bfloat16 where fast), bf16 or fp32 [default: auto]")
    p.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnxruntime"),
                   help="what runs the network: auto (onnxruntime for float32 on the CPU "
                        "where it is installed, torch otherwise), torch, or onnxruntime "
                        "(float32 on the CPU; pip install 'painterly[onnx]') [default: auto]")
    p.add_argument("--preserve-color", default="none", choices=("none", "luminance"),
                   help="luminance: keep the photo's colours [default: none]")
    p.add_argument("--strength", type=float, default=1.0, metavar="S",
                   help="blend with the photo: 1 = fully stylized, 0 = the photo "
                        "[default: 1]")
    p.add_argument("--batch", type=int, default=4, metavar="N",
                   help="images of the same size run together, up to N [default: 4]")
    p.add_argument("--format", dest="ext", default="png", choices=("png", "jpg", "webp"),
                   help="file type of outputs in a folder [default: png]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("video (when INPUT is a clip)")
    g.add_argument("--blend", type=float, default=CLIP_BLEND, metavar="A",
                   help="anti-flicker: mix each frame with the previous output carried by the "
                        f"optical flow, 0 = off, 1 = strongest [default: {CLIP_BLEND:g}]")
    g.add_argument("--no-audio", action="store_true", help="leave the clip's audio out")
    add_flags(p, ClipOutput)
    p.set_defaults(func=_apply)


def _apply(args: argparse.Namespace) -> int:
    from .apply import cmd_apply

    return cmd_apply(args)


TRAIN_DESCRIPTION = ("Train a feed-forward network that repaints any photo in the style of "
                     "STYLE, with the objective of 'painterly stylize'.  Data-parallel under "
                     "'torchrun --nproc_per_node=N -m painterly train ...'.")


def add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train a style network for STYLE on a folder of photos",
                       description=TRAIN_DESCRIPTION)
    p.add_argument("style", metavar="STYLE", help="style image (the artwork)")
    p.add_argument("--photos", required=True, metavar="DIR",
                   help="folder of photos to train on (any photos; e.g. COCO)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (.safetensors); checkpoints go to MODEL.ckpt")
    p.add_argument("--resume", action="store_true",
                   help="continue from MODEL.ckpt (its options; --steps may extend the run)")
    p.add_argument("--previews", metavar="DIR",
                   help="folder for preview images of the held-out photos")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes decoding photos (for large folders) [default: 0]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_flags(p, TrainOptions)
    add_flags(p, Runtime)
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from ..errors import EXIT_INTERRUPTED, UsageError
    from .train import train

    if not 0 <= args.workers <= 64:
        raise UsageError(f"--workers: {args.workers} is not between 0 and 64")
    done = train(args.style, args.photos, args.output, from_args(TrainOptions, args),
                 from_args(Runtime, args), resume=args.resume, previews=args.previews,
                 workers=args.workers, quiet=args.quiet)
    return EXIT_INTERRUPTED if done.interrupted else 0


def add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="write a trained style network as an ONNX graph",
                       description="Write the network of MODEL as an ONNX graph (needs the "
                                   "onnx package: pip install 'painterly[onnx]').  Input "
                                   "'image' and output 'stylized': float32 N x 3 x H x W, "
                                   "RGB in 0..1, any N, H, W; the model's description goes "
                                   "into the graph's metadata.")
    p.add_argument("model", metavar="MODEL", help="model file (.safetensors)")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="ONNX file to write (.onnx)")
    p.add_argument("-q", "--quiet", action="store_true", help="no closing line")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    import sys

    from .export import export_onnx

    path = export_onnx(args.model, args.output)
    if not args.quiet:
        print(f"wrote {path}", file=sys.stderr)
    return 0
