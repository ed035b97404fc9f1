"""The files a training run writes (``painterly train``, ``painterly train-fast``), checked
before any work, one line naming the file:

* the model file and ``MODEL.ckpt`` are never an input (the style image, the weights, a
  model trained from) nor inside a photo folder, and the model's name is a model file's;
* the previews folder is neither a photo folder nor a file, is refused when no photo is
  held out (it would stay empty), and an earlier run's previews
  in it are refused unless ``--overwrite`` (they are removed once every check has passed,
  :func:`make_previews`) or ``--resume`` (the same run's, kept; it adds its own);
* a fresh run refuses a model or checkpoint already there unless ``--overwrite``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .errors import UsageError
from .paths import (
    check_input_folder,
    check_output,
    check_output_folder,
    clear_earlier_steps,
    refuse_checkpoint,
    refuse_earlier_steps,
    same_file,
)

MODEL_SUFFIX = ".safetensors"


def check_model_name(out: str) -> None:
    """The model file's name ends in .safetensors (the kind of file it is; a picture's or
    any other name is refused)."""
    if Path(out).suffix.lower() != MODEL_SUFFIX:
        raise UsageError(f"-o {out}: a model file's name ends in {MODEL_SUFFIX}; give one such "
                         f"as {Path(out).stem or 'model'}{MODEL_SUFFIX}")


def check_training_outputs(photos: Sequence[str], out: str, ckpt: Path, previews: str | None,
                           resume: bool, *, inputs: Sequence[str] = (),
                           overwrite: bool = False,
                           unfinished: Callable[[], bool] = lambda: False) -> None:
    """Check the outputs of a training run (see the module's text).  ``photos``: the
    folders read; ``inputs``: the files read (empty names are skipped); ``unfinished``:
    whether the checkpoint there is one of a run stopped before its plan (for the words)."""
    for folder in photos:
        check_input_folder(folder, f"--photos {folder}")
    inputs = [f for f in inputs if f]
    if not resume and not overwrite and os.path.lexists(ckpt):
        refuse_checkpoint(ckpt, overwrite, "of an unfinished earlier run"
                          if unfinished() else "of an earlier run")
    check_output(out, "-o", inputs=inputs, folders=photos, overwrite=overwrite or resume)
    check_model_name(out)
    check_output(ckpt, "-o", inputs=inputs, others=[("-o", out)], folders=photos)
    if previews:
        check_previews(previews, photos, overwrite or resume)


def check_previews(previews: str, photos: Sequence[str], replace: bool) -> None:
    """The previews folder is no photo folder nor a file; earlier previews in it are
    refused unless ``replace``."""
    for folder in photos:
        if same_file(previews, folder):
            raise UsageError(f"--previews {previews}: is the photo folder; previews would "
                             f"become photos to train on; give another folder")
    if Path(previews).exists() and not Path(previews).is_dir():
        raise UsageError(f"--previews {previews}: is a file; give a folder (created if "
                         f"needed)")
    refuse_earlier_steps(previews, f"--previews {previews}", "previews", replace)


def check_previews_shown(previews: str | None, holdout: int, resumed: str = "") -> None:
    """Previews show the held-out photos: ``--previews`` with none held out is refused
    (it would make an empty folder).  ``resumed``: the checkpoint whose options hold none."""
    if not previews or holdout > 0:
        return
    if resumed:
        raise UsageError(f"--previews needs held-out photos, and the checkpoint {resumed} "
                         f"holds out none: leave out --previews")
    raise UsageError("--previews needs held-out photos: leave out --holdout 0 or --previews")


def make_previews(previews: str | None, resume: bool, overwrite: bool) -> None:
    """Create the previews folder (checked), on the main process once every other check
    has passed; with ``overwrite`` on a fresh run, remove the earlier run's previews in it
    (a resumed run keeps them: they are its own)."""
    if not previews:
        return
    folder = check_output_folder(previews, "--previews")
    if overwrite and not resume:
        clear_earlier_steps(folder, f"--previews {previews}")


def held_out_again(files: list[Path], names: object, where: str) -> tuple[list[Path],
                                                                          list[Path]]:
    """(training photos, held-out photos) of a resumed run: the photos its checkpoint held
    out (``names``, as recorded), whatever was added to or removed from the folders since
    (a new draw would train on photos held out before and hold out photos trained on).
    One line if one of them is gone; ``names`` not a list of names (an older checkpoint):
    ValueError, and the caller draws them as a fresh run does."""
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError("no held-out photos recorded")
    have = {f.name for f in files}
    gone = [n for n in names if n not in have]
    if gone:
        raise UsageError(f"--resume: the held-out photo {gone[0]} of the checkpoint is no "
                         f"longer in {where} (or cannot be read); put it back, or train "
                         f"afresh with --overwrite")
    kept = set(names)
    return ([f for f in files if f.name not in kept], [f for f in files if f.name in kept])
