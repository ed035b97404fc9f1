"""Flags of ``painterly train-fast`` (built without importing torch)."""

from __future__ import annotations

import argparse

from ..config import Runtime, add_flags, from_args
from .options import FastTrainOptions

DESCRIPTION = ("Train the fast model (any painting at once, 'stylize --method fast') on "
               "photos only: it learns to paint photos with the feature statistics of other "
               "photos.  Data-parallel under 'torchrun --nproc_per_node=N -m painterly "
               "train-fast ...'.")


def add_parsers(sub) -> None:
    p = sub.add_parser("train-fast", help="train the any-painting model on folders of photos",
                       description=DESCRIPTION)
    p.add_argument("--photos", required=True, nargs="+", metavar="DIR",
                   help="folders of photos to train on (any photos; e.g. COCO)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (.safetensors); checkpoints go to MODEL.ckpt")
    p.add_argument("--resume", action="store_true",
                   help="continue from MODEL.ckpt (its options, but for those given: e.g. "
                        "--steps extends the run, --style-weight changes the loss)")
    p.add_argument("--previews", metavar="DIR",
                   help="folder for preview images of held-out photo pairs")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="processes decoding photos [default: 0]")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    add_flags(p, FastTrainOptions)
    add_flags(p, Runtime)
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import UsageError
    from .train import train_fast

    if not 0 <= args.workers <= 64:
        raise UsageError(f"--workers: {args.workers} is not between 0 and 64")
    train_fast(args.photos, args.output, from_args(FastTrainOptions, args),
               from_args(Runtime, args), resume=args.resume, previews=args.previews,
               workers=args.workers, quiet=args.quiet,
               given={f.name: getattr(args, f.name) for f in dataclasses.fields(FastTrainOptions)
                      if getattr(args, f.name, None) is not None})
    return 0
