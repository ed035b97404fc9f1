"""Flags of ``painterly train-fast`` (built without importing torch)."""

from __future__ import annotations

import argparse

from ..config import Runtime, add_flags, add_output_flag, add_quiet_flag, from_args
from .options import FastTrainFiles, FastTrainOptions

DESCRIPTION = ("Train the fast model (any painting at once, 'stylize --method fast') on "
               "photos only: it learns to paint photos with the feature statistics of other "
               "photos.  Data-parallel under 'torchrun --nproc_per_node=N -m painterly "
               "train-fast ...'.")


def add_parsers(sub) -> None:
    p = sub.add_parser("train-fast", help="train the any-painting model on folders of photos",
                       description=DESCRIPTION)
    add_output_flag(p, "model file to write (.safetensors); checkpoints go to MODEL.ckpt",
                    metavar="MODEL")
    add_quiet_flag(p)
    add_flags(p, FastTrainFiles, title="files")
    add_flags(p, FastTrainOptions)
    add_flags(p, Runtime, skip=("fast_model",))
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from ..errors import EXIT_INTERRUPTED
    from .train import train_fast

    files = from_args(FastTrainFiles, args)
    topts = from_args(FastTrainOptions, args)  # the values converted and checked
    given = {f.name: getattr(topts, f.name) for f in dataclasses.fields(FastTrainOptions)
             if getattr(args, f.name, None) is not None}
    done = train_fast(files.photos, args.output, topts,
               from_args(Runtime, args), resume=files.resume, previews=files.previews or None,
               workers=files.workers, quiet=args.quiet, given=given,
               init_from=files.init_from or None, overwrite=args.overwrite)
    return EXIT_INTERRUPTED if done.interrupted else 0
