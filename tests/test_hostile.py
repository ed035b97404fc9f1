"""Hostile inputs and faults over every command, run in-process: each case must end with exit
status 2 and one line naming the file, no traceback, no input changed and nothing
half-written.  Files are generated here (a bomb header, FIFOs, damaged model files ...)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import signal
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly import cli
from painterly.errors import ImageError
from painterly.network.modelfile import FORMAT, FORMAT_VERSION, _digest, encode, save_model
from painterly.network.transform import Arch, TransformNet

from .conftest import gradient_image, save_png, stripes_image


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(w: int, h: int) -> bytes:
    """A PNG whose header claims ``w`` x ``h`` pixels (a decompression bomb's header)."""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def model_bytes(arch: Arch = Arch(4, 1, 2), state=None, meta=None, extra=None) -> bytes:
    torch.manual_seed(0)
    net = TransformNet(arch)
    return encode(state if state is not None else net, arch,
                  meta or {"style": {"name": "s.png"}, "steps": 0}, extra)


def resigned(tensors: dict, meta: dict) -> bytes:
    """A model file written by hand, its checksum made to fit (a careful tamperer)."""
    from safetensors.torch import save

    text = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, **meta},
                      sort_keys=True)
    return save(tensors, metadata={"painterly": text, "sha256": _digest(text, tensors)})


@pytest.fixture()
def w(tmp_path, tiny_weights, monkeypatch) -> dict[str, Path]:
    """A working folder of good and hostile files."""
    monkeypatch.setenv("PAINTERLY_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    f = {"content": save_png(gradient_image(), tmp_path / "content.png"),
         "style": save_png(stripes_image(), tmp_path / "style.png"),
         "dir": tmp_path / "adir", "photos": tmp_path / "photos"}
    f["dir"].mkdir()
    f["photos"].mkdir()
    for i in range(6):
        save_png(gradient_image(48, 40, seed=i), f["photos"] / f"p{i}.png")
    raw = {"empty.png": b"", "text.png": b"hello, not an image\n",
           "bomb.png": png_header(100_000, 100_000),
           "trunc.png": f["content"].read_bytes()[:300],
           "model.safetensors": model_bytes(), "empty.safetensors": b"",
           "graph.onnx": b"\x08\x07\x12\x07pytorch\x1a\x052.0.0" + b"\x00" * 64,
           "onnx.safetensors": b"\x08\x07\x12\x07pytorch" + b"\x00" * 64,
           "text.safetensors": b"just some notes\n" * 4,
           "huge_header.safetensors": struct.pack("<Q", 2 ** 40) + b"{" + b" " * 64}
    for name, data in raw.items():
        (tmp_path / name).write_bytes(data)
        f[name] = tmp_path / name
    f["M"] = f["model.safetensors"]
    good = f["model.safetensors"].read_bytes()
    f["truncated.safetensors"] = tmp_path / "truncated.safetensors"
    f["truncated.safetensors"].write_bytes(good[:-100])
    Image.new("RGB", (1, 1), "red").save(tmp_path / "dot.png")
    f["dot.png"] = tmp_path / "dot.png"
    Image.new("RGB", (4, 4)).save(tmp_path / "m.png")
    f["png.safetensors"] = tmp_path / "m.png"
    with zipfile.ZipFile(tmp_path / "archive.pt", "w") as z:
        z.writestr("data.pkl", b"x")
    f["zip"] = tmp_path / "archive.pt"
    a = Arch(4, 1, 2)
    state = {f"net.{k}": v.float() for k, v in TransformNet(a).state_dict().items()}
    nan_state = {k: torch.full_like(v, float("nan")) for k, v in state.items()}
    int_state = {k: v.to(torch.int64) for k, v in state.items()}
    f["nan.safetensors"] = tmp_path / "nan.safetensors"
    f["nan.safetensors"].write_bytes(resigned(nan_state, {"arch": a.to_dict(), "steps": 1}))
    f["int.safetensors"] = tmp_path / "int.safetensors"
    f["int.safetensors"].write_bytes(resigned(int_state, {"arch": a.to_dict(), "steps": 1}))
    if hasattr(os, "mkfifo"):
        for name in ("fifo.png", "fifo.safetensors", "fifo.mp4"):
            os.mkfifo(tmp_path / name)
            f[name] = tmp_path / name
    f["loop.png"] = tmp_path / "loop.png"
    os.symlink("loop.png", f["loop.png"])
    return f


def snapshot(folder: Path) -> dict[str, str]:
    """Every regular file under ``folder`` and its digest (FIFOs and links left alone)."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink() or not p.is_file() or "cache" in p.parts:
            continue
        out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@pytest.fixture()
def alarm():
    """Fail instead of hanging (a FIFO opened for reading blocks)."""
    def ring(*_):
        raise AssertionError("the command hung")

    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


M = "model.safetensors"
CASES = [  # (command line with {file} names, words the error line must hold)
    # stylize: special, damaged and tiny inputs
    ("stylize {fifo.png} {style} -o out.png", "fifo.png: not a regular file"),
    ("stylize {content} {fifo.png} -o out.png", "fifo.png: not a regular file"),
    ("stylize /dev/zero {style} -o out.png", "/dev/zero: not a regular file"),
    ("stylize {bomb.png} {style} -o out.png", "bomb.png"),
    ("stylize {content} {bomb.png} -o out.png", "too many pixels"),
    ("stylize {loop.png} {style} -o out.png", "loop.png"),
    ("stylize {empty.png} {style} -o out.png", "empty"),
    ("stylize {content} {dir} -o out.png", "is a directory"),
    ("stylize {content} {dot.png} -o out.png", "too small to carry a style"),
    ("stylize {dot.png} {style} -o out.png", "too small to stylize"),
    ("stylize " + "x" * 300 + ".png {style} -o out.png", "xxx"),
    # stylize: outputs
    ("stylize {content} {style} -o {content}", "is the input"),
    ("stylize {content} {style} -o {style}", "is the input"),
    ("stylize {content} {style} -o {dir}", "is a folder; give an image file name"),
    ("stylize {content} {style} -o nodir/out.png", "does not exist"),
    ("stylize {content} {style} -o out", "no file type"),
    ("stylize {content} {style} -o out.png --log {content}", "is the input"),
    # stylize: options
    ("stylize {content} {style} -o out.png --sizee 64", "did you mean --size"),
    ("stylize {content} {style} -o out.png --size nan", "--size"),
    ("stylize {content} {style} -o out.png --size -5", "below the minimum"),
    ("stylize {content} {style} -o out.png --size 1e12", "above the maximum"),
    ("stylize {content} {style} -o out.png --style-weight inf", "not a finite"),
    ("stylize {content} {style} -o out.png --device gpu", "--device"),
    ("stylzie {content} {style} -o out.png", "did you mean 'stylize'"),
    # sweep
    ("sweep {content} {style} -o {content} --vary size=32,48", "not a folder"),
    ("sweep {fifo.png} {style} -o sw --vary size=32,48", "not a regular file"),
    ("sweep {content} {style} -o sw --vary sizee=32,48", "did you mean"),
    ("sweep {content} {style} -o sw --vary size=32,nan", "finite"),
    # apply: model files
    ("apply {fifo.safetensors} {content} -o out.png", "not a regular file"),
    ("apply /dev/zero {content} -o out.png", "not a regular file"),
    ("apply {dir} {content} -o out.png", "is a directory"),
    ("apply {graph.onnx} {content} -o out.png", "an ONNX graph"),
    ("apply {onnx.safetensors} {content} -o out.png", "an ONNX graph"),
    ("apply {png.safetensors} {content} -o out.png", "a PNG image"),
    ("apply {zip} {content} -o out.png", "a zip archive"),
    ("apply {text.safetensors} {content} -o out.png", "a text file"),
    ("apply {empty.safetensors} {content} -o out.png", "empty"),
    ("apply {huge_header.safetensors} {content} -o out.png", "header claims"),
    ("apply {truncated.safetensors} {content} -o out.png", "truncated"),
    ("apply {nan.safetensors} {content} -o out.png", "NaN"),
    ("apply {int.safetensors} {content} -o out.png", "floating point"),
    ("apply nothere.safetensors {content} -o out.png", "no such model file"),
    # apply: inputs and outputs
    ("apply {M} {content} -o {content}", "is the input"),
    ("apply {M} {content} -o {M}", "is the input"),
    ("apply {M} {photos} -o {photos}", "input folder"),
    ("apply {M} {photos} {content} -o {photos}", "input folder"),
    ("apply {M} {photos}/p0.png -o {photos}/p0.png", "is the input"),
    ("apply {M} {content} -o out.bmp", "unknown output type"),
    ("apply {M} {fifo.png} -o out.png", "not a regular file"),
    ("apply {M} {bomb.png} -o out.png", "bomb.png"),
    ("apply {M} {trunc.png} -o out.png", "trunc.png"),
    ("apply {M} {dir} -o outs", "no images"),
    ("apply {M} {content} -o {dir}/x.bmpx", "unknown output type"),
    ("apply {M} {content} -o out.png --strength nan", "--strength"),
    ("apply {M} {content} -o out.png --sise 64", "did you mean --size"),
    # train
    ("train {style} --photos {photos} -o {style}", "is the input"),
    ("train {style} --photos {content} -o m.safetensors", "not a folder"),
    ("train {style} --photos {photos} -o {photos}/m.safetensors", "input folder"),
    ("train {style} --photos {photos} -o m.safetensors --previews {content}", "is a file"),
    ("train {style} --photos {photos} -o m.safetensors --previews {photos}", "photo folder"),
    ("train {style} --photos {photos} -o m.safetensors --resume", "no checkpoint"),
    ("train {dot.png} --photos {photos} -o m.safetensors --holdout 1", "too small"),
    ("train {fifo.png} --photos {photos} -o m.safetensors --holdout 1", "not a regular"),
    ("train {style} --photos {dir} -o m.safetensors", "no images"),
    ("train {style} --photos {photos} -o m.safetensors --lr nan", "--lr"),
    ("train {style} --photos {photos} -o m.safetensors --stpes 3", "did you mean --steps"),
    ("train {style} --photos {photos} -o nodir/m.safetensors", "does not exist"),
    # a model file's name ends in .safetensors (any other was taken)
    ("train {style} --photos {photos} -o noext", "ends in .safetensors"),
    ("train {style} --photos {photos} -o x.pt", "ends in .safetensors"),
    ("train {style} --photos {photos} -o x.png", "ends in .safetensors"),
    ("train-fast --photos {photos} -o noext", "ends in .safetensors"),
    ("train-fast --photos {photos} -o x.pt", "ends in .safetensors"),
    # export, weights, clips
    ("export {fifo.safetensors} -o g.onnx", "not a regular file"),
    ("export {graph.onnx} -o g2.onnx", "an ONNX graph"),
    ("export {M} -o {M}", ".onnx"),
    ("export {M} -o nodir/g.onnx", "does not exist"),
    ("weights --check {fifo.png}", "not a regular file"),
    ("weights --check {dir}", "directory"),
    ("weights --check {text.png}", "text.png"),
    ("stylize {fifo.mp4} {style} -o out.mp4", "fifo.mp4"),
    ("apply {M} {fifo.mp4} -o out.mp4", "fifo.mp4"),
    ("serve --port 99999", "--port"),
]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("line,words", CASES, ids=[c[0][:60] for c in CASES])
def test_hostile_input_is_one_line_and_changes_nothing(line, words, w, tmp_path, capsys,
                                                       alarm):
    if ".mp4" in line:  # without PyAV the clip is refused first, for that reason
        pytest.importorskip("av")
    args = re.sub(r"\{([^}]+)\}", lambda m: str(w[m[1]]), line).split()
    before = snapshot(tmp_path)
    code = cli.main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, (args, err)
    assert len(err) == 1 and err[0].startswith("painterly: error:"), err
    assert words in err[0], err
    assert snapshot(tmp_path) == before, "a file was written or changed"
    leftovers = [p.name for p in tmp_path.rglob("*") if p.suffix == ".part"]
    assert not leftovers


# --- targeted cases ------------------------------------------------------------------------

def test_interrupted_stylize_keeps_the_earlier_result(w, tmp_path, capsys, monkeypatch):
    from painterly import methods
    from painterly.errors import Interrupted

    class Stopped:
        def __init__(self, *a, **k):
            pass

        def picture(self, *a, **k):
            raise Interrupted(Image.new("RGB", (40, 32), "blue"))

    good = tmp_path / "good.png"
    Image.new("RGB", (40, 32), "red").save(good)
    before = good.read_bytes()
    monkeypatch.setattr(methods, "for_options", Stopped)
    args = ["stylize", str(w["content"]), str(w["style"]), "-o", str(good), "-q", "--log",
            str(tmp_path / "log.csv")]
    assert cli.main(args) == 2 and good.read_bytes() == before  # not replaced unasked
    code = cli.main([*args, "--overwrite"])  # asked: only a finished run replaces it
    err = capsys.readouterr().err
    assert code == 130 and good.read_bytes() == before
    beside = tmp_path / "good.interrupted.png"
    assert Image.open(beside).getpixel((0, 0)) == (0, 0, 255)
    assert "good.interrupted.png" in err and "is kept" in err
    assert not (tmp_path / "log.csv").exists()  # stopped before its first step: no log
    # a second stop keeps the first one's picture too
    assert cli.main([*args, "--overwrite"]) == 130
    assert beside.exists() and (tmp_path / "good.interrupted-2.png").exists()
    assert not (tmp_path / "log.interrupted.csv").exists()
    # with nothing there before, the interrupted image goes to the name given
    code = cli.main(["stylize", str(w["content"]), str(w["style"]), "-o",
                     str(tmp_path / "new.png"), "-q"])
    assert code == 130 and (tmp_path / "new.png").exists()


def test_content_enlarged_a_lot_gets_a_note(w, tmp_path, capsys, monkeypatch):
    from painterly import methods

    class Fake:
        def __init__(self, *a, **k):
            pass

        def picture(self, *a, **k):
            return Image.new("RGB", (64, 64))

    monkeypatch.setattr(methods, "for_options", Fake)
    small = save_png(gradient_image(8, 8), tmp_path / "small.png")
    assert cli.main(["stylize", str(small), str(w["style"]), "-o", str(tmp_path / "o.png"),
                     "--size", "64"]) == 0
    assert "note: " in capsys.readouterr().err


@pytest.mark.parametrize("name", ["moving.webp", "pages.tif"])
def test_a_file_of_several_frames_is_painted_from_its_first_with_a_note(
        name, w, tmp_path, capsys, monkeypatch):
    from painterly import methods
    from painterly.images import load_image

    frames = [Image.new("RGB", (48, 40), (40 + 80 * i, 90, 200 - 60 * i)) for i in range(3)]
    path = tmp_path / name
    frames[0].save(path, save_all=True, append_images=frames[1:])
    img = load_image(path)
    assert img.frames == 3 and np.allclose(img.rgb[0, 0] * 255, (40, 90, 200), atol=3)
    assert load_image(w["style"]).frames == 1

    seen = []

    class Fake:
        def __init__(self, *a, **k):
            pass

        def picture(self, content, *a, **k):
            seen.append(content)
            return Image.new("RGB", (48, 40))

    monkeypatch.setattr(methods, "for_options", Fake)
    for args, painted in (([path, w["style"]], True), ([w["content"], path], False)):
        out = tmp_path / f"o{len(seen)}.png"
        assert cli.main(["stylize", *map(str, args), "-o", str(out), "--size", "48"]) == 0
        err = capsys.readouterr().err
        assert f"note: {path} holds 3 frames; the first alone is used" in err
        assert ("to paint every frame, give it as a clip" in err) == painted  # not a style's
        assert out.exists()
    assert cli.main(["stylize", str(w["content"]), str(w["style"]), "-o",
                     str(tmp_path / "plain.png"), "--size", "48"]) == 0
    assert "the first alone is used" not in capsys.readouterr().err
    a = Arch(4, 1, 2)  # apply warns as well
    model = save_model(tmp_path / "m.safetensors", TransformNet(a), a, {"steps": 1})
    assert cli.main(["apply", str(model), str(path), "-o", str(tmp_path / "net.png")]) == 0
    assert f"warning: {path} holds 3 frames" in capsys.readouterr().err
    assert (tmp_path / "net.png").exists()


def test_animation_frames_are_held_at_most_animation_side(w, tmp_path, monkeypatch):
    """--animate holds its frames until the end: at most ANIMATION_SIDE px each (at 8192 px,
    60 frames would hold 9 GB), the picture itself at its --size."""
    from painterly import render

    monkeypatch.setattr(render, "ANIMATION_SIDE", 24)
    out, gif = tmp_path / "o.png", tmp_path / "a.gif"
    assert cli.main(["stylize", str(w["content"]), str(w["style"]), "-o", str(out), "--size",
                     "40", "--steps", "3", "--animate", str(gif), "-q"]) == 0
    with Image.open(out) as im, Image.open(gif) as anim:
        assert max(im.size) == 40 and max(anim.size) == 24 and anim.n_frames >= 2


def test_python_api_speaks_keywords():
    import painterly
    from painterly.errors import UsageError

    img = gradient_image()
    for kw, words in [({"size": -5}, "size=-5 is below the minimum 16"),
                      ({"sizee": 64}, "unknown keyword 'sizee' (did you mean 'size'?)"),
                      ({"style_layer_weights": [1.0]}, "style_layer_weights: 1 weights"),
                      ({"device": "gpu"}, "device: 'gpu'")]:
        with pytest.raises(UsageError) as e:
            painterly.stylize(img, stripes_image(), **kw)
        assert words in str(e.value) and "--" not in str(e.value), str(e.value)
    with pytest.raises(UsageError, match="size=2 is below"):
        painterly.Options().replace(size=2)


def test_python_api_takes_one_style_mask_as_a_path_and_names_a_tuple(tmp_path, tiny_weights):
    """A plain string for style_masks was taken letter by letter ('10 mask(s) for 1 style');
    a tuple of weights was 'expects list[float]', which a tuple of floats looks like."""
    import painterly
    from painterly.errors import UsageError

    mask = save_png(np.ones((16, 16, 3), np.float32), tmp_path / "m.png")
    img, style = gradient_image(24, 24), stripes_image(24, 24)
    out = painterly.stylize(img, style, size=24, steps=1, scales=1, weights=str(tiny_weights),
                            style_masks=str(mask))
    assert out.size == (24, 24)
    opts = painterly.Options(size=24, steps=1, style_blend_weights=(1.0, 2.0))
    with pytest.raises(UsageError, match=r"expects a list, got the tuple \(1.0, 2.0\)"):
        painterly.stylize(img, [style, style], opts, weights=str(tiny_weights))


def _truncated_photo(path: Path) -> Path:
    """A PNG whose header is fine and whose pixel data is cut short."""
    data = save_png(gradient_image(48, 40, seed=9), path).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def test_apply_skips_damaged_photos_in_a_folder(w, tmp_path, capsys):
    photos = w["photos"]
    _truncated_photo(photos / "late.png")  # found damaged only when decoded
    (photos / "notes.png").write_text("not an image")  # found damaged from its header
    code = cli.main(["apply", str(w[M]), str(photos), "-o", str(tmp_path / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"p{i}.png" for i in range(6)]
    assert "late.png" in err and "notes.png" in err and "skipped 2 damaged" in err
    assert "Traceback" not in err


def test_apply_tells_pictures_too_small_to_paint_from_damaged_ones(w, tmp_path, capsys):
    """A whole picture too thin to paint at --size was counted as a damaged file in the
    closing line ("skipped 1 damaged file"), and a folder of only such pictures ended with
    "no image could be read"."""
    photos = w["photos"]
    _truncated_photo(photos / "late.png")
    save_png(gradient_image(200, 8), photos / "thin.png")
    code = cli.main(["apply", str(w[M]), str(photos), "-o", str(tmp_path / "out"), "--size",
                     "48", "-q"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.strip().splitlines()[-1].endswith(
        "; skipped 1 damaged file and 1 too small to paint"), err
    thin = tmp_path / "thin"
    thin.mkdir()
    save_png(gradient_image(200, 8), thin / "a.png")
    code = cli.main(["apply", str(w[M]), str(thin), "-o", str(tmp_path / "o2"), "--size",
                     "48", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "no image could be painted; nothing written" in err, err


def test_apply_to_a_file_not_named_as_an_image_says_so(w, tmp_path, capsys):
    """One picture with -o naming a text file that is there said "1 inputs need an output
    folder, not an image file"."""
    notes = tmp_path / "notes.txt"
    notes.write_text("kept")
    code = cli.main(["apply", str(w[M]), str(w["content"]), "-o", str(notes)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "not named as an image; give a name ending in one of" in err[0], err
    assert notes.read_text() == "kept"


def test_apply_of_one_picture_given_twice_says_so(w, tmp_path, capsys):
    """A picture named twice, or named beside its folder, was told "X and X would both be
    written to out/X; apply them separately"."""
    photos = w["photos"]
    for inputs in ([photos / "p0.png", photos / "p0.png"], [photos, photos / "p1.png"]):
        code = cli.main(["apply", str(w[M]), *map(str, inputs), "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "is given twice" in err[0], err
        assert not (tmp_path / "out").exists()
    (tmp_path / "b").mkdir()
    save_png(gradient_image(), tmp_path / "b" / "p0.png")  # another picture of that name
    code = cli.main(["apply", str(w[M]), str(photos / "p0.png"), str(tmp_path / "b" / "p0.png"),
                     "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "would both be written to" in err, err


def test_apply_of_named_pictures_says_which_could_not_be_painted(w, tmp_path, capsys):
    """A file named on the command line that turns out damaged (or too thin at --size) is
    not a folder's stray file: the others are written, and the run exits 2 naming it."""
    bad = _truncated_photo(tmp_path / "b.png")
    save_png(gradient_image(200, 8), tmp_path / "thin.png")
    out = tmp_path / "out"
    code = cli.main(["apply", str(w[M]), str(w["photos"] / "p0.png"), str(bad),
                     str(tmp_path / "thin.png"), "-o", str(out), "--size", "48", "-q"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert sorted(p.name for p in out.iterdir()) == ["p0.png"]
    assert "b.png and 1 more: could not be painted" in err and "would be 48x2" in err
    assert "Traceback" not in err


def test_a_long_thin_picture_is_refused_at_a_size_that_leaves_no_height(w, tmp_path, capsys):
    save_png(gradient_image(400, 8), tmp_path / "thin.png")
    for method in ("optimise", "fast"):
        code = cli.main(["stylize", str(tmp_path / "thin.png"), str(w["style"]), "-o",
                         str(tmp_path / f"{method}.png"), "--size", "32", "--method", method])
        err = capsys.readouterr().err
        assert code == 2 and "a 400x8 image at size 32 would be 32x1" in err, err
        assert "size of at least 200" in err and not (tmp_path / f"{method}.png").exists()
    with pytest.raises(ImageError, match="would be 32x1"):
        painterly.stylize(str(tmp_path / "thin.png"), str(w["style"]), size=32, steps=1)


def test_apply_refuses_a_folder_with_nothing_usable_before_any_work(w, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_text("x")
    (bad / "b.jpg").write_bytes(b"")
    code = cli.main(["apply", str(w[M]), str(bad), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "none of its 2 images" in err[-1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("arch, said", [
    (None, "does not give the network's architecture"),
    ("johnson-in", "does not give the network's architecture"),
    ({"width": 4, "blocks": 1, "downs": 2}, "does not give the network's architecture"),
    ({"kind": "vit", "width": 4}, "unknown network kind 'vit'; a newer painterly may read it"),
])
def test_a_model_without_its_architecture_is_not_called_a_newer_kind(w, tmp_path, capsys,
                                                                     arch, said):
    """A description without 'arch' (or without its kind) was refused as "unknown network
    kind None; a newer painterly may read it"."""
    a = Arch(4, 1, 2)
    state = {f"net.{k}": v.float() for k, v in TransformNet(a).state_dict().items()}
    meta = {"steps": 1} if arch is None else {"arch": arch, "steps": 1}
    path = tmp_path / "m2.safetensors"
    path.write_bytes(resigned(state, meta))
    code = cli.main(["apply", str(path), str(w["content"]), "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and said in err[0], err


def test_apply_leaves_no_empty_folder_it_made_when_nothing_is_written(w, tmp_path, capsys,
                                                                   monkeypatch):
    """Every picture of a folder found damaged when decoded, or a Ctrl-C before the first
    was written: the output folder the run made (with its parents) was left behind empty;
    a folder that was there already, or one holding a picture, stays."""
    from painterly import apply as apply_mod

    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("a.png", "b.png"):
        _truncated_photo(bad / name)  # good headers: found damaged only when decoded
    code = cli.main(["apply", str(w[M]), str(bad), "-o", str(tmp_path / "new" / "out"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "nothing written" in err, err
    assert not (tmp_path / "new").exists()
    (tmp_path / "there").mkdir()
    code = cli.main(["apply", str(w[M]), str(bad), "-o", str(tmp_path / "there"), "-q"])
    assert code == 2 and (tmp_path / "there").is_dir()
    capsys.readouterr()

    def stop(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(apply_mod, "_readable", stop)
    code = cli.main(["apply", str(w[M]), str(w["photos"]), "-o", str(tmp_path / "cut"), "-q"])
    assert code == 130 and not (tmp_path / "cut").exists()


def test_disk_full_leaves_no_half_written_file(w, tmp_path, capsys, monkeypatch):
    import errno

    import painterly.images as images

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(images.os, "replace", full)
    for args in (["apply", str(w[M]), str(w["content"]), "-o", str(tmp_path / "o.png"), "-q"],
                 ["export", str(w[M]), "-o", str(tmp_path / "g.onnx")]):
        if args[0] == "export":
            pytest.importorskip("onnx")
        code = cli.main(args)
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "No space left" in err[0], err
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".part"]
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "g.onnx").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_read_only_output_folder(w, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        code = cli.main(["apply", str(w[M]), str(w["content"]), "-o", str(ro / "o.png")])
        assert code == 2 and "not writable" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


# --- train: late damage, any stop, resume -------------------------------------------------

TINY = dict(crop=32, photo_size=40, width=4, blocks=1, downs=2, holdout=1, precision="fp32",
            preview_every=0, checkpoint_every=0, batch=2)


def _train(w, out: Path, **kw):
    from painterly.config import Runtime, make
    from painterly.network.options import TrainOptions
    from painterly.network.train import train

    opts = {**TINY, **kw.pop("opts", {})}
    return train(str(w["style"]), str(w["photos"]), str(out), make(TrainOptions, **opts),
                 Runtime(device="cpu"), quiet=True, **kw)


def test_training_skips_a_photo_damaged_late(w, tmp_path, capsys):
    from painterly.network.modelfile import load_model

    _truncated_photo(w["photos"] / "p9.png")
    done = _train(w, tmp_path / "m.safetensors", opts={"steps": 4, "holdout": 0})
    assert done.steps == 4 and load_model(tmp_path / "m.safetensors").meta["steps"] == 4
    err = capsys.readouterr().err
    assert err.count("p9.png") == 1 and "skipped" in err


def test_an_error_mid_training_keeps_the_finished_steps(w, tmp_path, monkeypatch):
    from painterly.errors import PainterlyError
    from painterly.network import train as T
    from painterly.network.modelfile import load_model

    real = T.PerceptualLoss.__call__
    calls = {"n": 0}

    def failing(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 4:
            raise PainterlyError("photos/p3.png: the image is damaged")
        return real(self, *a, **k)

    monkeypatch.setattr(T.PerceptualLoss, "__call__", failing)
    out = tmp_path / "m.safetensors"
    with pytest.raises(PainterlyError) as e:
        _train(w, out, opts={"steps": 10})
    assert "3 steps done" in str(e.value) and "--resume" in str(e.value)
    assert load_model(out).meta["steps"] == 3
    assert load_model(T.checkpoint_path(out)).meta["steps"] == 3


def test_a_stop_never_replaces_an_earlier_model(w, tmp_path):
    from painterly.errors import Interrupted, PainterlyError
    from painterly.network.modelfile import load_model
    from painterly.network.train import checkpoint_path

    out = tmp_path / "m.safetensors"
    out.write_bytes(w[M].read_bytes())  # a finished model of an earlier run
    before = out.read_bytes()

    def stop(p):
        if p.step == 2:
            raise Interrupted()

    with pytest.raises(PainterlyError, match="--overwrite"):  # not replaced unasked
        _train(w, out, opts={"steps": 10})
    done = _train(w, out, opts={"steps": 10}, callback=stop, overwrite=True)
    assert done.interrupted and out.read_bytes() == before
    assert load_model(tmp_path / "m.interrupted.safetensors").meta["steps"] == 2
    assert load_model(checkpoint_path(out)).meta["steps"] == 2
    # a fresh run does not replace that checkpoint
    from painterly.errors import UsageError

    with pytest.raises(UsageError, match="add --resume"):
        _train(w, out, opts={"steps": 10})


def test_resume_follows_the_steps_given(w, tmp_path, capsys):
    from painterly.errors import Interrupted, PainterlyError
    from painterly.network.modelfile import load_model
    from painterly.network.train import checkpoint_path

    out = tmp_path / "m.safetensors"

    def stop_at_3(p):
        if p.step == 3:
            raise Interrupted

    _train(w, out, opts={"steps": 6}, callback=stop_at_3)
    assert load_model(checkpoint_path(out)).meta["steps"] == 3
    with pytest.raises(PainterlyError, match="has done 3 steps"):
        _train(w, out, opts={"steps": 2}, resume=True)
    done = _train(w, out, opts={"steps": 4}, resume=True)  # fewer than its plan of 6
    assert done.steps == 4 and load_model(out).meta["steps"] == 4
    # a finished run goes on from its last step, not from an earlier checkpoint
    assert load_model(checkpoint_path(out)).meta["steps"] == 4
    with pytest.raises(PainterlyError, match="has done 4 steps"):
        _train(w, out, opts={"steps": 4}, resume=True)
    done = _train(w, out, opts={"steps": 9}, resume=True)  # more than its plan
    assert done.steps == 9 and load_model(checkpoint_path(out)).meta["steps"] == 9
    # from the command line: --steps not given goes on to the checkpoint's plan
    ck = checkpoint_path(out)
    code = cli.main(["train", str(w["style"]), "--photos", str(w["photos"]), "-o", str(out),
                     "--resume", "--steps", "2", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(ck) in err[0] and "--steps" in err[0]


@pytest.mark.parametrize("damage", ["arch", "adam shape", "adam nan", "options"])
def test_tampered_checkpoints_are_one_line(damage, w, tmp_path, capsys):
    from painterly.network.train import checkpoint_path

    out = tmp_path / "m.safetensors"
    a = Arch(4, 1, 2)
    net = TransformNet(a)
    tensors = {f"net.{k}": v.float() for k, v in net.state_dict().items()}
    training = {**TINY, "steps": 10, "lr": 1e-3, "seed": 0}
    shapes = [p.shape for p in net.parameters()]
    tensors.update({"opt.0.exp_avg": torch.zeros(shapes[0]),
                    "opt.0.exp_avg_sq": torch.zeros(shapes[0]), "opt.0.step": torch.ones(1)})
    if damage == "arch":
        training["width"] = 8
    elif damage == "adam shape":
        tensors["opt.0.exp_avg"] = torch.zeros(3)
    elif damage == "adam nan":
        tensors["opt.0.exp_avg_sq"] = torch.full(shapes[0], float("nan"))
    else:
        training["crop"] = -4
    meta = {"arch": a.to_dict(), "steps": 2, "training": training}
    checkpoint_path(out).write_bytes(resigned(tensors, meta))
    code = cli.main(["train", str(w["style"]), "--photos", str(w["photos"]), "-o", str(out),
                     "--resume", "-q"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(checkpoint_path(out)) in err[0], err
    assert not out.exists()


def test_save_model_round_trip_still_reads(tmp_path):
    from painterly.network.modelfile import load_model

    a = Arch(4, 1, 2)
    p = save_model(tmp_path / "m.safetensors", TransformNet(a), a, {"steps": 1})
    assert load_model(p).arch == a


def test_interrupted_clip_keeps_the_earlier_clip(tmp_path, capsys):
    pytest.importorskip("av")
    from painterly import video
    from painterly.errors import Interrupted

    from .video_clips import make_clip

    src = make_clip(tmp_path / "in.mp4", n=6, audio=False)
    out = tmp_path / "out.mp4"
    assert video.process_clip(src, out, lambda x: x, quiet=True) == 0
    before = out.read_bytes()
    seen = []

    def stop_at_three(x):
        seen.append(1)
        if len(seen) == 3:
            raise Interrupted()
        return 1 - x

    assert video.process_clip(src, out, stop_at_three, quiet=True) == 130  # a writer's own
    # check (process_clip) lets it go on: the command's refusal comes before (test_overwrite)
    assert out.read_bytes() == before
    assert video.probe(tmp_path / "out.interrupted.mp4").frames == 2
    assert "out.interrupted.mp4" in capsys.readouterr().err


def test_interrupted_sweep_keeps_the_earlier_sheet(w, tmp_path, capsys, monkeypatch):
    from painterly import methods
    from painterly.errors import Interrupted

    runs = []

    class Fake:
        def __init__(self, *a, **k):
            self.cache = None

        def _weights_for(self, opts):
            from painterly.weights import load_weights

            return load_weights(os.environ["PAINTERLY_WEIGHTS"])

        def picture(self, *a, **k):
            runs.append(1)
            if len(runs) == 4:
                raise Interrupted(Image.new("RGB", (40, 32), "blue"))
            return Image.new("RGB", (40, 32), "red")

    monkeypatch.setattr(methods, "for_options", Fake)
    args = ["sweep", str(w["content"]), str(w["style"]), "-o", str(tmp_path / "sw"), "-q",
            "--vary", "size=32,48,64"]
    assert cli.main(args) == 0
    sheet = (tmp_path / "sw" / "sheet.png").read_bytes()
    first = sorted((tmp_path / "sw").glob("01_*"))[0]
    before = first.read_bytes()
    assert cli.main(args) == 2  # not replaced unasked
    assert cli.main([*args, "--overwrite"]) == 130
    assert (tmp_path / "sw" / "sheet.png").read_bytes() == sheet
    assert (tmp_path / "sw" / "sheet.interrupted.png").exists()
    assert first.read_bytes() == before  # the run that was cut short went beside it
    assert first.with_name(first.stem + ".interrupted.png").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_inputs_are_one_line(w, tmp_path, capsys):
    locked = tmp_path / "locked.png"
    locked.write_bytes(w["content"].read_bytes())
    locked.chmod(0)
    try:
        for args in (["stylize", str(locked), str(w["style"]), "-o", "o.png"],
                     ["apply", str(w[M]), str(locked), "-o", "o.png"]):
            assert cli.main(args) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "permission" in err[0], err
    finally:
        locked.chmod(0o644)


def test_train_refuses_a_model_name_of_another_kind(w, tmp_path, capsys):
    code = cli.main(["train", str(w["style"]), "--photos", str(w["photos"]), "-o",
                     str(tmp_path / "model.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and ".safetensors" in err[0]


@pytest.mark.parametrize("head,words", [
    (b"\x08\x08\x12\x07pytorch", "ONNX"), (b"\x08\x07\x3a\x10graph", "ONNX"),
    (b"\x89PNG\r\n\x1a\n....", "PNG"), (b"\xff\xd8\xff\xe0", "JPEG"),
    (b"PK\x03\x04rest", "zip"), (b"\x80\x04\x95\x10", "pickle"), (b"a note\n", "text"),
    (b"\x00\x00\x00\x18ftypmp42", "video"),
])
def test_foreign_files_are_named(head, words):
    from painterly.filekinds import what_is

    assert words in what_is(head)


def test_unknown_bytes_are_not_named():
    from painterly.filekinds import what_is

    assert what_is(bytes(range(1, 40)) + b"\x00\xff") is None


def test_a_finished_run_can_be_run_again_when_asked(w, tmp_path):
    from painterly.errors import UsageError
    from painterly.network.modelfile import load_model

    out = tmp_path / "m.safetensors"
    _train(w, out, opts={"steps": 4, "checkpoint_every": 2})  # leaves the step-2 checkpoint
    with pytest.raises(UsageError, match="--overwrite"):
        _train(w, out, opts={"steps": 4, "checkpoint_every": 2})
    done = _train(w, out, opts={"steps": 4, "checkpoint_every": 2}, overwrite=True)
    assert done.steps == 4 and load_model(out).meta["steps"] == 4


def test_a_model_file_of_the_other_command_says_which_made_it(w, tmp_path, capsys):
    # "not a painterly style network" / "not a painterly fast model file" did not say what
    # the file was, and a model with NaN weights did not say it was damaged
    import shutil

    from painterly.fast.modelfile import SHIPPED

    shutil.copy(SHIPPED, tmp_path / "f.safetensors.ckpt")
    shutil.copy(w["M"], tmp_path / "n.safetensors.ckpt")
    cases = [(["train", w["style"], "--photos", w["photos"], "-o", "f.safetensors",
               "--resume"], "the any-painting model, made by 'painterly train-fast'"),
             (["train-fast", "--photos", w["photos"], "-o", "n.safetensors", "--resume"],
              "a style network, made by 'painterly train'"),
             (["apply", w["nan.safetensors"], w["content"], "-o", "out.png"],
              "the network is damaged"),
             (["export", SHIPPED, "-o", "f.onnx"], "is not exported")]
    for args, words in cases[:3] if importlib.util.find_spec("onnx") is None else cases:
        code = cli.main([str(a) for a in args])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and words in err[0], (args, err)
