"""Reading, resizing and writing images, and the colour spaces the engine needs.

Input handling, for every image painterly reads:

* EXIF orientation is applied, so a portrait photo stays upright.
* Colours are converted to sRGB by the file's ICC profile, if it has one of another colour
  space (a phone's Display P3 photo, an Adobe RGB scan, a CMYK file for print); results are
  written in sRGB.  Label masks keep their numbers (``profile=False``).
* Grey, palette, CMYK and 16-bit PNG/TIFF images become RGB floats in 0..1.  16-bit grey
  keeps its full precision; 16-bit colour files are read through Pillow, which gives 8 bits
  per channel.
* Alpha: transparent parts are composited over white before stylization.  When the
  *content* image has an alpha channel and the output format can store one (PNG, WebP,
  TIFF), the content's alpha, resized, is put back on the result.
* Images larger than ``MAX_PIXELS`` are refused (a small file can claim a huge picture:
  a decompression bomb).

Any failure raises :class:`~painterly.errors.ImageError` naming the file and the problem.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from .errors import ImageError
from .paths import TEMP_SUFFIX, check_input_file, check_output, fallback_path, publish, temp_prefix
from .signals import deferred

MAX_PIXELS = 64_000_000  # 8000 x 8000
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP",
                 ".tif": "TIFF", ".tiff": "TIFF"}
ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
NOT_IMAGE = "not an image file (or a format Pillow cannot read); give a PNG, JPEG, WebP or TIFF"
DAMAGED = "use another copy of it"

ImageLike = str | os.PathLike | Image.Image | np.ndarray | torch.Tensor | bytes


@dataclass
class LoadedImage:
    """An RGB image (float32 array H x W x 3 in 0..1) with its optional alpha (H x W)."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    name: str
    frames: int = 1  # frames or pages in the file (an animated WebP, a multi-page TIFF)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)"""
        return self.rgb.shape[1], self.rgb.shape[0]


def image_list(images: Any) -> list:
    """One picture or a list of them, as a list: a single path, bytes, PIL image, array,
    tensor or loaded image is one picture (an array or tensor is not a list of its rows or
    channels, a path not a list of its letters); None is none."""
    if images is None:
        return []
    if isinstance(images, (str, os.PathLike, bytes, Image.Image, np.ndarray, torch.Tensor,
                           LoadedImage)):
        return [images]
    return list(images)


def describe(src: ImageLike) -> str:
    if isinstance(src, (str, os.PathLike)):
        return str(src)
    return f"<{type(src).__name__}>"


@contextlib.contextmanager
def named(flag: str) -> Iterator[None]:
    """The ImageErrors raised inside name the option that gave the file (``flag``)."""
    try:
        yield
    except ImageError as e:
        raise ImageError(f"{flag} {e}") from None


def load_named(path: str, flag: str, missing: str) -> LoadedImage:
    """:func:`load_image` of a file an option gave: its errors name the option (``flag``),
    and a missing file says ``missing`` (what to give instead)."""
    if not os.path.lexists(path):
        raise ImageError(f"{flag} {path}: no such file; {missing}")
    with named(flag):
        return load_image(path)


def load_image(src: ImageLike, *, profile: bool = True) -> LoadedImage:
    """Load a path, bytes, PIL image, array (H x W [x C], uint8/uint16/float) or tensor.
    ``profile``: a picture's colours are converted to sRGB by its ICC profile (False for a
    label image, whose colours are names, not colours)."""
    name = describe(src)
    if isinstance(src, (torch.Tensor, np.ndarray)) and src.ndim == 4:
        if src.shape[0] != 1:  # the rest were dropped without a word
            raise ImageError(f"{name}: a batch of {src.shape[0]} pictures; give one at a "
                             f"time (x[0], x[1], ...)")
        src = src[0]
    if isinstance(src, torch.Tensor):
        src = src.detach().cpu().float().numpy()
        if src.ndim == 3 and src.shape[0] in (1, 3, 4):
            src = np.moveaxis(src, 0, -1)
    if isinstance(src, np.ndarray):
        return _from_array(src, name)
    if isinstance(src, Image.Image):
        return _from_pil(src, name, profile)
    if isinstance(src, bytes):
        return _from_pil(decode(src, name), name, profile)
    if not isinstance(src, (str, os.PathLike)):
        raise TypeError(f"an image is a path, bytes, a PIL image, a numpy array or a tensor, "
                        f"not {type(src).__name__}")
    path = Path(src)
    st = check_input_file(path, name)
    if st.st_size == 0:
        raise ImageError(f"{name}: the file is empty; check that it was copied whole")
    try:
        with open(path, "rb") as fh:
            return _from_pil(decode_file(fh, name), name, profile)
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror or e})") from None


def decode_file(fh, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Identify an open file from its header, then decode it whole (ImageError if not an
    image): a large file that is not an image is refused without reading it."""
    with open_header(fh, name, max_pixels):
        fh.seek(0)
        data = fh.read()
    return decode(data, name, max_pixels)


def _too_many(name: str, w: int, h: int, max_pixels: int) -> ImageError:
    return ImageError(f"{name}: {w}x{h} is too many pixels (the limit is {max_pixels:,}); "
                      f"downscale it first")


def open_header(fh, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """The image of an open file, its header read and its size checked (nothing decoded);
    ImageError naming ``name`` if it is not an image or has more than ``max_pixels``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fh)
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: {NOT_IMAGE}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels (over {max_pixels:,}); downscale it "
                         f"first") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
        raise ImageError(f"{name}: the image is damaged ({str(e) or type(e).__name__}); "
                         f"{DAMAGED}") from None
    if im.width * im.height > max_pixels:
        im.close()
        raise _too_many(name, im.width, im.height, max_pixels)
    if im.width < 1 or im.height < 1:
        im.close()
        raise ImageError(f"{name}: the image has no pixels")
    return im


def check_image_file(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an image file from its header, after checking that it is a
    regular, readable, non-empty file (a FIFO or device is refused before any read); no
    pixel is decoded.  ImageError naming the file otherwise."""
    name = str(path)
    st = check_input_file(path, name)
    if st.st_size == 0:
        raise ImageError(f"{name}: the file is empty; check that it was copied whole")
    try:
        with open(path, "rb") as fh, open_header(fh, name, max_pixels) as im:
            return upright_size(im)
    except OSError as e:
        raise ImageError(f"{name}: cannot read ({e.strerror or e})") from None


def upright_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of an image as it is shown and painted: turned by its EXIF
    orientation (a phone's portrait photo is stored landscape with orientation 6)."""
    try:
        turned = im.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except Exception:  # a broken EXIF block: as stored (as _from_pil does)
        turned = False
    return (im.height, im.width) if turned else im.size


def decode(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and fully decode image bytes; ImageError naming ``name`` on any problem."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
            if im.width * im.height > max_pixels:
                raise _too_many(name, im.width, im.height, max_pixels)
            im.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"{name}: too many pixels (over {max_pixels:,}); downscale it "
                         f"first") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: {NOT_IMAGE}") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, MemoryError) as e:
        msg = str(e) or type(e).__name__
        if "truncated" in msg:
            msg = "the image data is truncated"
        raise ImageError(f"{name}: the image is damaged ({msg}); {DAMAGED}") from None
    return im


PROFILE_SPACES = {"RGB": "RGB", "RGBA": "RGB", "P": "RGB", "CMYK": "CMYK"}


def to_srgb(im: Image.Image) -> Image.Image:
    """``im`` with its colours converted to sRGB when it carries an ICC profile of another
    colour space: its numbers mean other colours than sRGB's (a Display P3 photo read as
    sRGB is dull, a CMYK file converted without its profile is off).  RGB(A), palette and
    CMYK pictures; alpha is kept.  An sRGB profile, one that does not fit the picture's
    mode, or one that cannot be read leaves the picture as stored (and a grey picture:
    Pillow converts no grey profile to sRGB)."""
    icc = im.info.get("icc_profile")
    space = PROFILE_SPACES.get(im.mode)
    if not icc or space is None:
        return im
    try:
        from PIL import ImageCms

        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if src.profile.xcolor_space.strip() != space or \
                "srgb" in ImageCms.getProfileDescription(src).lower():
            return im
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        out = "RGBA" if im.mode == "RGBA" else "RGB"
        return ImageCms.profileToProfile(im, src, ImageCms.createProfile("sRGB"),
                                         outputMode=out)
    except Exception:  # a damaged or unusual profile: the numbers as stored
        return im


def _from_pil(im: Image.Image, name: str, profile: bool = True) -> LoadedImage:
    img = _pixels(im, name, profile)
    img.frames = max(1, getattr(im, "n_frames", 1))  # the first is the one read
    return img


def _pixels(im: Image.Image, name: str, profile: bool) -> LoadedImage:
    try:
        im = ImageOps.exif_transpose(im) or im
    except Exception:  # a broken EXIF block should not stop us
        pass
    if profile:  # after the turn: the converted picture has no EXIF block
        im = to_srgb(im)
    if im.width < 1 or im.height < 1:
        raise ImageError(f"{name}: the image has no pixels")
    mode = im.mode
    alpha = None
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float32)
        if mode == "F":
            hi = float_white(a)
        else:
            hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        g = np.clip(a / hi, 0, 1)
        return LoadedImage(np.repeat(g[..., None], 3, axis=2), None, name)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or im.mode == "RGBA":
        rgba = im.convert("RGBA")
        arr = np.asarray(rgba).astype(np.float32) / 255.0
        alpha = arr[..., 3]
        rgb = arr[..., :3] * alpha[..., None] + (1.0 - alpha[..., None])  # over white
        if alpha.min() >= 1.0:
            alpha = None
        return LoadedImage(np.ascontiguousarray(rgb), alpha, name)
    if mode == "CMYK":
        im = im.convert("RGB")
    rgb = np.asarray(im.convert("RGB")).astype(np.float32) / 255.0
    return LoadedImage(rgb, None, name)


def float_white(a: np.ndarray) -> float:
    """The white of a picture of floats, read off its largest value: 1 (values 0..1; a
    little over 1, as resizing leaves, is clipped, not taken for a 0..255 picture), 255 or
    65535.  A 0..255 picture whose brightest value is 2 or less is black either way."""
    top = float(a.max()) if a.size else 0.0
    return 1.0 if top <= 2.0 else 255.0 if top <= 256.0 else 65535.0


NEGATIVE_LIMIT = -0.25  # of the white: below it a float array is no picture (normalised)


def _refuse_normalised(f: np.ndarray, name: str) -> None:
    """ImageError for floats that are clearly not a picture but a normalised one (ImageNet's
    mean and spread: about -2.1..2.6; -1..1; 0..255 minus the mean pixel), which clipping
    would silently darken; the small negatives that resizing leaves stay (and are clipped).
    The limit is a quarter of the white below 0, the white taken as 1 when the brightest
    value is a few units (a normalised picture's, which reads as black of 0..255)."""
    low, top = float(f.min()), float(f.max())
    white = float_white(f) if top > 4.0 else 1.0
    if low < NEGATIVE_LIMIT * white:
        raise ImageError(f"{name}: values from {low:.2f} to {top:.2f}; a picture's values "
                         f"are 0..1 (or 0..255): undo the normalisation first")


def _from_array(a: np.ndarray, name: str) -> LoadedImage:
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise ImageError(f"{name}: an array image must be H x W, H x W x 1, 3 or 4; "
                         f"got shape {tuple(a.shape)}")
    if a.dtype == np.uint8:
        f = a.astype(np.float32) / 255.0
    elif a.dtype == np.uint16:
        f = a.astype(np.float32) / 65535.0
    elif a.dtype == np.bool_:  # a mask: True is white
        f = a.astype(np.float32)
    elif np.issubdtype(a.dtype, np.integer):  # numbers typed in or computed: int64 and kin
        top = int(a.max())
        if int(a.min()) < 0 or top > 65535:
            raise ImageError(f"{name}: an integer array image holds values from 0 to 255 "
                             f"(or to 65535); this one has {int(a.min())} to {top}")
        f = a.astype(np.float32) / (255.0 if top <= 255 else 65535.0)
    elif np.issubdtype(a.dtype, np.floating):
        f = a.astype(np.float32)
        if not np.isfinite(f).all():
            raise ImageError(f"{name}: the array holds NaN or infinite values")
        _refuse_normalised(f, name)
        f = np.clip(f / float_white(f), 0.0, 1.0)
    else:
        raise ImageError(f"{name}: unsupported array dtype {a.dtype}")
    alpha = None
    if f.shape[2] in (2, 4):
        alpha = f[..., -1]
        f = f[..., :-1]
        f = f * alpha[..., None] + (1.0 - alpha[..., None])
        if alpha.min() >= 1.0:
            alpha = None
    if f.shape[2] == 1:
        f = np.repeat(f, 3, axis=2)
    return LoadedImage(np.ascontiguousarray(f), alpha, name)


# --------------------------------------------------------------------------------------
# sizes and tensors

MIN_STYLE_SIDE = 16  # a smaller painting holds no brushwork to transfer
MIN_CONTENT_SIDE = 4  # a smaller photo holds no picture to keep


def check_style(img: LoadedImage) -> LoadedImage:
    """``img`` if it is large enough to carry a style; ImageError naming it otherwise."""
    w, h = img.size
    if min(w, h) < MIN_STYLE_SIDE:
        raise ImageError(f"{img.name}: a {w}x{h} style image is too small to carry a style "
                         f"(at least {MIN_STYLE_SIDE} px on each side); use a larger picture "
                         f"of the painting")
    return img


def check_content(img: LoadedImage, longest: int | None = None) -> LoadedImage:
    """``img`` if it has enough pixels to stylize, and so has the picture made of it with
    the longest side ``longest`` (a long thin strip shrunk to a few pixels' height);
    ImageError naming it otherwise."""
    w, h = img.size
    if min(w, h) < MIN_CONTENT_SIDE:
        raise ImageError(f"{img.name}: a {w}x{h} image is too small to stylize (at least "
                         f"{MIN_CONTENT_SIDE} px on each side); use a larger photo")
    ow, oh = fit_longest(w, h, longest) if longest else (w, h)
    if min(ow, oh) < MIN_CONTENT_SIDE:
        need = -(-MIN_CONTENT_SIDE * max(w, h) // min(w, h))
        raise ImageError(f"{img.name}: a {w}x{h} image at size {longest} would be {ow}x{oh} "
                         f"(at least {MIN_CONTENT_SIDE} px on each side); give a size of at "
                         f"least {need}")
    return img


def enlarge_note(img: LoadedImage, longest: int) -> str:
    """A note when ``img`` is enlarged more than twice to ``longest`` ('' otherwise)."""
    w, h = img.size
    if 2 * max(w, h) >= longest:
        return ""
    ow, oh = fit_longest(w, h, longest)
    return (f"{img.name} is {w}x{h} px; it is enlarged to {ow}x{oh}, so the result will "
            f"look soft (give a larger photo or a smaller --size)")


def frames_note(img: LoadedImage, painted: bool = True) -> str:
    """A note when ``img``'s file holds more frames than the first, which alone is used
    (an animated WebP, a multi-page TIFF; '' otherwise); for a picture to be ``painted``
    (not a style), how to paint every frame."""
    if img.frames <= 1:
        return ""
    how = "; to paint every frame, give it as a clip (.gif, .mp4 or .webm)" if painted else ""
    return f"{img.name} holds {img.frames} frames; the first alone is used{how}"


def fit_longest(w: int, h: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled so that the longest side is ``longest`` (at least 1 px each)."""
    s = longest / max(w, h)
    return max(1, round(w * s)), max(1, round(h * s))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H x W x 3 float array -> 1 x 3 x H x W tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).unsqueeze(0).float()


SHIFTED_TAPS = 9  # kernels up to this long are taken as sums of shifted copies


def separable_conv(x: torch.Tensor, k: torch.Tensor, mode: str) -> torch.Tensor:
    """Each channel of ``x`` (N x C x H x W) convolved with the odd 1-D kernel ``k`` along
    the rows, then along the columns, the borders padded by ``mode`` (reflect, replicate).

    Short kernels (the clips' fine band, every frame) are weighted sums of shifted views of
    the padded picture: the same sums as a depthwise convolution, which PyTorch's CPU
    kernels ran 15x slower (33 ms against 2.3 ms for [1,2,1]/4 on an 854x480 frame)."""
    r = k.numel() // 2
    if k.numel() <= SHIFTED_TAPS:
        taps = [float(v) for v in k]
        h, w = x.shape[-2:]
        p = F.pad(x, (r, r, r, r), mode=mode)
        y = sum(t * p[..., :, i:i + w] for i, t in enumerate(taps))
        return sum(t * y[..., i:i + h, :] for i, t in enumerate(taps))
    k, c = k.to(x), x.shape[1]
    y = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1).expand(c, 1, 1, -1),
                 groups=c)
    return F.conv2d(F.pad(y, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1).expand(c, 1, -1, 1),
                    groups=c)


def resize_tensor(x: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """Resize a 1 x C x H x W tensor to (height, width), antialiased when shrinking."""
    if tuple(x.shape[-2:]) == tuple(hw):
        return x
    shrink = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]
    y = F.interpolate(x, size=hw, mode="bicubic", align_corners=False, antialias=shrink)
    return y.clamp(0, 1)


def image_tensor(img: LoadedImage, longest: int) -> torch.Tensor:
    """The image as a 1 x 3 x H x W tensor with its longest side resized to ``longest``."""
    w, h = fit_longest(*img.size, longest)
    return resize_tensor(to_tensor(img.rgb), (h, w))


def to_rgb8(x: torch.Tensor) -> np.ndarray:
    """1 x 3 x H x W tensor in 0..1 (any dtype/device) -> H x W x 3 uint8, rounded."""
    a = x.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy()
    return (a * 255.0 + 0.5).astype(np.uint8)


def to_pil(x: torch.Tensor, alpha: np.ndarray | None = None) -> Image.Image:
    """1 x 3 x H x W tensor in 0..1 (any dtype/device) -> 8-bit PIL image (RGBA with alpha)."""
    im = Image.fromarray(to_rgb8(x), "RGB")
    if alpha is not None:
        al = Image.fromarray((np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8), "L")
        al = al.resize(im.size, Image.Resampling.LANCZOS)
        im.putalpha(al)
    return im


# --------------------------------------------------------------------------------------
# writing


def output_format(path: str | os.PathLike, flag: str = "") -> str:
    ext = Path(path).suffix.lower()
    if ext not in WRITE_FORMATS:
        what = f"{flag} {path}".strip()
        kind = f"unknown output type '{ext}'" if ext else "no file type in the name"
        raise ImageError(f"{what}: {kind}; end the name with one of "
                         f"{', '.join(sorted(set(WRITE_FORMATS)))}")
    return WRITE_FORMATS[ext]


def check_folder(path: str | os.PathLike) -> None:
    """Fail early (before any work) if no file can be written at ``path``."""
    check_output(path)


def check_writable(path: str | os.PathLike, flag: str = "", *, inputs=(), others=(),
                   overwrite: bool = True) -> None:
    """Fail early if ``path`` is not a writable image file name (known extension, folder,
    not an input, not another output, not there yet unless ``overwrite``; see
    :func:`painterly.paths.check_output`)."""
    if os.path.isdir(path):
        what = f"{flag} {path}".strip()
        raise ImageError(f"{what}: is a folder; give an image file name such as "
                         f"{Path(path) / 'out.png'}")
    output_format(path, flag)
    check_output(path, flag, inputs=inputs, others=others, overwrite=overwrite)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Yield a binary file in ``path``'s folder that replaces ``path`` only when complete.

    On any error the temporary file is removed; an OSError becomes one-line ImageError.
    Ctrl-C and SIGTERM wait until the file is written (:func:`~.signals.deferred`; every
    caller writes bytes it already holds): caught inside ``mkstemp``, or between this
    generator's steps, they would leave the temporary file behind."""
    p = Path(path)
    tmp = None
    with deferred():
        try:
            fd, tmp = tempfile.mkstemp(prefix=temp_prefix(p.name), suffix=TEMP_SUFFIX,
                                       dir=p.parent or ".")
            with os.fdopen(fd, "wb") as fh:
                yield fh
            publish(tmp, p)
        except BaseException as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if isinstance(e, OSError):
                raise ImageError(f"{path}: cannot write ({e.strerror or e})") from None
            raise


def save_image(im: Image.Image, path: str | os.PathLike) -> Path:
    """Write ``im`` to ``path`` atomically (temp file in the same folder, then rename).

    The format follows the extension; alpha is dropped for formats that cannot hold it.
    """
    fmt = output_format(path)
    check_folder(path)
    if im.mode == "RGBA" and fmt not in ALPHA_FORMATS:
        im = im.convert("RGB")
    kwargs = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}, "PNG": {},
              "TIFF": {"compression": "tiff_deflate"}}[fmt]
    with atomic_write(path) as fh:
        im.save(fh, format=fmt, **kwargs)
    return Path(path)


def save_result(im: Image.Image, path: str | os.PathLike) -> Path:
    """Write a finished result; if that fails, write it to a fallback path instead and raise
    ImageError naming both, so that the work of a run is never lost."""
    try:
        return save_image(im, path)
    except ImageError as e:
        rescue = fallback_path(path)
        try:
            save_image(im, rescue)
        except ImageError:
            raise e from None
        raise ImageError(f"{e}; the image was saved to {rescue} instead") from None


def save_bytes(data: bytes, path: str | os.PathLike) -> Path:
    """Write raw bytes atomically."""
    with atomic_write(path) as fh:
        fh.write(data)
    return Path(path)


# --------------------------------------------------------------------------------------
# colour spaces (RGB in 0..1, tensors 1 x 3 x H x W)

_RGB2YIQ = torch.tensor([[0.299, 0.587, 0.114],
                         [0.595716, -0.274453, -0.321263],
                         [0.211456, -0.522591, 0.311135]])


def rgb_to_yiq(x: torch.Tensor) -> torch.Tensor:
    m = _RGB2YIQ.to(x.device, x.dtype)
    return torch.einsum("ij,bjhw->bihw", m, x)


def yiq_to_rgb(x: torch.Tensor) -> torch.Tensor:
    m = torch.linalg.inv(_RGB2YIQ).to(x.device, x.dtype)
    return torch.einsum("ij,bjhw->bihw", m, x)
