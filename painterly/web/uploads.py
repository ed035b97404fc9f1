"""Checking and storing uploaded images under server-generated names."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ImageError
from ..images import decode, save_bytes

# PIL format -> file extension; nothing else is accepted
FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif",
           "GIF": "gif"}
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp",
               "bmp": "image/bmp", "tif": "image/tiff", "gif": "image/gif"}
UPLOAD_ID = re.compile(r"^[0-9a-f]{32}\.(png|jpg|webp|bmp|tif|gif)$")


@dataclass
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_size: int = 2048  # largest output side a web job may ask for
    max_queue: int = 100  # jobs waiting at most


@dataclass
class Upload:
    id: str
    width: int
    height: int
    format: str

    def to_json(self) -> dict:
        return {"id": self.id, "width": self.width, "height": self.height,
                "format": self.format, "url": f"/api/uploads/{self.id}"}


def human_size(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB"


# the first bytes of every accepted format (WebP: RIFF....WEBP, checked apart)
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"GIF87a",
         b"GIF89a")


def check_header(fh) -> None:
    """Refuse what is not an image of an accepted format from its first 16 bytes, before
    the upload is read whole (the file position is left at the start)."""
    head = fh.read(16)
    fh.seek(0)
    if not head:
        raise ImageError("the file is empty")
    if not (head.startswith(MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        raise ImageError("not an image in an accepted format (PNG, JPEG, WebP, BMP, TIFF or GIF)")


def check_image(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """(extension, width, height) of an acceptable image; ImageError with one line if not."""
    if not data:
        raise ImageError("the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageError(f"the file is larger than {human_size(limits.max_bytes)}")
    with decode(data, "the upload", limits.max_pixels) as im:
        fmt, (w, h) = im.format, im.size
    if fmt not in FORMATS:
        raise ImageError(f"{fmt} images are not accepted; use PNG, JPEG or WebP")
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


def path_of(folder: Path, uid: str) -> Path:
    """The stored file of an upload id; ImageError for ids that are malformed or unknown."""
    if not isinstance(uid, str) or not UPLOAD_ID.match(uid):
        raise ImageError("unknown image id")
    path = folder / uid
    if not path.is_file():
        raise ImageError("unknown image id (upload the image again)")
    return path
