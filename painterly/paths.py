"""Checks of the files painterly reads and writes, made before any work starts.

An output path is refused (with one line naming it) when it is a folder, when its folder is
missing, not a folder or not writable, when its name is longer than the file system allows,
when it names the same file as an input or as another output, or, unless ``--overwrite``
is given, when a file is there already: an earlier result is never replaced unasked, and an
interrupted run writes beside it (``NAME.interrupted.EXT``, then ``-2``, ``-3``...).  The
check creates and removes the temporary file that the final write will use, so a read-only
or full file system shows up at once rather than after a long run.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import ImageError, UsageError
from .signals import deferred

TEMP_SUFFIX = ".part"
TEMP_NAME_CHARS = 40  # of the final name kept in the temporary name


def temp_prefix(name: str) -> str:
    """The prefix of the temporary file for ``name``: short enough for any file system."""
    short = name[:TEMP_NAME_CHARS]
    while len(short.encode(errors="surrogateescape")) > TEMP_NAME_CHARS:
        short = short[:-1]
    return f".{short}."


def name_max(folder: str | os.PathLike) -> int:
    """The longest file name (in bytes) the file system of ``folder`` allows."""
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def _stat(path: str | os.PathLike, what: str) -> os.stat_result | None:
    """os.stat, or None if nothing is there; ImageError for any other failure."""
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        raise ImageError(f"{what}: cannot reach it ({e.strerror or e})") from None
    except ValueError:  # an embedded NUL
        raise ImageError(f"{what}: not a valid file name") from None


def check_input_file(path: str | os.PathLike, what: str | None = None) -> os.stat_result:
    """The stat of a regular, readable file; ImageError with one line otherwise."""
    what = what or str(path)
    st = _stat(path, what)
    if st is None:
        raise ImageError(f"{what}: no such file")
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{what}: is a directory, not a file; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{what}: not a regular file ({special_kind(st.st_mode)}); give a "
                         f"file")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{what}: cannot read it (permission denied); check its permissions")
    return st


def special_kind(mode: int) -> str:
    """What a file that is not a regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


def is_regular_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a regular file (through links): safe to open without hanging (a
    FIFO blocks on open, a device never ends)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def check_input_size(path: str | os.PathLike, st: os.stat_result, limit: int,
                     what: str = "") -> None:
    """ImageError if the file is empty or larger than ``limit`` bytes (before reading it)."""
    what = what or str(path)
    if st.st_size == 0:
        raise ImageError(f"{what}: the file is empty; check that it was copied whole")
    if st.st_size > limit:
        raise ImageError(f"{what}: {st.st_size:,} bytes is larger than any file of this kind "
                         f"(limit {limit:,}); check the file name")


def check_input_folder(path: str | os.PathLike, what: str | None = None) -> Path:
    """A readable folder; ImageError with one line otherwise."""
    what = what or str(path)
    _check_folder(path, what, os.R_OK | os.X_OK, "no such folder",
                  "is a file, not a folder; give the folder that holds them",
                  "cannot read the folder (permission denied)")
    return Path(path)


def _check_folder(path: str | os.PathLike, what: str, access: int, missing: str,
                  not_folder: str, denied: str) -> None:
    """ImageError ``what: <reason>`` unless ``path`` is a folder with ``access``."""
    st = _stat(path, what)
    if st is None:
        raise ImageError(f"{what}: {missing}")
    if not stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{what}: {not_folder}")
    if not os.access(path, access):
        raise ImageError(f"{what}: {denied}")


def interrupted_path(path: str | os.PathLike, n: int = 1) -> Path:
    """The name of an interrupted (partial) result of ``path`` that must not replace an
    earlier result there: ``NAME.interrupted.EXT`` beside it (``NAME.interrupted-N.EXT``
    for ``n`` > 1)."""
    p = Path(path)
    suffix = "".join(p.suffixes[-1:])
    stem = p.name[: len(p.name) - len(suffix)] if suffix else p.name
    return p.with_name(f"{stem}.interrupted{'' if n == 1 else f'-{n}'}{suffix}")


def free_interrupted_path(path: str | os.PathLike) -> Path:
    """The first :func:`interrupted_path` of ``path`` with nothing there: an earlier
    interrupted result is kept too."""
    n = 1
    while os.path.lexists(interrupted_path(path, n)):
        n += 1
    return interrupted_path(path, n)


def partial_target(path: str | os.PathLike, existed: bool) -> Path:
    """Where a partial result of ``path`` is written: ``path`` itself when nothing was there
    before the run, otherwise :func:`free_interrupted_path` (an earlier result is kept)."""
    return free_interrupted_path(path) if existed else Path(path)


OVERWRITE_FLAG = "--overwrite"


def refuse_existing(path: str | os.PathLike, what: str, overwrite: bool) -> None:
    """An earlier result at ``path`` is kept: one line, unless ``overwrite`` (the user asked
    for it to be replaced)."""
    if not overwrite and os.path.lexists(path):
        raise ImageError(f"{what}: exists; write to another name, or add {OVERWRITE_FLAG} "
                         f"to replace it")


STEP_PICTURES = "step_*.png"  # a run's step pictures: snapshots, previews


def earlier_steps(folder: str | os.PathLike) -> list[Path]:
    """The step pictures (:data:`STEP_PICTURES`, files only) in ``folder``, sorted."""
    p = Path(folder)
    return sorted(f for f in p.glob(STEP_PICTURES) if f.is_file()) if p.is_dir() else []


def refuse_earlier_steps(folder: str | os.PathLike, what: str, kind: str,
                         overwrite: bool) -> None:
    """A folder of a run's step pictures (snapshots, previews) that holds an earlier run's
    is refused, one line, unless ``overwrite``: then :func:`clear_earlier_steps` removes
    them before the new run starts."""
    earlier = next(iter(earlier_steps(folder)), None)
    if earlier is not None and not overwrite:
        raise UsageError(f"{what}: holds {kind} of an earlier run ({earlier.name}); give "
                         f"another folder, or add {OVERWRITE_FLAG} to replace them")


def clear_earlier_steps(folder: str | os.PathLike, what: str) -> None:
    """Remove an earlier run's step pictures from ``folder`` (nothing else in it), once
    every check has passed and ``--overwrite`` was given: the new run's pictures are not
    mixed with them."""
    for f in earlier_steps(folder):
        try:
            f.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ImageError(f"{what}: cannot remove the earlier {f.name} "
                             f"({e.strerror or e}); remove it, or give another folder") from None


def refuse_checkpoint(ckpt: str | os.PathLike, overwrite: bool, what: str = "of an earlier "
                      "run") -> None:
    """A fresh training run finds a checkpoint at ``ckpt``: one line naming --resume and
    --overwrite, unless ``overwrite``."""
    if not overwrite and os.path.lexists(ckpt):
        raise UsageError(f"{ckpt}: the checkpoint {what} is there; add --resume to continue "
                         f"it, or {OVERWRITE_FLAG} to start afresh over it")


def kept_note(path: str | os.PathLike, target: str | os.PathLike) -> str:
    """The words that say an earlier result was kept (empty if ``target`` is ``path``)."""
    if Path(target) == Path(path):
        return ""
    return f" ({path}, from an earlier run, is kept)"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` name one file (also through links); either may not exist."""
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_output(path: str | os.PathLike, flag: str = "", *,
                 inputs: Iterable[str | os.PathLike] = (),
                 others: Iterable[tuple[str, str | os.PathLike]] = (),
                 folders: Iterable[str | os.PathLike] = (),
                 overwrite: bool = True) -> Path:
    """Fail early (before any work) if a file cannot be written at ``path``.

    ``inputs`` are files that are read (an output must not replace one); ``others`` are
    (flag, path) of the other outputs of the same run (two outputs must differ);
    ``folders`` are folders whose files are read (an output must not land in one).
    ``overwrite`` False: a file already at ``path`` is an earlier result, and refused
    (:func:`refuse_existing`; a command's check before its work, where ``--overwrite`` was
    not given; the writers themselves check their folder only)."""
    text = os.fspath(path)
    what = f"{flag} {text}".strip() if flag else text
    if not text or text.endswith(os.sep):
        raise ImageError(f"{what}: give a file name")
    p = Path(text)
    st = _stat(p, what)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"{what}: is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise ImageError(f"{what}: not a regular file; give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    _check_folder(folder, what, os.W_OK | os.X_OK, f"the folder {folder} does not exist",
                  f"{folder} is not a folder", f"the folder {folder} is not writable")
    limit = name_max(folder)
    if len(p.name.encode(errors="surrogateescape")) > limit:
        raise ImageError(f"{what}: the file name is too long ({len(p.name.encode())} bytes; "
                         f"this file system allows {limit})")
    for src in inputs:
        if same_file(p, src):
            raise ImageError(f"{what}: is the input {src}; write to another file")
    for src in folders:
        if same_file(folder, src):
            raise ImageError(f"{what}: is inside the input folder {src}; write to another "
                             "folder")
    for other_flag, other in others:
        if other and same_file(p, other):
            raise ImageError(f"{what}: is also given as {other_flag}; use two different files")
    refuse_existing(p, what, overwrite)
    probe(folder, p.name, what)
    return p


def probe(folder: str | os.PathLike, name: str, what: str) -> None:
    """Create and remove the temporary file a write of ``name`` would use.  Ctrl-C and
    SIGTERM wait until it is removed (:func:`~.signals.deferred`): one caught between the
    two would leave it behind (a run interrupted while it checks a snapshot's folder)."""
    with deferred():
        try:
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(name), suffix=TEMP_SUFFIX,
                                       dir=folder)
        except OSError as e:
            raise ImageError(f"{what}: cannot write in {folder} ({e.strerror or e})") from None
        os.close(fd)
        os.unlink(tmp)


def check_output_folder(path: str | os.PathLike, flag: str = "") -> Path:
    """Create ``path`` if needed and check that files can be written in it."""
    text = os.fspath(path)
    what = f"{flag} {text}".strip() if flag else text
    p = Path(text)
    st = _stat(p, what)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{what}: exists and is not a folder")
    if st is None:
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ImageError(f"{what}: cannot create the folder ({e.strerror or e})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise ImageError(f"{what}: the folder is not writable")
    probe(p, "check", what)
    return p


def fallback_path(path: str | os.PathLike, suffix: str = ".png") -> Path:
    """Where to put a finished result whose own path cannot be written: the temp folder."""
    stem = Path(path).stem[:TEMP_NAME_CHARS] or "result"
    return Path(tempfile.gettempdir()) / f"painterly-rescued-{stem}-{os.getpid()}{suffix}"


def publish(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Put a finished temporary file in its place, with the permissions of any file made
    here (``mkstemp`` makes them 0600, readable by the owner only)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def folders_to_make(path: Path) -> list[Path]:
    """The folders that creating ``path`` as a folder makes: itself and the missing ones
    above it, innermost first (none when it exists)."""
    made = []
    while not path.exists() and not path.is_symlink() and path != path.parent:
        made.append(path)
        path = path.parent
    return made


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (innermost first) where they are empty: a folder this run made and
    wrote nothing into is not left behind; one holding anything stays."""
    for f in folders:
        try:
            f.rmdir()
        except OSError:
            return
