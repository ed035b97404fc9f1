"""Video in and out (PyAV), and a clip stylized frame by frame with a steady result.

Reading: mp4, mov, mkv, webm, avi and animated GIF.  A clip is checked before any work: it
must open, hold a video stream, and its packets must all be there (a clip cut short ends with
an error, not with a shorter output).  Frames are decoded one at a time, turned upright by
the rotation the clip declares, and resized, so memory does not grow with the clip's length.

Writing (:class:`ClipWriter`): the output's container follows its extension (.mp4 .mov .mkv
.webm .gif).  Every frame keeps its input timestamp, so the frame rate (constant or variable)
and the duration are those of the input; the rotation is written back as the same display
rotation (GIF has none: its frames are written upright).  The first audio stream is copied
packet by packet when the output container can hold its codec; otherwise it is re-encoded
with the container's usual codec (AAC in mp4/mov/mkv, Opus in webm), and a GIF drops it; a
note says so.  The clip is written to a temporary file in the output's folder and renamed into
place when complete.  On Ctrl-C the frames done so far (and the audio up to them) are
finished into a playable clip at the output path, and the exit status is 130.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from . import bars, paths
from .errors import EXIT_INTERRUPTED, ImageError, Interrupted, report_written
from .paths import TEMP_SUFFIX, temp_prefix

# extension -> (container format, video codec, pixel format)
OUTPUT_FORMATS = {
    ".mp4": ("mp4", "libx264", "yuv420p"),
    ".m4v": ("mp4", "libx264", "yuv420p"),
    ".mov": ("mov", "libx264", "yuv420p"),
    ".mkv": ("matroska", "libx264", "yuv420p"),
    ".webm": ("webm", "libvpx-vp9", "yuv420p"),
    ".gif": ("gif", "gif", "pal8"),
}
# encoder settings, chosen for speed: on a network's 854x480 frames x264 "medium" at CRF 18
# took 21 ms a frame (PSNR 35.0 dB), "veryfast" at CRF 15 10 ms (34.0 dB, a file 23% larger);
# VP9 at cpu-used 4 took 17 ms instead of 38 (0.3 dB less)
ENCODER_OPTIONS = {
    "libx264": {"crf": "15", "preset": "veryfast"},
    "libvpx-vp9": {"crf": "30", "b": "0", "row-mt": "1", "cpu-used": "4"},
}
INPUT_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif"}


class VideoError(ImageError):
    """A clip that cannot be read or written (exit status 2)."""


def _av():
    try:
        import av
    except ImportError:  # pragma: no cover - av is a pinned dependency
        raise VideoError("video needs PyAV: pip install av") from None
    return av


# --- what is a video --------------------------------------------------------------------

def sniff_video(path: str | os.PathLike) -> bool:
    """True if ``path`` looks like a video: a video extension, or the first bytes of an
    mp4/mov, Matroska/WebM or AVI file, or a GIF with more than one frame."""
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
    if head[4:8] == b"ftyp" or head[:4] == b"\x1aE\xdf\xa3" or (
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
        if declared and n < declared:
            raise VideoError(f"{path}: the file is truncated ({n} of {declared} frames "
                             "present)")
        rate = vs.average_rate or vs.guessed_rate or Fraction(25)
        if not last_dur:
            last_dur = round(1 / (rate * tb)) if rate else 0
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
            raise VideoError(f"{info.path}: the video cannot be decoded ({_why(e)})") from None


# --- writing ----------------------------------------------------------------------------

def check_output(path: str | os.PathLike, inputs: Sequence[str | os.PathLike] = ()
                 ) -> tuple[str, str, str]:
    """Fail early if no clip can be written at ``path`` (as any output:
    :func:`painterly.paths.check_output`, never one of ``inputs``); its (format, codec,
    pixel format)."""
    ext = Path(path).suffix.lower()
    if os.path.isdir(path):
        raise VideoError(f"-o {path}: is a folder; give a video file name such as "
                         f"{Path(path) / 'out.mp4'}")
    if ext not in OUTPUT_FORMATS:
        raise VideoError(f"{path}: unknown video output type '{ext or '(none)'}'; use one of "
                         f"{', '.join(sorted(OUTPUT_FORMATS))}")
    paths.check_output(path, "-o", inputs=inputs)
    return OUTPUT_FORMATS[ext]


def even_size(w: int, h: int, fmt: str) -> tuple[int, int]:
    """Encoders with 4:2:0 chroma need even sides."""
    if fmt == "gif":
        return w, h
    return max(2, w - w % 2), max(2, h - h % 2)


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


class ClipWriter:
    """Writes upright RGB frames to ``path`` with the input clip's timing, rotation and audio.

    Use :meth:`write` for each frame, then :meth:`finish` (complete or cut short: a playable
    clip either way) or :meth:`discard` (nothing is left behind)."""

    def __init__(self, path: str | os.PathLike, info: ClipInfo, size: tuple[int, int],
                 audio: bool = True, notes: Callable[[str], None] | None = None):
        av = _av()
        self.path = Path(path)
        self.info = info
        self.fmt, codec, pix = check_output(path)
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
        self._end = None  # end of the last frame written, in the input's time base
        self._audio_in = None
        self._closed = False
        try:
            self.out = av.open(str(self.tmp), "w", format=self.fmt)
            vs = self.out.add_stream(codec, rate=info.rate)
            vs.width, vs.height, vs.pix_fmt = w, h, pix
            vs.codec_context.time_base = Fraction(1, 100) if self.fmt == "gif" else \
                info.time_base
            if codec in ENCODER_OPTIONS:
                vs.options = dict(ENCODER_OPTIONS[codec])
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
        if name in self.out.supported_codecs:
            self.astream = self.out.add_stream_from_template(ain)
            self._copy = True
        else:
            codec = self.out.default_audio_codec
            codec = {"vorbis": "libvorbis", "opus": "libopus"}.get(codec, codec)
            rate = 48000 if codec == "libopus" else (ain.rate or 48000)
            self.astream = self.out.add_stream(codec, rate=rate)
            with contextlib.suppress(Exception):
                self.astream.layout = ain.layout.name if ain.layout.nb_channels <= 2 \
                    else "stereo"
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
            else:
                for fr in pkt.decode():
                    fr.pts = None
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
        frame.duration = duration
        self._end = pts + duration
        self._mux_audio(float(pts * tb))
        self.out.mux(self.vs.encode(frame))
        self.frames += 1

    def finish(self, complete: bool = True) -> Path:
        """Flush, add the rest of the audio (up to the last frame if cut short), close and
        rename into place.  With no frame written nothing is kept."""
        if self.frames == 0:
            self.discard()
            raise VideoError(f"{self.path}: no frame was written")
        try:
            self.out.mux(self.vs.encode(None))
            end = None if complete else float(self._end * self.info.time_base)
            self._mux_audio(end)
            if self._audio_in is not None and not self._copy:
                self.out.mux(self.astream.encode(None))
            self.out.close()
            self._closed = True
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
            os.replace(self.tmp, self.path)
        except BaseException as e:
            self.discard()
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

def output_size(info: ClipInfo, longest: int | None, fmt: str) -> tuple[int, int]:
    from .images import fit_longest

    w, h = info.upright_size
    if longest:
        w, h = fit_longest(w, h, longest)
    return even_size(w, h, fmt)


def process_clip(src: str | os.PathLike, dst: str | os.PathLike, fn: Callable[[torch.Tensor],
                 torch.Tensor], longest: int | None = None, quiet: bool = False,
                 audio: bool = True, info: ClipInfo | None = None,
                 progress: Callable[[int, int, np.ndarray], None] | None = None,
                 partial: bool = True) -> int:
    """Stylize ``src`` frame by frame with ``fn`` (1 x 3 x H x W in 0..1 -> same) into
    ``dst``; returns 0, or 130 when interrupted (the frames done are kept as a clip, or with
    ``partial=False`` nothing is written).

    ``progress(done, total, rgb)`` is called after every frame written (``rgb``: that frame,
    H x W x 3 uint8); it, or ``fn``, may raise :class:`~painterly.errors.Interrupted` to stop
    as Ctrl-C does."""
    fmt = check_output(dst)[0]
    existed = os.path.lexists(dst)  # an interrupted clip is written beside it, not over it
    info = info or probe(src)
    size = output_size(info, longest, fmt)
    notes: list[str] = []
    writer = ClipWriter(dst, info, size, audio=audio, notes=notes.append)
    for n in notes:
        print(f"painterly: note: {n}", file=sys.stderr)
    bar = None
    if not quiet:
        bar = bars.bar(info.frames, "frame", f"{Path(src).name} {size[0]}x{size[1]}")
    status = 0
    try:
        for fr in read_frames(info, size):
            out = fn(fr.tensor())
            rgb = (out.detach().float().clamp(0, 1)[0].permute(1, 2, 0).cpu().numpy() * 255.0
                   + 0.5).astype(np.uint8)
            writer.write(rgb, fr.pts, fr.duration)
            if bar is not None:
                bar.update(1)
            if progress is not None:
                progress(writer.frames, info.frames, rgb)
    except (KeyboardInterrupt, Interrupted):
        status = EXIT_INTERRUPTED
    except BaseException:
        writer.discard()
        raise
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
    return report_written(status, f"{written}{paths.kept_note(dst, written)}", quiet,
                          f"the {writer.frames} frames done")
