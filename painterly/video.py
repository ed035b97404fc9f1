"""Video in and out (PyAV), and a clip stylized frame by frame with a steady result.

Reading: mp4, mov, mkv, webm, avi and animated GIF.  A clip is checked before any work: it
must open, hold a video stream, and its packets must all be there (a clip cut short ends with
an error, not with a shorter output).  Frames are decoded one at a time, turned upright by
the rotation the clip declares, and resized, so memory does not grow with the clip's length.

Stylizing a clip (:func:`process_clip`) runs three stages at once, each frame in order:
decoding (a thread of its own, up to ``AHEAD`` frames ahead, with the stylizer's ``look`` at
each frame: :data:`painterly.temporal.FrameFn`), the stylizer (the caller's thread), and
conversion and encoding (a thread of its own, up to ``AHEAD`` frames behind).

Writing (:class:`ClipWriter`): the output's container follows its extension (.mp4 .mov .mkv
.webm .gif), its encoder the container and ``--quality`` (:data:`ENCODERS`).  Every frame
keeps its input timestamp, so the frame rate (constant or variable) and the duration are
those of the input; the rotation is written back as the same display rotation (GIF has
none: its frames are written upright).  The first audio stream is copied
packet by packet when the output container can hold its codec; otherwise it is re-encoded
with the container's usual codec (AAC in mp4/mov/mkv, Opus in webm), and a GIF drops it; a
note says so.  The clip is written to a temporary file in the output's folder and renamed into
place when complete.  On Ctrl-C the frames done so far (and the audio up to them) are
finished into a playable clip at the output path, and the exit status is 130.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from . import bars, paths
from .errors import EXIT_INTERRUPTED, ImageError, Interrupted, UsageError, report_written
from .images import fit_longest, to_rgb8
from .paths import TEMP_SUFFIX, publish, temp_prefix

# extension -> container format
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska",
                  ".webm": "webm", ".gif": "gif"}


@dataclass(frozen=True)
class Encoder:
    """A video codec, the pixel format it is given, and its private options."""

    codec: str
    pix_fmt: str
    options: tuple[tuple[str, str], ...] = ()


_GIF = Encoder("gif", "pal8")
# --quality (painterly.config.ClipOutput) -> container format -> encoder.  Chosen by
# measurement (benchmarks/encoder.py, benchmarks/results/encoder.md): the texture distance of
# a network's decoded 854x480 frames against the same frames before encoding rose by 10.0%
# with x264 at CRF 15 (the former default), 5.0% at CRF 10 and 2.3% at CRF 12 with
# "tune grain" (twice the bits of CRF 15); 4:2:0 chroma alone (lossless 4:2:0) cost nothing
# measurable; VP9 at CRF 15 lost 0.8% (CRF 30: 6.1%); x265 at CRF 15 (+4.2%) took 22x as long.
#   web: H.264 4:2:0 (High profile), what every browser and phone plays; VP9 in .webm;
#   high: 4:4:4 chroma and finer quantisation (H.264 High 4:4:4, VP9 profile 1): desktop
#   players and editors, not most browsers or phones;
#   lossless: the frames exactly (RGB: H.264 High 4:4:4 lossless, FFV1 in .mkv, VP9
#   lossless in .webm), for archiving and editing.
_GRAIN = (("preset", "veryfast"), ("tune", "grain"))
_X264_WEB = Encoder("libx264", "yuv420p", (("crf", "12"), *_GRAIN))
_X264_HIGH = Encoder("libx264", "yuv444p", (("crf", "10"), *_GRAIN))
_X264_LOSSLESS = Encoder("libx264rgb", "rgb24", (("qp", "0"), ("preset", "veryfast")))
_VP9 = (("b", "0"), ("row-mt", "1"), ("cpu-used", "4"))
ENCODERS: dict[str, dict[str, Encoder]] = {
    "web": {"mp4": _X264_WEB, "mov": _X264_WEB, "matroska": _X264_WEB, "gif": _GIF,
            "webm": Encoder("libvpx-vp9", "yuv420p", (("crf", "15"), *_VP9))},
    "high": {"mp4": _X264_HIGH, "mov": _X264_HIGH, "matroska": _X264_HIGH,
             "webm": Encoder("libvpx-vp9", "yuv444p", (("crf", "10"), *_VP9))},
    "lossless": {"mp4": _X264_LOSSLESS, "mov": _X264_LOSSLESS,
                 "matroska": Encoder("ffv1", "bgr0", (("level", "3"),)),
                 "webm": Encoder("libvpx-vp9", "gbrp", (("lossless", "1"), *_VP9))},
}
BT601, LIMITED_RANGE = 6, 1  # FFmpeg's AVCOL_SPC/PRI/TRC_SMPTE170M, AVCOL_RANGE_MPEG
T = TypeVar("T")
_END = object()  # the end of the items of _ahead
INPUT_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif"}
# major brands of the ISO media files that hold a still picture (HEIF: AVIF, HEIC), not a
# clip, though they start like an mp4; an image sequence (avis, msf1, hevc) stays a clip
STILL_BRANDS = {b"mif1", b"mif2", b"miaf", b"avif", b"avio", b"heic", b"heix", b"heim",
                b"heis"}


class VideoError(ImageError):
    """A clip that cannot be read or written (exit status 2)."""


class DamagedClip(VideoError):
    """A clip whose frames stop decoding part way (damaged in the middle): the frames
    before it can still be kept."""


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a pinned dependency
        raise VideoError("clips need PyAV: pip install 'painterly[video]'") from None
    return av


# --- what is a video --------------------------------------------------------------------

def sniff_video(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a video: a video extension, or the first bytes of an
    mp4/mov (not a still AVIF or HEIC picture, which start the same way), Matroska/WebM or
    AVI file, or a GIF with more than one frame."""
    p = Path(path)
    if p.suffix.lower() in INPUT_EXTS - {".gif"}:
        return True
    if not paths.is_regular_file(p):  # a FIFO would block on open: the readers refuse it by type
        return False
    try:
        with open(p, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    if head[4:8] == b"ftyp":
        return head[8:12] not in STILL_BRANDS
    if head[:4] == b"\x1aE\xdf\xa3" or (
            head[:4] == b"RIFF" and head[8:12] == b"AVI "):
        return True
    if head[:4] == b"GIF8":
        from PIL import Image

        try:
            with Image.open(p) as im:
                return getattr(im, "n_frames", 1) > 1
        except Exception:
            return False
    return False


def is_video_output(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in OUTPUT_FORMATS


# --- reading ----------------------------------------------------------------------------

@dataclass
class ClipInfo:
    """What a clip holds, checked (see :func:`probe`)."""

    path: str
    width: int  # coded (as stored, before rotation)
    height: int
    rotation: int  # display rotation in degrees counter-clockwise: 0, 90, 180 or 270
    rate: Fraction  # average frames per second
    frames: int  # video packets (frames) present
    duration: float  # seconds, from the first frame to the end of the last
    time_base: Fraction
    audio: str | None  # codec of the first audio stream

    @property
    def upright_size(self) -> tuple[int, int]:
        """(width, height) as displayed."""
        return (self.height, self.width) if self.rotation in (90, 270) else (
            self.width, self.height)


def _open_input(path: str):
    av = _av()
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{path}: no such file")
    if p.is_dir():
        raise VideoError(f"{path}: is a directory, not a video")
    if not paths.is_regular_file(p):  # a FIFO or device: refused before any read
        raise VideoError(f"{path}: not a regular file; give a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{path}: the file is empty")
    try:
        c = av.open(str(p))
    except av.FFmpegError as e:
        raise VideoError(f"{path}: not a video, or the file is truncated ({_why(e)})") from None
    if not c.streams.video:
        c.close()
        raise VideoError(f"{path}: holds no video stream")
    return c


def _why(e: Exception) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return msg.strip().rstrip(".")


def _rotation(stream, first_frame) -> int:
    rot = getattr(first_frame, "rotation", 0) or 0
    return int(round(rot / 90.0)) % 4 * 90


def probe(path: str | os.PathLike) -> ClipInfo:
    """Open and check a clip: a video stream whose packets are all there, and one frame
    that decodes.  Raises :class:`VideoError` (one line) for anything else."""
    av = _av()
    path = str(path)
    with _open_input(path) as c:
        vs = c.streams.video[0]
        tb = vs.time_base or Fraction(1, 1000)
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        try:
            first = next(c.decode(vs), None)
        except av.FFmpegError as e:
            raise VideoError(f"{path}: the video cannot be decoded ({_why(e)})") from None
        if first is None:
            raise VideoError(f"{path}: the video stream has no frames")
        rotation = _rotation(vs, first)
    # a second pass demuxes every packet (no decoding): a cut file shows here
    size = Path(path).stat().st_size
    with _open_input(path) as c:
        vs = c.streams.video[0]
        n, start, end, last_dur, ends = 0, None, None, 0, 0.0
        try:
            for pkt in c.demux():
                if pkt.size == 0 or pkt.pts is None:
                    continue
                if pkt.is_corrupt or (pkt.pos is not None and pkt.pos >= 0
                                      and pkt.pos + pkt.size > size):
                    raise VideoError(f"{path}: the file is truncated (a packet at byte "
                                     f"{pkt.pos} runs past its end)")
                ends = max(ends, float((pkt.pts + (pkt.duration or 0)) * pkt.time_base))
                if pkt.stream.index != vs.index:
                    continue
                n += 1
                start = pkt.pts if start is None else min(start, pkt.pts)
                if end is None or pkt.pts >= end:
                    end, last_dur = pkt.pts, pkt.duration or 0
        except av.FFmpegError as e:
            raise VideoError(f"{path}: the file is truncated or damaged ({_why(e)})") from None
        declared = vs.frames
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        if not last_dur:
            last_dur = round(1 / (rate * tb)) if rate else 0
        # fewer frames than declared, and the last ends early: cut short (an AVI's dropped
        # frame is declared but has no data, and the frames after it are all there)
        if declared and n < declared and (
                n == 0 or (end - start + last_dur) * tb < (declared - 0.5) / rate):
            raise VideoError(f"{path}: the file is truncated ({n} of {declared} frames "
                             "present)")
        duration = float((end - start + last_dur) * tb) if n else 0.0
        # Matroska/WebM state their duration (the end of the last block) but no frame count
        stated = (c.duration or 0) / 1e6 if "matroska" in c.format.name else 0.0
        if stated and ends < stated - (0.5 / rate + 0.02):
            raise VideoError(f"{path}: the file is truncated ({ends:.2f} s of "
                             f"{stated:.2f} s present)")
    if n == 0:
        raise VideoError(f"{path}: the video stream has no frames")
    return ClipInfo(path, vs.codec_context.width, vs.codec_context.height, rotation,
                    Fraction(rate), n, duration, Fraction(tb), audio)


@dataclass
class Frame:
    """One decoded frame, upright: RGB uint8 H x W x 3, with its timestamp."""

    rgb: np.ndarray
    pts: int | None
    duration: int
    time_base: Fraction

    def tensor(self) -> torch.Tensor:
        """1 x 3 x H x W float in 0..1."""
        return torch.from_numpy(self.rgb).permute(2, 0, 1)[None].float().div_(255.0)


def upright_rgb(frame, rotation: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """A PyAV frame as upright RGB (uint8), resized so that upright it is ``size`` (w, h)."""
    kw = {}
    if size is not None:
        w, h = size if rotation in (0, 180) else (size[1], size[0])
        if (w, h) != (frame.width, frame.height):
            kw = {"width": w, "height": h, "interpolation": "AREA"
                  if w < frame.width else "BICUBIC"}
    a = frame.to_ndarray(format="rgb24", **kw)
    if rotation:
        a = np.rot90(a, k=rotation // 90)  # the display matrix turns counter-clockwise
    return np.ascontiguousarray(a)


def read_frames(info: ClipInfo, size: tuple[int, int] | None = None) -> Iterator[Frame]:
    """Decode the clip's frames one by one, upright, resized to ``size`` (w, h) if given."""
    av = _av()
    with _open_input(info.path) as c:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        rate_dur = round(1 / (info.rate * info.time_base)) if info.rate else 1
        try:
            for f in c.decode(vs):
                yield Frame(upright_rgb(f, info.rotation, size), f.pts,
                            int(f.duration or rate_dur), info.time_base)
        except av.FFmpegError as e:
            raise DamagedClip(f"{info.path}: the video cannot be decoded ({_why(e)})") from None


# --- writing ----------------------------------------------------------------------------

def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = (),
                 quality: str = "web", overwrite: bool = True) -> tuple[str, Encoder]:
    """Fail early if no clip can be written at ``path`` (as any output:
    :func:`painterly.paths.check_output`, never one of ``inputs``, nor a file already there
    unless ``overwrite``) at ``quality``; its (container format, encoder)."""
    ext = Path(path).suffix.lower()
    if os.path.isdir(path):
        raise VideoError(f"-o {path}: is a folder; give a video file name such as "
                         f"{Path(path) / 'out.mp4'}")
    if ext not in OUTPUT_FORMATS:
        kinds = ", ".join(sorted(OUTPUT_FORMATS))
        if not ext:  # (".mp4" alone is a hidden file's name, with no extension)
            raise VideoError(f"-o {path}: the name has no video extension; name the clip "
                             f"like out.mp4 (one of {kinds})")
        raise VideoError(f"-o {path}: unknown video output type '{ext}'; use one of {kinds}")
    enc = encoder_for(OUTPUT_FORMATS[ext], quality, path)
    paths.check_output(path, "-o", inputs=inputs, overwrite=overwrite)
    return OUTPUT_FORMATS[ext], enc


def encoder_for(fmt: str, quality: str = "web", path: str | os.PathLike = "") -> Encoder:
    """The encoder of :data:`ENCODERS` for a container format at a ``--quality``; a
    :class:`~painterly.errors.UsageError` for a quality the container cannot hold."""
    if quality not in ENCODERS:
        raise UsageError(f"--quality: '{quality}' is not one of {', '.join(ENCODERS)}")
    enc = ENCODERS[quality].get(fmt)
    if enc is None:
        fit = sorted(e for e, f in OUTPUT_FORMATS.items() if f in ENCODERS[quality])
        raise UsageError(f"--quality {quality}: a {Path(path).suffix or fmt} output cannot "
                         f"hold it; write {', '.join(fit)}, or use --quality web")
    return enc


def even_size(w: int, h: int, enc: Encoder) -> tuple[int, int]:
    """The sides a clip is written at: 4:2:0 chroma (a chroma sample for each 2 x 2 pixels)
    needs even ones; RGB, 4:4:4 and GIF keep odd sides (lossless is the frames exactly)."""
    if not enc.pix_fmt.startswith("yuv420"):
        return w, h
    return max(2, w - w % 2), max(2, h - h % 2)


def write_mp4(frames: Sequence[np.ndarray], path: str | os.PathLike, rate: int) -> None:
    """A short H.264 clip of H x W x 3 uint8 frames (the sides made even) at ``rate``
    frames a second, the web quality of clips, written whole or not at all."""
    av = _av()
    path = Path(path)
    h, w = frames[0].shape[:2]
    enc = ENCODERS["web"]["mp4"]
    w2, h2 = even_size(w, h, enc)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=TEMP_SUFFIX,
                               dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp, "w", format="mp4") as out:
            stream = out.add_stream(enc.codec, rate=rate)
            stream.width, stream.height, stream.pix_fmt = w2, h2, enc.pix_fmt
            stream.options = dict(enc.options)
            for rgb in frames:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h2, :w2]),
                                                   format="rgb24")
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
        publish(tmp, path)
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(f"{path}: cannot write the clip ({_why(e)})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _palette_image(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices H x W, palette 256 x 4 ARGB) of a frame: its own 256 colours (a GIF frame
    carries a local palette), so a stylized GIF keeps its colours."""
    from PIL import Image

    q = Image.fromarray(rgb).quantize(256, method=Image.Quantize.MEDIANCUT,
                                      dither=Image.Dither.NONE)
    pal = np.zeros((256, 4), np.uint8)
    p = np.asarray(q.getpalette() or [], np.uint8).reshape(-1, 3)[:256]
    pal[:, 0] = 255
    pal[:len(p), 1:] = p
    return np.asarray(q, np.uint8), pal


def _copies_audio(path: str, fmt: str) -> bool:
    """Whether the first audio stream of the clip at ``path`` can be copied into a ``fmt``
    container as it is: tried on its first packet in memory, since FFmpeg's lists of what a
    container holds promise more than its muxers take (PCM in .mp4, Opus or FLAC in .mov:
    refused at the end of the clip, after every frame was painted)."""
    import io

    av = _av()
    try:
        with av.open(path) as src, av.open(io.BytesIO(), "w", format=fmt) as out:
            ain = src.streams.audio[0]
            a = out.add_stream_from_template(ain)
            for pkt in src.demux(ain):
                if pkt.dts is not None and pkt.size:
                    pkt.stream = a
                    out.mux(pkt)
                    break
    except Exception:  # any refusal: re-encoded instead
        return False
    return True


class ClipWriter:
    """Writes upright RGB frames to ``path`` with the input clip's timing, rotation and audio.

    Use :meth:`write` for each frame, then :meth:`finish` (complete or cut short: a playable
    clip either way) or :meth:`discard` (nothing is left behind)."""

    def __init__(self, path: str | os.PathLike, info: ClipInfo, size: tuple[int, int],
                 audio: bool = True, notes: Callable[[str], None] | None = None,
                 quality: str = "web", encoder: Encoder | None = None):
        av = _av()
        self.path = Path(path)
        self.info = info
        self.fmt, enc = check_output(path, quality=quality)
        enc = encoder or enc  # settings of one's own (benchmarks/encoder.py)
        codec, pix = enc.codec, enc.pix_fmt
        if codec not in av.codecs_available and codec == "libx264":
            codec = "h264" if "h264" in av.codecs_available else "mpeg4"
        self.size = size  # upright (w, h)
        self.rotation = info.rotation if self.fmt != "gif" else 0
        w, h = size if self.rotation in (0, 180) else (size[1], size[0])
        fd, tmp = tempfile.mkstemp(prefix=temp_prefix(self.path.name), suffix=TEMP_SUFFIX,
                                   dir=self.path.parent or ".")
        os.close(fd)
        self.tmp = Path(tmp)
        self.frames = 0
        self._held = None  # the last frame written, encoded once the next one's start is known
        self._last_pkt = None  # (.mp4, .mov) the last packet, muxed once the next is known
        self._first = None  # start of the first frame written, in the input's time base
        self._first_dts: Fraction | None = None  # the first packet's decoding time, s
        self._lasts: dict[Fraction, Fraction] = {}  # frame start -> how long it holds, s
        self._end = None  # end of the last frame written, in the input's time base
        self._audio_in = None
        self._closed = False
        try:
            self.out = av.open(str(self.tmp), "w", format=self.fmt)
            vs = self.out.add_stream(codec, rate=info.rate)
            vs.width, vs.height, vs.pix_fmt = w, h, pix
            vs.codec_context.time_base = Fraction(1, 100) if self.fmt == "gif" else \
                info.time_base
            if codec == enc.codec:
                vs.options = dict(enc.options)
            if pix.startswith("yuv"):
                # the frames are converted with BT.601 in limited range (swscale's default):
                # say so, or players guess (BT.709 for HD, shifting the colours)
                cc = vs.codec_context
                cc.colorspace = cc.color_primaries = cc.color_trc = BT601
                cc.color_range = LIMITED_RANGE
            if self.rotation:
                vs.set_display_rotation(self.rotation)
            self.vs = vs
            if audio and info.audio:
                self._setup_audio(notes or (lambda s: None))
        except BaseException:
            self._cleanup()
            raise

    def _setup_audio(self, note: Callable[[str], None]) -> None:
        av = _av()
        if self.fmt == "gif":
            note(f"{self.path.name}: a GIF cannot hold audio; the clip's audio is left out")
            return
        self._audio_in = av.open(self.info.path)
        ain = self._audio_in.streams.audio[0]
        name = ain.codec_context.name
        if _copies_audio(self.info.path, self.fmt):
            self.astream = self.out.add_stream_from_template(ain)
            self._copy = True
        else:
            codec = "libopus" if self.fmt == "webm" else "aac"
            rate = 48000 if codec == "libopus" else (ain.rate or 48000)
            self.astream = self.out.add_stream(codec, rate=rate)
            with contextlib.suppress(Exception):  # a named layout ("2 channels" is not)
                self.astream.layout = "mono" if ain.layout.nb_channels == 1 else "stereo"
            self._copy = False
            note(f"{self.path.name}: the {self.fmt} container cannot hold {name} audio; "
                 f"re-encoded as {codec}")
        self._apackets = self._audio_in.demux(ain)
        self._pending = None

    def _mux_audio(self, until: float | None) -> None:
        """Audio up to ``until`` seconds (all of it when None)."""
        if self._audio_in is None:
            return
        av = _av()
        while True:
            pkt = self._pending
            if pkt is None:
                try:
                    pkt = next(self._apackets, None)
                except av.FFmpegError:
                    pkt = None
                if pkt is None:
                    return
            if pkt.dts is None or pkt.size == 0:
                self._pending = None
                continue
            t = float(pkt.pts * pkt.time_base) if pkt.pts is not None else 0.0
            if until is not None and t >= until:
                self._pending = pkt
                return
            self._pending = None
            if self._copy:
                pkt.stream = self.astream
                self.out.mux(pkt)
            else:  # each frame keeps its time (the encoder rebases it): a late start stays
                for fr in pkt.decode():
                    self.out.mux(self.astream.encode(fr))

    def write(self, rgb: np.ndarray, pts: int | None, duration: int) -> None:
        av = _av()
        a = rgb
        if self.rotation:
            a = np.rot90(a, k=-(self.rotation // 90))
        w, h = self.vs.width, self.vs.height
        a = np.ascontiguousarray(a[:h, :w])
        if self.fmt == "gif":
            frame = av.VideoFrame.from_ndarray(_palette_image(a), format="pal8")
        else:
            frame = av.VideoFrame.from_ndarray(a, format="rgb24")
        tb = self.info.time_base
        if pts is None:
            pts = (self._end if self._end is not None else 0)
        frame.pts, frame.time_base = pts, tb
        self._end = pts + duration
        self._first = pts if self._first is None else self._first
        self._mux_audio(float(pts * tb))
        self._encode_held(pts)
        self._held = (frame, duration)
        self.frames += 1

    def _encode_held(self, until: int | None) -> None:
        """Encode the frame held back, shown until ``until`` (the next frame's start, in the
        input's time base; None, the last: for its own duration)."""
        if self._held is None:
            return
        frame, duration = self._held
        self._held = None
        if until is not None and until > frame.pts:
            duration = until - frame.pts
        tb = self.info.time_base
        self._lasts[Fraction(frame.pts) * tb] = Fraction(duration) * tb
        self._mux_video(self.vs.encode(frame))

    def _mux_video(self, packets: list) -> None:
        """Each packet with its own frame's duration (up to the next frame's start): an
        encoder gives every packet one frame at the average rate, so a variable-rate clip
        (or a GIF whose frames hold for different times) ended early or late by its last
        frame."""
        for pkt in packets:
            if pkt.pts is not None and pkt.time_base:
                self._time(pkt)
            if self.fmt in ("mp4", "mov"):  # the last one waits: see _mux_last
                pkt, self._last_pkt = self._last_pkt, pkt
            if pkt is not None:
                self.out.mux(pkt)

    def _time(self, pkt) -> None:  # noqa: ANN001 (a PyAV packet)
        """Give ``pkt`` its frame's duration; note the first decoding time."""
        held = self._lasts.pop(Fraction(pkt.pts) * pkt.time_base, None)
        if held is not None:
            pkt.duration = max(1, round(held / pkt.time_base))
        if self._first_dts is None and pkt.dts is not None:
            self._first_dts = Fraction(pkt.dts) * pkt.time_base

    def _mux_last(self) -> None:
        """The last packet of an .mp4/.mov, its duration made to end the track where the
        last frame ends: these muxers time each sample by the gap to the next decoding
        time, so with reordered frames (B-frames) at a variable rate the track otherwise
        ends early (a GIF of 0.9 s became 0.7 s)."""
        pkt, self._last_pkt = self._last_pkt, None
        if pkt is None:
            return
        if pkt.dts is not None and self._first_dts is not None:
            span = (self._end - self._first) * self.info.time_base  # first start to last end
            rest = span - (Fraction(pkt.dts) * pkt.time_base - self._first_dts)
            if rest > 0:
                pkt.duration = max(1, round(rest / pkt.time_base))
        self.out.mux(pkt)

    def finish(self, complete: bool = True) -> Path:
        """Flush, add the rest of the audio (up to the last frame if cut short), close and
        rename into place.  With no frame written nothing is kept."""
        if self.frames == 0:
            self.discard()
            raise VideoError(f"{self.path}: no frame was written")
        try:
            self._encode_held(None)
            self._mux_video(self.vs.encode(None))
            self._mux_last()
            end = None if complete else float(self._end * self.info.time_base)
            self._mux_audio(end)
            if self._audio_in is not None and not self._copy:
                self.out.mux(self.astream.encode(None))
            self.out.close()
            self._closed = True
            publish(self.tmp, self.path)
        except BaseException as e:
            self.discard()
            if isinstance(e, _av().FFmpegError):  # a muxer's refusal: one line, no traceback
                raise VideoError(f"{self.path}: cannot write the clip ({_why(e)})") from None
            if isinstance(e, OSError):
                raise VideoError(f"{self.path}: cannot write ({e.strerror or e})") from None
            raise
        finally:
            if self._audio_in is not None:
                self._audio_in.close()
        return self.path

    def discard(self) -> None:
        self._cleanup()

    def _cleanup(self) -> None:
        if not self._closed:
            with contextlib.suppress(Exception):
                self.out.close()
            self._closed = True
        if self._audio_in is not None:
            with contextlib.suppress(Exception):
                self._audio_in.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


# --- the driver ---------------------------------------------------------------------------

def output_size(info: ClipInfo, longest: int | None, enc: Encoder) -> tuple[int, int]:
    w, h = info.upright_size
    if longest:
        w, h = fit_longest(w, h, longest)
    return even_size(w, h, enc)


AHEAD = 2  # frames decoded ahead of the stylizer, and frames waiting to be encoded


def _ahead(items: Iterator[T], depth: int) -> Generator[T, None, None]:
    """The items of ``items``, produced by a thread of their own up to ``depth`` ahead (an
    error there is raised here, in order); closing the generator stops the thread."""
    q: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                pass
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    break
            else:
                put((_END, None))
        except BaseException as e:  # noqa: BLE001  (handed over to the consumer)
            put((None, e))
        finally:
            if hasattr(items, "close"):
                items.close()

    t = threading.Thread(target=run, name="painterly-decode", daemon=True)
    t.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is _END:
                return
            yield item
    finally:
        stop.set()
        t.join()


class _Behind:
    """Stylized frames converted and encoded by a thread of their own, in order, at most
    ``depth`` waiting; ``written(rgb)`` is called here (the caller's thread) for each frame
    once it is in the clip, so it may raise to stop as the stylizer may."""

    def __init__(self, writer: ClipWriter, written: Callable[[np.ndarray], None], depth: int):
        self.writer, self.written, self.depth = writer, written, depth
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="painterly-encode")
        self.pending: collections.deque[Future] = collections.deque()

    def _write(self, x: torch.Tensor, pts: int | None, duration: int) -> np.ndarray:
        rgb = to_rgb8(x)
        self.writer.write(rgb, pts, duration)
        return rgb

    def put(self, out: torch.Tensor, pts: int | None, duration: int) -> None:
        x = out.detach().to(torch.float32, copy=True)  # the stylizer may reuse its output
        self.pending.append(self.pool.submit(self._write, x, pts, duration))
        while len(self.pending) > self.depth:
            self.written(self.pending.popleft().result())

    def drain(self, quiet: bool = False) -> None:
        """Wait for every frame handed over; with ``quiet`` nobody is told (a stop is under
        way), and the first error of the encoder is still raised."""
        try:
            while self.pending:
                rgb = self.pending.popleft().result()
                if not quiet:
                    self.written(rgb)
        finally:
            for f in self.pending:
                f.cancel()
            self.pending.clear()
            self.pool.shutdown(wait=True)


def _stylize_frames(frames: Iterator[Frame], fn: Callable[[torch.Tensor], torch.Tensor],
                    writer: ClipWriter, written: Callable[[np.ndarray], None]) -> int:
    """``frames`` through ``fn`` into ``writer``, three stages at once (each frame in order):
    decoding the next frames (and the stylizer's ``look`` at them), the stylizer on this one,
    encoding the ones before.  Returns 0, or 130 when interrupted (the frames handed over
    are in the writer); on any other error the writer is discarded and the error raised."""
    look = getattr(fn, "look", None)  # work on the input frames alone (temporal.FrameFn)

    def decoded() -> Iterator[tuple[Frame, torch.Tensor]]:
        for fr in frames:
            x = fr.tensor()
            if look is not None:
                look(x)
            yield fr, x

    ahead = _ahead(decoded(), AHEAD)
    encode = _Behind(writer, written, AHEAD)
    try:
        for fr, x in ahead:
            encode.put(fn(x), fr.pts, fr.duration)
        encode.drain()
    except (KeyboardInterrupt, Interrupted):
        try:
            encode.drain(quiet=True)  # the frames done go into the clip
        except BaseException:
            writer.discard()
            raise
        return EXIT_INTERRUPTED
    except DamagedClip:  # the frames before the damage go into the clip (the caller keeps
        try:  # them if there are any)
            encode.drain()
        except BaseException:
            writer.discard()
            raise
        if writer.frames == 0:
            writer.discard()
        raise
    except BaseException:
        with contextlib.suppress(Exception):
            encode.drain(quiet=True)  # the encoding thread lets go of the writer
        writer.discard()
        raise
    finally:
        ahead.close()  # the decoding thread stops
    return 0


def process_clip(src: str | os.PathLike, dst: str | os.PathLike, fn: Callable[[torch.Tensor],
                 torch.Tensor], longest: int | None = None, quiet: bool = False,
                 audio: bool = True, info: ClipInfo | None = None,
                 progress: Callable[[int, int, np.ndarray], None] | None = None,
                 partial: bool = True, quality: str = "web", about: str = "") -> int:
    """Stylize ``src`` frame by frame with ``fn`` (1 x 3 x H x W in 0..1 -> same) into
    ``dst``; returns 0, or 130 when interrupted (the frames done are kept as a clip, or with
    ``partial=False`` nothing is written).

    ``progress(done, total, rgb)`` is called after every frame written (``rgb``: that frame,
    H x W x 3 uint8); it, or ``fn``, may raise :class:`~painterly.errors.Interrupted` to stop
    as Ctrl-C does.  ``quality``: the encoder (:data:`ENCODERS`, ``--quality``); ``about``:
    what painted the frames, for the closing line (``apply``: the runtime and precision)."""
    enc = check_output(dst, quality=quality)[1]
    existed = os.path.lexists(dst)  # an interrupted clip is written beside it, not over it
    info = info or probe(src)
    size = output_size(info, longest, enc)
    notes: list[str] = []
    writer = ClipWriter(dst, info, size, audio=audio, notes=notes.append, quality=quality)
    for n in notes:
        print(f"painterly: note: {n}", file=sys.stderr)
    bar = None
    if not quiet:
        bar = bars.bar(info.frames, "frame", f"{Path(src).name} {size[0]}x{size[1]}")
    done = 0

    def written(rgb: np.ndarray) -> None:  # a frame is in the clip: tell the bar and caller
        nonlocal done
        done += 1
        if bar is not None:
            bar.update(1)
        if progress is not None:
            progress(done, info.frames, rgb)

    try:
        status = _stylize_frames(read_frames(info, size), fn, writer, written)
    except DamagedClip as e:
        if not writer.frames or not partial:
            writer.discard()
            raise
        writer.path = paths.partial_target(dst, existed)
        kept = writer.finish(complete=False)
        raise DamagedClip(f"{e} after frame {writer.frames}; the {writer.frames} frames "
                          f"before it were written to {kept}; re-encode or repair the clip "
                          f"to paint the rest") from None
    finally:
        if bar is not None:
            bar.close()
    if status and (writer.frames == 0 or not partial):
        writer.discard()
        if partial:
            print("painterly: interrupted before the first frame was done; nothing written",
                  file=sys.stderr)
        return status
    if status:
        writer.path = paths.partial_target(dst, existed)
    written = writer.finish(complete=not status)
    ran = f" ({about})" if about else ""
    return report_written(status, f"{written}{paths.kept_note(dst, written)}{ran}", quiet,
                          f"the {writer.frames} frames done")
