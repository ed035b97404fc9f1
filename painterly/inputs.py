"""Lists of input images (``apply``'s inputs, ``train``'s photo folder), checked before any
work.

One rule for every command that reads many images:

* a file named on the command line must be a good image: any problem found from its header
  is an error (exit 2, one line) before any work (a single image is decoded whole);
* a file found in a folder is checked from its header (a regular, readable, non-empty image
  file of a sane size; nothing decoded): a damaged one is skipped with one warning line,
  and a summary line counts them; a folder with no usable image is an error before any work.

A file whose header is fine but whose pixel data turns out damaged when it is decoded later
is skipped the same way (one warning line) by the command that meets it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ImageError, PainterlyError
from .images import check_image_file, load_image
from .paths import check_input_folder, is_regular_file

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif"}


def warn(message: str) -> None:
    """One warning line on stderr (above a progress bar, if one is drawn)."""
    from .bars import line

    line(f"painterly: warning: {message}")


def warn_emulated(precision: str, device: str, quiet: bool) -> None:
    """The warning of :func:`painterly.device.emulated_precision`, unless ``quiet`` (called
    by the one process that speaks under torchrun)."""
    from .device import emulated_precision

    if not quiet and (slow := emulated_precision(precision, device)):
        warn(slow)


@dataclass
class ImageList:
    """Usable image files (in order) and those skipped, with the reason of each."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def summary(self) -> str:
        """The summary of what was skipped ('' when nothing was)."""
        n = len(self.skipped)
        if not n:
            return ""
        return (f"skipped {n} damaged or unreadable file{'s' if n != 1 else ''} of "
                f"{n + len(self.files)}")


def folder_images(folder: str | os.PathLike, exts: Iterable[str] = IMAGE_EXTS) -> list[Path]:
    """The files with an image extension directly in ``folder`` (not hidden), sorted;
    ImageError if ``folder`` is not a readable folder."""
    check_input_folder(folder)
    exts = set(exts)
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise ImageError(f"{folder}: cannot read the folder ({e.strerror or e})") from None
    out = []
    for n in names:
        p = Path(folder) / n
        if not n.startswith(".") and p.suffix.lower() in exts and not p.is_dir():
            out.append(p)
    return out


def scan(sources: Iterable[str | os.PathLike], *, quiet: bool = False,
         exts: Iterable[str] = IMAGE_EXTS) -> ImageList:
    """Every image named or found (one level) in the folders of ``sources``, each checked
    from its header (see the module's rule); warnings for skipped files unless ``quiet``."""
    found = ImageList()
    for src in sources:
        p = Path(src)
        if p.is_dir():
            listed = folder_images(p, exts)
            if not listed:
                raise ImageError(f"{src}: no images in this folder (looked for "
                                 f"{', '.join(sorted(exts))})")
            good = _checked(listed, found, quiet)
            if not good:
                why = found.skipped[-1][1]
                raise ImageError(f"{src}: none of its {len(listed)} images can be read "
                                 f"(the last: {why}); check the folder")
        else:
            if not p.exists() and not p.is_symlink():
                raise ImageError(f"{src}: no such file or folder")
            check_image_file(p)  # a file named by the user: any problem is an error
            found.files.append(p)
    if len(found.files) == 1 and not found.skipped:
        load_image(found.files[0])  # one image: decoded whole now, so damage is an error
    return found


def collect(sources: Iterable[str | os.PathLike], quiet: bool = False) -> list[Path]:
    """The usable image files named or found (one level) in the folders of ``sources``, in
    order (:func:`scan`: damaged files in a folder are skipped with a warning line each)."""
    return scan(sources, quiet=quiet).files


def _checked(listed: list[Path], into: ImageList, quiet: bool) -> list[Path]:
    good = []
    for f in listed:
        try:
            if not is_regular_file(f):
                raise ImageError(f"{f}: not a regular file")
            check_image_file(f)
        except PainterlyError as e:
            into.skipped.append((f, str(e)))
            if not quiet:
                warn(f"{e}; skipped")
            continue
        good.append(f)
    into.files += good
    return good
