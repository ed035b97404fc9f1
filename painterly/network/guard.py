"""The checks ``painterly train`` makes before any work: its outputs (the model, its
checkpoint, the previews folder) against its inputs, and a checkpoint to resume from.

* The model file and ``MODEL.ckpt`` are never an input (the style image, the weights) nor
  inside the photo folder, and the previews folder is neither the photo folder nor a file.
* A fresh run does not replace the checkpoint of an earlier run that stopped before its
  plan: it says to add ``--resume`` or to remove it.
* ``--resume`` follows the ``--steps`` given (more or fewer than the checkpoint's plan, as
  long as more than the steps done); without ``--steps`` it trains to the checkpoint's plan.
  The checkpoint's options, network shape and optimizer state are checked against each
  other: a tampered or foreign checkpoint is refused with one line naming it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from ..config import make
from ..errors import PainterlyError, UsageError
from ..paths import interrupted_path
from ..trainfiles import check_training_outputs
from ..weights import sha256_file
from .modelfile import OLD_LAYOUT, ModelError, ModelFile, load_model
from .options import TrainOptions
from .transform import Arch, TransformNet


def check_outputs(style: str, photos: str, out: str, ckpt: Path, previews: str | None,
                  resume: bool, weights: str = "", overwrite: bool = False,
                  init_from: str = "") -> None:
    """Check the outputs of a training run before any work (one line naming the file).  A
    fresh run refuses a model or checkpoint already there unless ``overwrite``; ``resume``
    goes on writing its own (:func:`painterly.trainfiles.check_training_outputs`)."""
    check_training_outputs([photos], out, ckpt, previews, resume,
                           inputs=[style, weights, init_from], overwrite=overwrite,
                           unfinished=lambda: unfinished(ckpt, out))


def start_from(path: str, topts: TrainOptions, resume: bool) -> tuple[dict, dict]:
    """(weights, lineage) of the style network a fresh run starts from (``--init-from``):
    any painting's, of the layout ``topts`` builds; the lineage (file name, digest, steps,
    painting) goes into the new model's metadata."""
    if resume:
        raise UsageError("--init-from starts a new run; --resume continues one: give one")
    try:
        mf = load_model(path)
    except ModelError as e:
        raise ModelError(f"--init-from {e}") from None
    if mf.arch != topts.arch():
        raise UsageError(f"--init-from {path}: its network is {_layout(mf.arch)}, this run's "
                         f"{_layout(topts.arch())}; give the same --preset (or --width, "
                         f"--blocks, --downs, --down, --up) to train from it")
    style = mf.meta.get("style") if isinstance(mf.meta.get("style"), dict) else {}
    lineage = {"file": Path(path).name, "sha256": sha256_file(path),
               "steps": mf.meta.get("steps"), "style": style.get("name")}
    return mf.state, lineage


def _layout(a: Arch) -> str:
    blocks = f"{a.blocks} block{'s' * (a.blocks != 1)}"
    return f"width {a.width}, {blocks}, {a.downs} halvings ({a.down}, {a.up})"


def _steps_of(path: str | os.PathLike) -> tuple[int | None, int | None]:
    """(steps done, steps planned) recorded in a model file; None for what is not there."""
    try:
        meta = load_model(path).meta
    except PainterlyError:
        return None, None
    done, training = meta.get("steps"), meta.get("training")
    plan = training.get("steps") if isinstance(training, dict) else None
    return (done if isinstance(done, int) else None, plan if isinstance(plan, int) else None)


def unfinished(ckpt: Path, out: str) -> bool:
    """True if ``ckpt`` is the resume point of a run that stopped before its plan (a fresh
    run must not replace it); False for a checkpoint left behind by a run that then finished
    (``out`` holds its plan's steps) or one that cannot be read."""
    done, plan = _steps_of(ckpt)
    if done is None or plan is None or done >= plan:
        return False
    for model in (out, interrupted_path(out)):
        if os.path.lexists(model) and (_steps_of(model)[0] or 0) >= plan:
            return False
    return True


def resume_from(ckpt: Path, topts: TrainOptions, steps_given: bool, style: str,
                style_sha: str, overwrite: bool = False) -> tuple[TrainOptions, ModelFile, int]:
    """(the options to go on with, the checkpoint, the steps it has done), all checked; the
    checkpoint must be of the painting ``style`` (its file's digest ``style_sha``: not
    silently another)."""
    if not ckpt.exists():
        raise UsageError(f"--resume: no checkpoint {ckpt} to resume from")
    mf = load_model(ckpt)
    was = mf.meta.get("style") if isinstance(mf.meta.get("style"), dict) else {}
    if was.get("sha256") and was["sha256"] != style_sha:
        afresh = "drop --resume" if overwrite else "use --overwrite instead of --resume"
        raise UsageError(f"--resume: the checkpoint {ckpt} was trained on the painting "
                         f"{was.get('name', '?')}, not {style}; give that picture, or "
                         f"{afresh} to train afresh on this one")
    saved, done = mf.meta.get("training"), mf.meta.get("steps")
    if not isinstance(saved, dict) or not isinstance(done, int) or isinstance(done, bool) \
            or done < 0:
        raise ModelError(f"{ckpt}: not a training checkpoint (no options or step count); "
                         f"train afresh without --resume")
    plan = saved.get("steps")
    target = topts.steps if steps_given else plan
    try:  # options without down and up are older than them: the layout of that time
        topts = make(TrainOptions, **{**OLD_LAYOUT, **saved, "steps": target,
                                      "minutes": topts.minutes})  # this run's time
    except PainterlyError as e:
        raise ModelError(f"{ckpt}: the training options in it are damaged ({e})") from None
    if topts.arch() != mf.arch:
        raise ModelError(f"{ckpt}: its options and its network do not agree (tampered?); "
                         f"train afresh without --resume")
    if topts.steps <= done and not topts.minutes:  # --minutes plans its own steps
        how = f"--steps {topts.steps}" if steps_given else f"its plan of {plan} steps"
        raise UsageError(f"--resume: the checkpoint {ckpt} has done {done} steps, {how} "
                         f"leaves nothing to do; give --steps above {done}")
    check_adam(mf, ckpt)
    return topts, mf, done


def check_adam(mf: ModelFile, name: str | os.PathLike) -> None:
    """The optimizer state in a checkpoint fits the network's parameters (shape, finite)."""
    with torch.device("meta"):  # the shapes alone: nothing allocated, no weights drawn
        params = list(TransformNet(mf.arch).parameters())
    for i, p in enumerate(params):
        keys = [f"opt.{i}.{k}" for k in ("exp_avg", "exp_avg_sq", "step")]
        have = [k in mf.extra for k in keys]
        if not any(have):
            continue
        if not all(have):
            raise ModelError(f"{name}: the optimizer state is incomplete; train afresh")
        a, b, s = (mf.extra[k] for k in keys)
        if tuple(a.shape) != tuple(p.shape) or tuple(b.shape) != tuple(p.shape) \
                or s.numel() != 1:
            raise ModelError(f"{name}: the optimizer state does not fit the network "
                             f"(tensor opt.{i}); the file is damaged")
        step = float(s.reshape(-1)[0])
        if not (torch.isfinite(a.float()).all() and torch.isfinite(b.float()).all()
                and math.isfinite(step) and step >= 0):
            raise ModelError(f"{name}: the optimizer state holds NaN or infinite values")


def keeps_earlier(out: str, resume: bool, start: int) -> bool:
    """True if ``out`` holds an earlier result that a stopped run must not replace: any file
    on a fresh run; on ``--resume``, a model of more steps than the checkpoint's (or one that
    cannot be read)."""
    if not os.path.lexists(out):
        return False
    if not resume:
        return True
    try:
        steps = load_model(out).meta.get("steps")
    except PainterlyError:
        return True
    return not isinstance(steps, int) or steps > start

