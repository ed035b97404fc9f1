"""Video in and out, optical flow, the flicker metric and the anti-flicker methods."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import torch

from painterly import engine, temporal, video
from painterly.config import Options

from .conftest import run_cli, save_png, stripes_image
from .video_clips import make_clip, moving_square, texture, translated_frames

av = pytest.importorskip("av")
pytest.importorskip("cv2")


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].float()


def _decoded(path) -> list[np.ndarray]:
    info = video.probe(path)
    return [f.rgb.astype(np.float32) / 255 for f in video.read_frames(info)]


def _no_leftovers(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.startswith(".") or "part" in p.name]


# --- I/O ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ext, audio", [(".mp4", "aac"), (".webm", "opus"), (".gif", None)])
def test_round_trip_keeps_frames_rate_duration_rotation_audio(tmp_path, ext, audio):
    src = make_clip(tmp_path / "in.mp4", n=10, rate=10, rotation=90)
    info = video.probe(src)
    assert (info.frames, info.rate, info.rotation, info.audio) == (10, 10, 90, "aac")
    assert info.upright_size == (48, 64)
    out = tmp_path / f"out{ext}"
    assert video.process_clip(src, out, lambda x: 1 - x, quiet=True) == 0
    got = video.probe(out)
    assert got.frames == 10
    assert got.rate == 10
    assert got.duration == pytest.approx(info.duration, abs=0.02)
    assert got.upright_size == info.upright_size
    assert got.rotation == (0 if ext == ".gif" else 90)  # GIF frames are written upright
    assert got.audio == audio
    # the frames were processed, upright, in order
    a, b = _decoded(src), _decoded(out)
    assert len(a) == len(b) == 10
    err = np.mean([np.abs((1 - x) - y).mean() for x, y in zip(a, b)])
    assert err < 0.05
    if audio:
        with av.open(str(out)) as c:
            s = c.streams.audio[0]
            assert float(s.duration * s.time_base if s.duration else c.duration / 1e6) \
                == pytest.approx(1.0, abs=0.1)
    assert _no_leftovers(tmp_path)


def test_audio_is_copied_not_reencoded(tmp_path):
    src = make_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mov"
    video.process_clip(src, out, lambda x: x, quiet=True)

    def packets(p):
        with av.open(str(p)) as c:
            return [bytes(k) for k in c.demux(c.streams.audio[0]) if k.size]

    assert packets(src) == packets(out)


def _pcm_clip(path, start: float = 0.2):
    """An .mkv with PCM audio ("2 channels", no named layout, as cameras write) that starts
    ``start`` seconds after the picture."""
    from fractions import Fraction

    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("libx264", rate=10)
        vs.width, vs.height, vs.pix_fmt = 32, 24, "yuv420p"
        a = out.add_stream("pcm_s16le", rate=16000)
        a.layout = "stereo"
        for i in range(6):
            vf = av.VideoFrame.from_ndarray(np.full((24, 32, 3), 40 * i, np.uint8), "rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 10)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
        for k in range(0, 6400, 800):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 1600), np.int16), format="s16",
                                            layout="stereo")
            af.sample_rate, af.pts = 16000, int(start * 16000) + k
            out.mux(a.encode(af))
        out.mux(a.encode(None))
    return path


@pytest.mark.parametrize("ext, copied", [(".mp4", False), (".mov", True), (".webm", False)])
def test_audio_a_container_refuses_is_reencoded_keeping_its_start(tmp_path, ext, copied,
                                                                  capsys):
    """PCM copied into .mp4 (or Opus, FLAC into .mov) was refused by the muxer when the clip
    was closed, after every frame: a traceback and nothing written.  It is re-encoded (with
    a note), and re-encoded audio keeps its start (it was moved to 0)."""
    src = _pcm_clip(tmp_path / "in.mkv")
    out = tmp_path / f"out{ext}"
    assert video.process_clip(src, out, lambda x: x, quiet=True) == 0
    assert ("pcm_s16le audio; re-encoded as" in capsys.readouterr().err) != copied
    with av.open(str(out)) as c:
        first = next(k for k in c.demux(c.streams.audio[0]) if k.pts is not None and k.size)
        # (AAC's first packet is its encoder's delay, 1,024 samples, before the sound)
        assert float(first.pts * first.time_base) == pytest.approx(0.2, abs=0.07)
    assert _no_leftovers(tmp_path)


def test_interrupt_keeps_a_playable_clip_of_the_frames_done(tmp_path):
    src = make_clip(tmp_path / "in.mp4")
    seen = []

    def fn(x):
        if len(seen) == 4:
            raise KeyboardInterrupt
        seen.append(1)
        return x

    out = tmp_path / "out.mp4"
    assert video.process_clip(src, out, fn, quiet=True) == video.EXIT_INTERRUPTED
    got = video.probe(out)
    assert got.frames == 4
    assert got.duration == pytest.approx(0.4, abs=0.02)
    with av.open(str(out)) as c:
        s = c.streams.audio[0]
        assert float(s.duration * s.time_base) < 0.6  # the audio stops with the video
    assert _no_leftovers(tmp_path)


def test_a_clip_damaged_part_way_keeps_the_frames_before_it(tmp_path):
    """A clip that stops decoding part way failed after the work, keeping nothing: the
    frames before the damage are written, and the error says where they are."""
    src = make_clip(tmp_path / "in.mp4", n=60, size=(96, 64), audio=False)
    data = bytearray(src.read_bytes())
    at = int(len(data) * 0.6)
    data[at:at + 300] = np.random.default_rng(0).integers(0, 256, 300, np.uint8).tobytes()
    src.write_bytes(bytes(data))
    out = tmp_path / "out.mp4"
    with pytest.raises(video.DamagedClip, match=r"after frame (\d+); the \1 frames before "
                                                 r"it were written to .*out.mp4; re-encode"):
        video.process_clip(src, out, lambda x: x, quiet=True)
    assert 0 < video.probe(out).frames < 60
    assert _no_leftovers(tmp_path)


@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".webm", ".gif"])
def test_frames_that_hold_for_different_times_keep_their_times(tmp_path, ext):
    """A GIF whose frames hold 100-300 ms (a variable rate): each frame keeps its start and
    the clip its length (every packet took one frame at the average rate, and an .mp4's
    track ended at 0.7 s of 0.9)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 256, (48, 64, 3), np.uint8)) for _ in range(6)]
    src = tmp_path / "in.gif"
    frames[0].save(src, save_all=True, append_images=frames[1:],
                   duration=[100, 100, 200, 100, 300, 100], loop=0)
    out = tmp_path / f"out{ext}"
    assert video.process_clip(src, out, lambda x: x, quiet=True) == 0
    with av.open(str(out)) as c:
        starts = [round(float(f.pts * f.time_base), 3) for f in c.decode(video=0)]
        length = c.duration / 1e6
    assert starts == [0.0, 0.1, 0.2, 0.4, 0.5, 0.8]
    assert length == pytest.approx(0.9, abs=0.011)


def test_frames_are_streamed(tmp_path):
    src = make_clip(tmp_path / "in.mp4", audio=False)
    it = video.read_frames(video.probe(src))
    first = next(it)
    assert first.rgb.shape == (48, 64, 3) and first.rgb.dtype == np.uint8
    assert sum(1 for _ in it) == 9


def test_decoding_runs_ahead_in_order_and_stops_when_closed():
    import threading

    made = []

    def items():
        for i in range(100):
            made.append(i)
            yield i

    it = video._ahead(items(), 2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "painterly-decode"]
    assert len(made) <= 5 + 2 + 1  # bounded look-ahead, then the thread let go

    def failing():
        yield 1
        yield 2
        raise video.VideoError("damaged at frame 3")

    got = []
    with pytest.raises(video.VideoError, match="frame 3"):
        for x in video._ahead(failing(), 2):
            got.append(x)
    assert got == [1, 2]  # the error comes after the frames before it


def test_frames_are_written_in_order_whatever_the_stylizer_does_to_its_output(tmp_path):
    """The encoder works beside the stylizer: a stylizer that paints every frame into the
    same tensor must still get each frame into the clip as it was returned."""
    src = make_clip(tmp_path / "in.mp4", n=10, audio=False)
    buf = torch.zeros(1, 3, 48, 64)
    seen = []

    def fn(x):
        buf.copy_(1 - x)
        return buf

    def progress(done, total, rgb):
        seen.append((done, total, rgb.shape))

    out = tmp_path / "out.mp4"
    assert video.process_clip(src, out, fn, quiet=True, progress=progress) == 0
    assert seen == [(i, 10, (48, 64, 3)) for i in range(1, 11)]
    a, b = _decoded(src), _decoded(out)
    assert max(np.abs((1 - x) - y).mean() for x, y in zip(a, b)) < 0.05


def test_a_caller_that_stops_from_progress_keeps_the_frames_handed_over(tmp_path):
    from painterly.errors import Interrupted

    src = make_clip(tmp_path / "in.mp4", n=10, audio=False)

    def progress(done, total, rgb):
        if done == 3:
            raise Interrupted()

    out = tmp_path / "out.mp4"
    assert video.process_clip(src, out, lambda x: x, quiet=True,
                              progress=progress) == video.EXIT_INTERRUPTED
    assert 3 <= video.probe(out).frames <= 3 + video.AHEAD
    assert _no_leftovers(tmp_path)
    assert video.process_clip(src, tmp_path / "none.mp4", lambda x: x, quiet=True,
                              progress=progress, partial=False) == video.EXIT_INTERRUPTED
    assert not (tmp_path / "none.mp4").exists() and _no_leftovers(tmp_path)


def test_sniffing(tmp_path):
    clip = make_clip(tmp_path / "clip.bin", audio=False)
    assert video.sniff_video(clip)
    png = save_png(stripes_image(), tmp_path / "a.png")
    assert not video.sniff_video(png)


def _bad_clips(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n")
    full = make_clip(tmp_path / "full.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full[: len(full) * 2 // 3])
    fast = make_clip(tmp_path / "fast.mp4", faststart=True).read_bytes()
    cut_fast = tmp_path / "cut_fast.mp4"
    cut_fast.write_bytes(fast[: len(fast) * 2 // 3])
    return [text, cut, cut_fast]


def test_not_a_video_or_truncated_exits_2_with_one_line_and_no_file(tmp_path, capsys):
    from painterly.cli import main

    style = save_png(stripes_image(), tmp_path / "style.png")
    for bad in _bad_clips(tmp_path):
        out = tmp_path / "out" / f"{bad.stem}.mp4"
        out.parent.mkdir(exist_ok=True)
        capsys.readouterr()
        code = main(["stylize", str(bad), str(style), "-o", str(out), "--size", "32"])
        err = capsys.readouterr().err
        assert code == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and bad.name in lines[0], err
        assert ("not a video" in lines[0]) or ("truncated" in lines[0])
        assert list(out.parent.iterdir()) == []


def test_cli_stylizes_a_clip(tmp_path, cli_env):
    src = make_clip(tmp_path / "in.mp4", n=4, rate=8)
    style = save_png(stripes_image(), tmp_path / "style.png")
    out = tmp_path / "out.mp4"
    r = run_cli(["stylize", src, style, "-o", out, "--size", 32, "--steps", 2,
                 "--frame-steps", 2, "--precision", "fp32", "-q", "--quality", "high"],
                cli_env)
    assert r.returncode == 0, r.stderr
    got = video.probe(out)
    assert (got.frames, got.rate, got.audio, got.upright_size) == (4, 8, "aac", (32, 24))
    assert _codec(out) == ("h264", "yuv444p")  # --quality reached the encoder
    assert _no_leftovers(tmp_path)


def _codec(path) -> tuple[str, str]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return cc.name, cc.pix_fmt


@pytest.mark.parametrize("ext, quality, codec, pix_fmt", [
    (".mp4", "web", "h264", "yuv420p"), (".mov", "high", "h264", "yuv444p"),
    (".webm", "high", "vp9", "yuv444p"), (".mp4", "lossless", "h264", "gbrp"),
    (".mkv", "lossless", "ffv1", "bgr0"), (".webm", "lossless", "vp9", "gbrp")])
def test_quality_chooses_the_encoder(tmp_path, ext, quality, codec, pix_fmt):
    src = make_clip(tmp_path / "in.mp4", n=5)
    out = tmp_path / f"out{ext}"
    assert video.process_clip(src, out, lambda x: 1 - x, quiet=True, quality=quality) == 0
    assert _codec(out) == (codec, pix_fmt)
    if pix_fmt.startswith("yuv"):  # the colour matrix is stated, not left to the player
        with av.open(str(out)) as c:
            cc = c.streams.video[0].codec_context
            assert (cc.colorspace, cc.color_range) == (video.BT601, video.LIMITED_RANGE)
    a, b = _decoded(src), _decoded(out)
    assert len(b) == 5
    err = max(np.abs((1 - x) - y).max() for x, y in zip(a, b))
    if quality == "lossless":  # the frames exactly as painted
        assert err < 1e-6
    else:
        assert err < 0.3
    assert _no_leftovers(tmp_path)


def test_bad_quality_exits_2_with_one_line_and_no_file(tmp_path, capsys):
    from painterly.cli import main

    src = make_clip(tmp_path / "in.mp4", n=3)
    style = save_png(stripes_image(), tmp_path / "style.png")
    for out, quality, says in (("o.mp4", "best", "not one of web, high, lossless"),
                               ("o.gif", "lossless", ".gif output cannot hold it")):
        capsys.readouterr()
        code = main(["stylize", str(src), str(style), "-o", str(tmp_path / out), "--size",
                     "32", "--quality", quality])
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "--quality" in lines[0], err
        assert says in lines[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "style.png"]


@pytest.mark.parametrize("quality", ["high", "lossless"])
def test_every_quality_writes_atomically(tmp_path, quality):
    src = make_clip(tmp_path / "in.mp4")
    seen = []

    def fn(x):
        if len(seen) == 3:
            raise RuntimeError("the stylizer failed")
        seen.append(1)
        return x

    out = tmp_path / "out.mkv"
    with pytest.raises(RuntimeError):
        video.process_clip(src, out, fn, quiet=True, quality=quality)
    assert not out.exists() and _no_leftovers(tmp_path)
    seen.clear()

    def stop(x):
        if len(seen) == 3:
            raise KeyboardInterrupt
        seen.append(1)
        return x

    assert video.process_clip(src, out, stop, quiet=True,
                              quality=quality) == video.EXIT_INTERRUPTED
    assert video.probe(out).frames == 3  # a playable clip of the frames done
    assert _no_leftovers(tmp_path)


# --- flow, occlusion, warping -----------------------------------------------------------

@pytest.mark.parametrize("method", temporal.FLOW_METHODS)
def test_flow_of_a_known_translation_is_recovered(method):
    f0, f1 = (_t(f) for f in translated_frames(2, 64, 80, dx=3, dy=2, freq=(0.1, 0.4))[:2])
    fb = temporal.optical_flow(f1, f0, method)  # current -> previous
    inner = fb[8:-8, 8:-8].reshape(-1, 2)
    assert np.median(inner[:, 0]) == pytest.approx(3, abs=0.15)
    assert np.median(inner[:, 1]) == pytest.approx(2, abs=0.15)
    warped = temporal.warp(f0, fb)
    assert float((warped - f1)[..., 8:-8, 8:-8].abs().mean()) < 0.01


def test_occlusion_mask_marks_disoccluded_pixels():
    v = 4  # a square of a finer texture (the flow can lock onto it) at rows and columns 20..43
    frames = [_t(f) for f in moving_square(2, 64, 80, v, side=24, top=20, left=20)]
    m = temporal.motion(frames[1], frames[0])
    mask = m.mask[0, 0].numpy()
    assert np.median(m.flow[24:40, 30:40, 0]) == pytest.approx(-v, abs=0.5)
    # the strip the square uncovered (x 20..23; the flow smears its edge a few pixels left)
    assert mask[24:40, 14:24].mean() < 0.5
    assert mask[:16].mean() > 0.9 and mask[48:].mean() > 0.9  # background far from it
    assert mask[24:40, 30:40].mean() > 0.9  # the square's inside, moved with it


def test_warping_error_of_a_consistent_clip_is_about_zero():
    frames = [_t(f) for f in translated_frames(6, 48, 64, dx=2, dy=1)]
    steady, _ = temporal.warping_error(frames, frames)
    rng = np.random.default_rng(0)
    flicker = [(f + float(rng.uniform(-0.1, 0.1))).clamp(0, 1) for f in frames]
    shaky, per_frame = temporal.warping_error(flicker, frames)
    assert len(per_frame) == 5
    assert steady < 2e-3
    assert shaky > 10 * steady


# --- anti-flicker -----------------------------------------------------------------------

def test_temporal_blend_steadies_a_flickering_stylizer():
    frames = [_t(f) for f in translated_frames(8, 48, 64, dx=2, dy=1)]
    mix = torch.tensor([[0.2, 0.7, 0.1], [0.5, 0.2, 0.3], [0.1, 0.3, 0.6]])

    def colour(x):  # a fixed colour transform: steady by itself
        return torch.einsum("ij,bjhw->bihw", mix, x)

    def flickering(seed):
        rng = np.random.default_rng(seed)

        def fn(x):
            return (colour(x) + float(rng.uniform(-0.08, 0.08))).clamp(0, 1)
        return fn

    fn = flickering(1)
    plain, _ = temporal.warping_error([fn(f) for f in frames], frames)
    blend = temporal.temporal_blend(flickering(1), strength=0.7)
    steadied, _ = temporal.warping_error([blend(f) for f in frames], frames)
    assert steadied < 0.5 * plain
    # a stylizer that is already steady comes out nearly unchanged
    same = temporal.temporal_blend(colour)
    outs = [same(f) for f in frames]
    assert max(float((o - colour(f)).abs().mean()) for o, f in zip(outs, frames)) < 0.01


def _square_over_still_background(n: int, v: int = 4) -> list[torch.Tensor]:
    return [_t(f) for f in moving_square(n, 64, 96, v, side=20, top=20, left=20)]


def zoomed_frames(n: int, h: int = 64, w: int = 96, rate: float = 0.97) -> list[torch.Tensor]:
    """A camera zooming in on a texture by 1/rate a frame, about the frame's centre."""
    big = _t(texture(2 * h, 2 * w, seed=5, freq=(0.1, 0.4)))
    out = []
    for t in range(n):
        s = rate ** t
        xs = (torch.arange(w) - (w - 1) / 2) * s + (2 * w - 1) / 2
        ys = (torch.arange(h) - (h - 1) / 2) * s + (2 * h - 1) / 2
        gy, gx = torch.meshgrid(ys / (2 * h - 1) * 2 - 1, xs / (2 * w - 1) * 2 - 1,
                                indexing="ij")
        grid = torch.stack([gx, gy], -1)[None].float()
        out.append(torch.nn.functional.grid_sample(big, grid, align_corners=True))
    return out


def test_camera_motion_follows_pans_and_zooms_not_a_moving_object():
    pan = [_t(f) for f in translated_frames(2, 64, 96, dx=3, dy=2, freq=(0.1, 0.4))]
    cam = temporal.camera_motion(pan[1], pan[0])  # content moves by (-3, -2)
    assert cam.scale == pytest.approx(1, abs=0.005)
    assert cam.shift == (pytest.approx(3, abs=0.2), pytest.approx(2, abs=0.2))
    still = _square_over_still_background(2)
    cam = temporal.camera_motion(still[1], still[0])
    assert cam.scale == pytest.approx(1, abs=0.002)
    for x, y in ((0, 0), (95, 0), (0, 63), (95, 63)):  # the camera's motion: below 0.2 px
        assert abs((cam.scale - 1) * x + cam.shift[0]) < 0.2
        assert abs((cam.scale - 1) * y + cam.shift[1]) < 0.2
    big = [torch.nn.functional.interpolate(f, scale_factor=6, mode="bilinear") for f in pan]
    cam = temporal.camera_motion(big[1], big[0])  # found on a shrunk copy, in full pixels
    assert cam.shift == (pytest.approx(18, abs=1.0), pytest.approx(12, abs=1.0))
    zoom = zoomed_frames(2)
    cam = temporal.camera_motion(zoom[1], zoom[0])
    assert cam.scale == pytest.approx(0.97, abs=0.006)
    centre = cam.scale * 47.5 + cam.shift[0], cam.scale * 31.5 + cam.shift[1]
    assert centre == (pytest.approx(47.5, abs=0.5), pytest.approx(31.5, abs=0.5))


def test_locked_blend_leaves_what_moves_with_the_camera_and_steadies_the_rest():
    rng = np.random.default_rng(2)

    def flickering(x):
        return (x * 0.8 + float(rng.uniform(-0.08, 0.08))).clamp(0, 1)

    seen = []
    follow = {"prev": None, "camera": temporal.Camera()}

    def recorded(x):  # a stylizer that follows the camera, as a grid-locked network does
        if follow["prev"] is not None:
            follow["camera"] = temporal.camera_motion(x, follow["prev"])
        follow["prev"] = x
        seen.append(flickering(x))
        return seen[-1]

    pan = [_t(f) for f in translated_frames(5, 64, 96, dx=3, dy=2, freq=(0.1, 0.4))]
    locked = temporal.temporal_blend(recorded, 0.7, camera=lambda: follow["camera"])
    outs = [locked(f) for f in pan]
    for o, raw in zip(outs, seen):  # a pure pan: nothing moves apart from the camera
        assert float((o - raw).abs()[..., 8:-8, 8:-8].mean()) < 0.005
    for clip in (pan, zoomed_frames(5)):  # on a zoom the flow's own error blends nothing
        locked.reset()
        follow["prev"] = None
        seen.clear()
        outs = [locked(f) for f in clip]
        for o, raw in zip(outs, seen):
            assert float((o - raw).abs()[..., 8:-8, 8:-8].mean()) < 0.001
    seen.clear()
    frames = _square_over_still_background(5)
    outs = [locked(f) for f in frames]
    moved = [float((o - raw)[..., 24:36, 30:40].abs().mean()) for o, raw in zip(outs, seen)]
    still = [float((o - raw)[..., 48:, :].abs().mean()) for o, raw in zip(outs, seen)]
    assert max(still) < 0.005  # the background stays as the stylizer made it
    assert max(moved[1:]) > 0.02  # the moving square is blended with its past


def test_fine_band_is_zero_on_flat_and_sloping_pictures():
    flat = torch.full((1, 3, 12, 16), 0.4)
    assert float(temporal.fine_band(flat).abs().max()) < 1e-6
    ramp = torch.linspace(0, 1, 16).expand(1, 3, 12, 16)
    assert float(temporal.fine_band(ramp)[..., 1:-1, 1:-1].abs().max()) < 1e-6
    noise = torch.rand(1, 3, 12, 16, generator=torch.Generator().manual_seed(0))
    assert float(temporal.fine_band(noise).pow(2).mean()) > 0.3 * float(noise.var())


@pytest.mark.parametrize("keep", [False, True])
def test_locked_blend_keeps_the_strokes_energy_where_it_mixes_two_patterns(keep):
    """A moving square painted with new strokes every frame: mixing two unrelated stroke
    patterns halves their energy; the blend that keeps detail scales it back."""
    gen = torch.Generator().manual_seed(0)
    seen, follow = [], {"prev": None, "camera": temporal.Camera()}

    def strokes(x):  # a stylizer following the camera, with fresh fine strokes each frame
        if follow["prev"] is not None:
            follow["camera"] = temporal.camera_motion(x, follow["prev"])
        follow["prev"] = x
        seen.append((x * 0.8 + 0.1 + 0.05 * torch.randn(x.shape, generator=gen)).clamp(0, 1))
        return seen[-1]

    blend = temporal.temporal_blend(strokes, 0.5, camera=lambda: follow["camera"],
                                    warp_mode="bicubic", keep_detail=keep)
    outs = [blend(f) for f in _square_over_still_background(6)]
    inside = (..., slice(26, 36), slice(34, 44))  # on the square in every frame
    ratio = [float(temporal.fine_band(o)[inside].pow(2).mean()
                   / temporal.fine_band(r)[inside].pow(2).mean())
             for o, r in zip(outs[1:], seen[1:])]
    moved = [float((o - r)[inside].abs().mean()) for o, r in zip(outs[1:], seen[1:])]
    assert min(moved) > 0.005  # blended in every frame
    if keep:
        assert 0.85 < float(np.median(ratio)) < 1.2, ratio
    else:
        assert float(np.median(ratio)) < 0.7, ratio
    still = [float((o - r)[..., 48:, :].abs().mean()) for o, r in zip(outs, seen)]
    assert max(still) < 0.005  # what moves with the camera is left as painted


def _whole_frame_locked_blend(now, before, out, prev_out, cam, strength, sigma=0.1):
    """The locked blend's rule computed at every pixel (the reference of the sparse one):
    the whole-frame blend's, with the colour check alone standing for the forward-backward
    one, and only where the flow lands inside the previous frame."""
    m = temporal.motion(now, before, "dis", temporal.FLOW_SIDE)
    apart = temporal.apart_from_camera(m.flow, cam)
    lift = ((apart - temporal.LOCK_FREE) / temporal.LOCK_TOL).clamp(0.0, 1.0)
    h, w = now.shape[-2:]
    f = torch.as_tensor(m.flow)
    px = torch.arange(w).float() + f[..., 0]
    py = torch.arange(h).float()[:, None] + f[..., 1]
    inside = ((px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)).float()
    conf = inside * (m.photo <= temporal.PHOTO_TOL).float() * torch.exp(-m.photo / sigma ** 2)
    conf = conf * lift
    carried = temporal.warp(prev_out, m.flow, "bicubic").clamp_(0, 1)
    return out + strength * conf * (carried - out)


def test_locked_blend_touches_only_what_moves_apart_and_matches_the_whole_frame_blend():
    rng = np.random.default_rng(3)
    square = _square_over_still_background(3)
    big = [torch.nn.functional.interpolate(f, scale_factor=6, mode="bilinear")  # shrunk for
           for f in square]                                                   # the flow
    pan = [_t(f) for f in translated_frames(3, 64, 96, dx=3, dy=2, freq=(0.1, 0.4))]
    for clip in (square, big, pan, zoomed_frames(3)):
        blend = temporal.temporal_blend(lambda x: x, 0.7, camera=lambda: None, warp_mode="bicubic",
                                        flow_side=temporal.FLOW_SIDE)
        for before, now in zip(clip, clip[1:]):
            cam = temporal.camera_motion(now, before)
            out = (now * 0.8 + float(rng.uniform(-0.1, 0.1))).clamp(0, 1)
            blend._prev_in = before
            blend._prev_out = (before * 0.8 + float(rng.uniform(-0.1, 0.1))).clamp(0, 1)
            whole = _whole_frame_locked_blend(now, before, out, blend._prev_out, cam, 0.7)
            sparse = blend._blend_apart(now, out, cam)
            assert torch.allclose(sparse, whole, atol=1e-5)
            bare = temporal.Camera(cam.scale, cam.shift)  # given without its flow: found again
            assert torch.equal(blend._blend_apart(now, out, bare), sparse)
            if clip is square:
                assert float((sparse - out).abs().amax()) > 0.02  # the square was blended


def test_temporal_loss_counts_only_visible_pixels():
    x = torch.zeros(1, 3, 8, 8)
    warped = torch.ones(1, 3, 8, 8)
    mask = torch.zeros(1, 1, 8, 8)
    assert float(temporal.temporal_loss(x, warped, mask)) == 0.0
    mask[..., :4] = 1
    assert float(temporal.temporal_loss(x, warped, mask)) == pytest.approx(0.5)
    big = torch.zeros(1, 3, 16, 16)  # a coarser or finer scale: resized to the image
    assert float(temporal.temporal_loss(big, warped, mask)) == pytest.approx(0.5, abs=0.1)


def test_engine_adds_the_extra_loss(tiny_weights):
    from painterly import vgg, weights

    content = _t(translated_frames(1, 32, 32)[0])
    style = _t(stripes_image(32, 32))
    target = torch.full_like(content, 0.5)
    net = vgg.build(weights.load_weights(tiny_weights), ["relu1_1", "relu2_1", "relu4_2"])
    opts = Options(size=32, steps=8, scales=1, precision="fp32", style_layers=["relu1_1",
                   "relu2_1"], optimizer="adam", lr=0.05)
    seen = []
    out = engine.run(content, [style], opts, net, callback=lambda p: seen.append(p.losses),
                     extra_loss=lambda x: 1e4 * temporal.temporal_loss(
                         x, target, torch.ones(1, 1, 32, 32)))
    plain = engine.run(content, [style], opts, net)
    assert "extra" in seen[-1] and seen[-1]["extra"] < seen[0]["extra"]
    assert float((out - target).abs().mean()) < 0.5 * float((plain - target).abs().mean())


def test_every_quality_has_its_encoders():
    import dataclasses

    from painterly.config import ClipOutput

    (field,) = [f for f in dataclasses.fields(ClipOutput) if f.name == "quality"]
    assert tuple(video.ENCODERS) == field.metadata["choices"]
    assert set(video.ENCODERS["web"]) == set(video.OUTPUT_FORMATS.values())


def test_the_blend_takes_the_fine_band_over_its_pixels_only_with_the_same_numbers():
    from painterly.temporal import _band_at, _sample, fine_band

    g = torch.Generator().manual_seed(0)
    img = torch.rand(1, 3, 60, 90, generator=g)
    ys, xs = torch.randint(0, 60, (50,), generator=g), torch.randint(20, 40, (50,), generator=g)
    ys = torch.cat([ys, torch.tensor([0, 59, 0, 59])])
    xs = torch.cat([xs, torch.tensor([0, 89, 89, 0])])
    torch.testing.assert_close(_band_at(img, ys, xs), fine_band(img)[0, :, ys, xs],
                               atol=1e-6, rtol=0)  # the corners' repeated edges included
    for lo, span in ((-5.0, 100.0), (20.0, 20.0)):  # past the borders, and inside
        py, px = torch.rand(50, generator=g) * span + lo, torch.rand(50, generator=g) * 20 + 30
        torch.testing.assert_close(_band_at(img, py, px, "bicubic"),
                                   _sample(fine_band(img), px, py, "bicubic"),
                                   atol=1e-5, rtol=0)


@pytest.mark.parametrize("name, needle", [
    (".mp4", "the name has no video extension; name the clip like out.mp4"),
    ("out", "the name has no video extension"), ("out.avi", "unknown video output type '.avi'")])
def test_a_clip_output_without_a_video_name_says_what_to_give(tmp_path, name, needle):
    with pytest.raises(video.VideoError, match=re.escape(needle)):
        video.check_output(tmp_path / name)


def test_an_avi_with_a_dropped_frame_is_not_taken_for_a_truncated_one(tmp_path):
    """An AVI whose muxer declared a dropped (empty) frame: 9 declared, 8 with data, and
    every one up to the end there (it was refused as '8 of 9 frames present')."""
    p = tmp_path / "in.avi"
    with av.open(str(p), "w") as c:
        v = c.add_stream("mpeg4", rate=24)
        v.width, v.height, v.pix_fmt = 96, 64, "yuv420p"
        a = c.add_stream("libmp3lame", rate=48000)
        a.layout = "stereo"
        rng = np.random.default_rng(0)
        for _ in range(8):
            f = av.VideoFrame.from_ndarray(rng.integers(0, 256, (64, 96, 3), np.uint8), "rgb24")
            c.mux(v.encode(f))
        c.mux(v.encode(None))
        for s in range(0, 16000, 1152):
            af = av.AudioFrame.from_ndarray(np.zeros((2, 1152), np.float32), format="fltp",
                                            layout="stereo")
            af.sample_rate, af.pts = 48000, s
            c.mux(a.encode(af))
        c.mux(a.encode(None))
    with av.open(str(p)) as c:
        assert c.streams.video[0].frames == 9  # the case: one declared frame has no data
    info = video.probe(p)
    assert info.frames == 8 and info.duration == pytest.approx(9 / 24, abs=0.01)
    cut = tmp_path / "cut.avi"  # the same file cut short is still refused
    cut.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(video.VideoError, match="truncated"):
        video.probe(cut)


@pytest.mark.parametrize("ext, quality, size", [
    (".mkv", "lossless", (63, 47)), (".mp4", "high", (63, 47)), (".mp4", "web", (62, 46))])
def test_odd_sides_are_kept_where_the_encoder_takes_them(tmp_path, ext, quality, size):
    """4:2:0 needs even sides; RGB and 4:4:4 (lossless: the frames exactly) keep odd ones
    (every frame was resampled a pixel smaller)."""
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    out = tmp_path / f"out{ext}"
    assert video.process_clip(src, out, lambda x: x, longest=63, quiet=True,
                              quality=quality) == 0
    assert video.probe(out).upright_size == size


def test_an_animation_clip_gets_the_permissions_of_any_other_file(tmp_path):
    pytest.importorskip("av")
    frames = [np.full((24, 32, 3), v, np.uint8) for v in (0, 128, 255)]
    video.write_mp4(frames, tmp_path / "a.mp4", 10)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.mp4").stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]


@pytest.mark.parametrize("how", ["stylize", "stylize --method fast", "apply"])
def test_a_clip_without_opencv_stops_before_any_frame_with_one_line(tmp_path, monkeypatch,
                                                                     capsys, tiny, how):
    """OpenCV comes with PyAV in painterly[video]; a Python with PyAV only is told what to
    install before the first frame, not shown cv2's traceback part way through the clip."""
    from painterly.cli import main

    from .test_nets import tiny_model

    monkeypatch.setenv("PAINTERLY_WEIGHTS", tiny)
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 fails
    src = make_clip(tmp_path / "in.mp4", n=3, audio=False)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "out.mp4"
    style = save_png(stripes_image(), tmp_path / "style.png")
    if how == "apply":
        args = ["apply", str(tiny_model(tmp_path / "m.safetensors")), str(src)]
    else:
        args = ["stylize", str(src), str(style), *how.split()[1:]]
    code = main([*args, "-o", str(out), "--size", "32", "--precision", "fp32", "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "pip install 'painterly[video]'" in err, err
    assert list(out_dir.iterdir()) == []
