"""Checking and storing uploaded images and clips under server-generated names."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from ..images import decode, save_bytes, upright_size

# PIL format -> file extension; nothing else is accepted (MPO: a phone's or camera's JPEG
# with more pictures after the first, kept as a JPEG)
FORMATS = {"PNG": "png", "JPEG": "jpg", "MPO": "jpg", "WEBP": "webp", "BMP": "bmp",
           "TIFF": "tif", "GIF": "gif"}
# the accepted kinds as people name them, in the order of FORMATS
KIND_NAMES = {"png": "PNG", "jpg": "JPEG", "webp": "WebP", "bmp": "BMP", "tif": "TIFF",
              "gif": "GIF"}
CLIP_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "webm": "video/webm",
              "mkv": "video/x-matroska"}
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp",
               "bmp": "image/bmp", "tif": "image/tiff", "gif": "image/gif", **CLIP_TYPES}
# whole names only (fullmatch: "$" would let a trailing newline through)
UPLOAD_ID = re.compile(r"[0-9a-f]{32}\.(png|jpg|webp|bmp|tif|gif|mp4|mov|webm|mkv)")



def _either(names: list[str]) -> str:
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]


IMAGE_KINDS = _either([KIND_NAMES[e] for e in dict.fromkeys(FORMATS.values())])
ACCEPTED = f"{IMAGE_KINDS} images; MP4, MOV, WebM or MKV clips"
CHUNK = 1 << 20


class TooLarge(ImageError):
    """An upload over its size limit (answered 413)."""


@dataclass
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_size: int = 2048  # largest output side a web job may ask for
    max_queue: int = 100  # jobs waiting at most
    max_clip_bytes: int = 200 * 1024 * 1024
    max_clip_seconds: float = 60.0
    max_clip_frames: int = 3600

    @property
    def max_body(self) -> int:
        """The largest upload of any kind."""
        return max(self.max_bytes, self.max_clip_bytes)

    def to_json(self) -> dict:
        return {"max_bytes": self.max_bytes, "max_pixels": self.max_pixels,
                "max_size": self.max_size, "max_clip_bytes": self.max_clip_bytes,
                "max_clip_seconds": self.max_clip_seconds,
                "max_clip_frames": self.max_clip_frames}


@dataclass
class Upload:
    id: str
    width: int
    height: int
    format: str
    kind: str = "image"  # or "clip"
    frames: int = 0
    duration: float = 0.0
    fps: float = 0.0
    audio: bool = False

    def to_json(self) -> dict:
        out = {"id": self.id, "kind": self.kind, "width": self.width, "height": self.height,
               "format": self.format, "url": f"/api/uploads/{self.id}"}
        if self.kind == "clip":
            out.update(frames=self.frames, duration=round(self.duration, 3),
                       fps=round(self.fps, 3), audio=self.audio)
        return out


def human_size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


# the first bytes of every accepted image format (WebP: RIFF....WEBP, checked apart)
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"GIF87a",
         b"GIF89a")
EBML = b"\x1aE\xdf\xa3"  # Matroska and WebM
STILL_BRANDS = (b"heic", b"heix", b"mif1", b"msf1", b"avif", b"avis")  # ftyp, not clips


def read_head(fh) -> bytes:
    """The first 64 bytes of an upload (the file position is left at the start)."""
    head = fh.read(64)
    fh.seek(0)
    return head


def sniff(head: bytes) -> str | None:
    """The kind of upload its first bytes announce: "image", "clip" or None."""
    if head.startswith(MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if (head[4:8] == b"ftyp" and head[8:12] not in STILL_BRANDS) or head.startswith(EBML):
        return "clip"
    return None


def check_header(head: bytes) -> str:
    """The kind of an upload from its first bytes, before it is read whole; ImageError with
    one line for anything that is neither an accepted image nor a clip."""
    if not head:
        raise ImageError("the file is empty")
    kind = sniff(head)
    if kind is None:
        raise ImageError(f"not an image or a clip in an accepted format ({ACCEPTED})")
    return kind


def clip_ext(head: bytes) -> str:
    if head.startswith(EBML):
        return "webm" if b"webm" in head else "mkv"
    return "mov" if head[8:12] == b"qt  " else "mp4"


def check_image(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """(extension, width, height) of an acceptable image; ImageError with one line if not."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageError(f"the file is larger than {human_size(limits.max_bytes)}")
    try:  # the page names the file before the message: no second name in it
        with decode(data, "the upload", limits.max_pixels) as im:
            fmt, (w, h) = im.format, upright_size(im)
    except ImageError as e:
        raise ImageError(str(e).removeprefix("the upload: ")) from None
    if fmt not in FORMATS:
        raise ImageError(f"{fmt} images are not accepted; use {IMAGE_KINDS}")
    return FORMATS[fmt], w, h


def store(data: bytes, folder: Path, limits: Limits) -> Upload:
    """Check ``data`` and keep it as ``folder/<sha256>.<ext>`` (same bytes, same name)."""
    ext, w, h = check_image(data, limits)
    uid = f"{hashlib.sha256(data).hexdigest()[:32]}.{ext}"
    path = folder / uid
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        save_bytes(data, path)
    return Upload(uid, w, h, ext)


def store_clip(fh, folder: Path, limits: Limits) -> Upload:
    """Copy a clip from the open file ``fh`` into ``folder`` (hashing it on the way), check
    that it plays (:func:`painterly.video.probe`) and is within the limits, and keep it as
    ``folder/<sha256>.<ext>``.  ImageError with one line if not; nothing is left behind."""
    from ..video import VideoError, probe

    ext = clip_ext(read_head(fh))
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".clip-", suffix=".part", dir=folder)
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := fh.read(CHUNK):
                size += len(chunk)
                if size > limits.max_clip_bytes:
                    raise TooLarge(f"the clip is larger than "
                                     f"{human_size(limits.max_clip_bytes)}")
                digest.update(chunk)
                out.write(chunk)
        try:
            info = probe(tmp)
        except VideoError as e:
            raise ImageError(str(e).replace(f"{tmp}: ", "").replace(tmp, "the clip")) \
                from None
        w, h = info.upright_size
        if w * h > limits.max_pixels:
            raise ImageError(f"the clip's frames are {w}x{h}, too many pixels (limit "
                             f"{limits.max_pixels:,})")
        if info.duration > limits.max_clip_seconds:
            raise ImageError(f"the clip is {info.duration:.1f} s long; this server takes clips "
                             f"up to {limits.max_clip_seconds:g} s")
        if info.frames > limits.max_clip_frames:
            raise ImageError(f"the clip has {info.frames} frames; this server takes clips of "
                             f"up to {limits.max_clip_frames}")
        uid = f"{digest.hexdigest()[:32]}.{ext}"
        path = folder / uid
        if path.exists():
            os.unlink(tmp)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Upload(uid, w, h, ext, "clip", info.frames, info.duration, float(info.rate),
                  info.audio is not None)


def path_of(folder: Path, uid: str, kind: str | None = None) -> Path:
    """The stored file of an upload id; ImageError for ids that are malformed or unknown, or
    of another ``kind`` ("image" or "clip") than asked for."""
    if not isinstance(uid, str) or not UPLOAD_ID.fullmatch(uid):
        raise ImageError("unknown image id")
    path = folder / uid
    if not path.is_file():
        raise ImageError("unknown image id (upload the image again)")
    if kind is not None and kind_of(uid) != kind:
        raise ImageError(f"this upload is {'a clip' if kind == 'image' else 'an image'}, "
                         f"not {'an image' if kind == 'image' else 'a clip'}")
    return path


def kind_of(uid: str) -> str:
    return "clip" if uid.rpartition(".")[2] in CLIP_TYPES else "image"
