"""Options of ``painterly train-fast``, defined once (flags, validation and docs come from
:mod:`painterly.config`'s machinery)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import option
from ..errors import UsageError


@dataclass
class FastTrainFiles:
    """Where ``train-fast`` reads and writes, and how (not options of the model)."""

    photos: list[str] = option([], "Folders of photos to train on (any photos; e.g. COCO).",
                               metavar="DIR", web=False)
    previews: str = option("", "Folder for preview images of held-out photo pairs.",
                           metavar="DIR", web=False)
    workers: int = option(0, "Processes decoding photos (for large folders).", minimum=0,
                          maximum=64, metavar="N", web=False)
    init_from: str = option("", "Start from the weights of this fast model file (same "
                                "--widths and --statistic) rather than from random ones.",
                            metavar="MODEL", web=False)
    resume: bool = option(False, "Continue from MODEL.ckpt (its options, but for those given: "
                                 "--steps extends the run, --style-weight changes the loss).",
                          web=False)

    def check(self) -> None:
        if not self.photos:
            raise UsageError("--photos: give at least one folder of photos to train on")


@dataclass
class FastTrainOptions:
    """Everything that decides the trained fast model (where it runs is Runtime)."""

    steps: int = option(6000, "Training steps (batches).", group="basic", minimum=1,
                        maximum=10_000_000)
    batch: int = option(4, "Photo pairs (content, style) per step, over all processes under "
                           "torchrun (a multiple of their number).", group="basic", minimum=1,
                        maximum=4096)
    lr: float = option(5e-4, "Adam learning rate.", minimum=1e-7, maximum=1.0)
    crop: int = option(128, "Side of the square crops trained on.", group="basic",
                       minimum=32, maximum=4096)
    photo_size: int = option(256, "Content photos are resized to this longest side before "
                                  "cropping.", minimum=32, maximum=8192)
    style_photo_size: int = option(192, "Photos used as styles are resized to this longest "
                                        "side before cropping (smaller: finer texture).",
                                   minimum=32, maximum=8192)
    seed: int = option(0, "Random seed: initialisation, held-out photos, crops and order.",
                       minimum=0)
    widths: str = option("16,32,96,192", "Channels of the four levels of the encoder and "
                                         "decoder, comma-separated.")
    statistic: str = option("wct", "Statistic given to the features: wct (mean and "
                                   "covariance) or adain (mean and standard deviation).",
                            choices=("wct", "adain"))
    content_weight: float = option(1.0, "Weight of the content term (VGG-19 relu4_2, "
                                        "relative error).", minimum=0.0)
    style_weight: float = option(5.0, "Weight of the style term (relative Gram error at "
                                      "relu1_1..relu4_1, as benchmarks/score.py measures).",
                                 minimum=0.0)
    recon_weight: float = option(4.0, "Weight of the pixel reconstruction term (the photo "
                                      "with its own statistics).", minimum=0.0)
    brushwork: float = option(0.5, "Share of the style photos repainted in synthetic brush "
                                   "strokes (0 = none).", minimum=0.0, maximum=1.0)
    clip_grad: float = option(1.0, "Largest gradient norm of a step (0 = not clipped): "
                                   "keeps long runs from blowing up.", minimum=0.0)
    warmup: int = option(200, "Steps over which the learning rate ramps up from 0 (also "
                              "after --init-from).", minimum=0)
    precision: str = option("auto", "Arithmetic: auto (bfloat16 where fast), bf16 or fp32.",
                            choices=("auto", "bf16", "fp32"))
    holdout: int = option(8, "Photos held out of training; previews show them.", minimum=2,
                          maximum=1000)
    preview_every: int = option(100, "Write a preview of held-out pairs every N steps "
                                     "(0 = only at the end).", minimum=0)
    checkpoint_every: int = option(50, "Write a checkpoint every N steps (0 = only on "
                                       "interruption).", minimum=0)

    def check(self) -> None:
        if self.crop > min(self.photo_size, self.style_photo_size):
            raise UsageError(f"--crop {self.crop} is larger than --photo-size "
                             f"{self.photo_size} or --style-photo-size "
                             f"{self.style_photo_size}: lower --crop or raise them")
        self.width_list()

    def width_list(self) -> tuple[int, ...]:
        try:
            w = tuple(int(v) for v in self.widths.replace(",", " ").split())
        except ValueError:
            w = ()
        if len(w) != 4 or not all(2 <= v <= 512 for v in w):
            raise UsageError(f"--widths {self.widths!r}: give 4 whole numbers from 2 to 512, "
                             f"e.g. 16,32,96,192")
        return w
