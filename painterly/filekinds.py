"""Reading a whole data file (a model file, a checkpoint) safely, and naming what a file is
when it is not what was asked for.

:func:`read_limited` refuses special files (FIFOs, devices, sockets) by type before any
read, and files larger than a limit before reading them, so ``/dev/zero`` or a FIFO given as a
model ends at once with one line.  :func:`what_is` recognises common files by their first
bytes (ONNX graphs, zip archives such as PyTorch ``.pt`` files, pickles, images, text), so
the message can say what the file is and what to give instead.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import ImageError
from .paths import check_input_file, check_input_size

HEAD = 512  # bytes looked at to recognise a file
ONNX_FIELDS = (0x12, 0x1A, 0x22, 0x2A, 0x32, 0x3A, 0x42)  # ModelProto's fields 2..8, length-
# delimited: what follows ir_version (field 1) in an ONNX file


def read_limited(path: str | os.PathLike, limit: int, what: str = "") -> bytes:
    """The bytes of a regular, readable, non-empty file of at most ``limit`` bytes;
    ImageError with one line naming it otherwise (nothing read of a special file)."""
    what = what or str(path)
    st = check_input_file(path, what)
    check_input_size(path, st, limit, what)
    try:
        with open(path, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # replaced meanwhile
                raise ImageError(f"{what}: not a regular file")
            data = fh.read(limit + 1)
    except OSError as e:
        raise ImageError(f"{what}: cannot read ({e.strerror or e})") from None
    if len(data) > limit:
        raise ImageError(f"{what}: larger than any file of this kind (limit {limit:,} bytes)")
    return data


def _is_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # cut in the middle of a character
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(c.isprintable() or c in "\r\n\t" for c in text)


def _is_onnx(head: bytes, suffix: str) -> bool:
    """An ONNX ModelProto: field 1 (ir_version, a small varint) first, then one of its
    length-delimited fields (the producer's name, its version, the domain, the graph)."""
    if suffix == ".onnx":
        return True
    return len(head) > 2 and head[0] == 0x08 and 1 <= head[1] <= 15 and head[2] in ONNX_FIELDS


KINDS = (  # (first bytes, what the file is)
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF file (WebP image, AVI or WAV)"),
    (b"PK\x03\x04", "a zip archive (a PyTorch .pt/.pth file is one)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x7fELF", "a program"),
    (b"\x89HDF", "an HDF5 file (Keras weights)"),
)


def what_is(head: bytes, path: str | os.PathLike = "") -> str | None:
    """What the file starting with ``head`` is, in words, if it is a common kind: an ONNX
    graph, an image, an archive, a pickle, text; None if not recognised."""
    if _is_onnx(head, Path(path).suffix.lower() if path else ""):
        return "an ONNX graph"
    for magic, words in KINDS:
        if head.startswith(magic):
            return words
    if head[4:8] == b"ftyp":
        return "a video (mp4/mov)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (a PyTorch checkpoint)"
    if _is_text(head[:HEAD]):
        return "a text file"
    return None
