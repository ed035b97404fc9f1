"""An earlier result is never replaced unasked: every command refuses an output that is
already there (exit 2, one line naming it and --overwrite) before any work, replaces it with
--overwrite, and an interrupted run writes beside earlier results, interrupted ones too."""

from pathlib import Path

import pytest
from PIL import Image

from painterly import cli, paths

from .conftest import gradient_image, save_png, stripes_image

FAST = ["--size", "32", "--steps", "2", "-q"]
TINY_NET = ["--steps", "1", "--batch", "2", "--crop", "32", "--photo-size", "40", "--width",
            "4", "--blocks", "1", "--downs", "2", "--holdout", "1", "--precision", "fp32",
            "--preview-every", "0", "--checkpoint-every", "0", "-q"]


@pytest.fixture()
def w(tmp_path, tiny_weights, monkeypatch) -> dict[str, Path]:
    monkeypatch.setenv("PAINTERLY_WEIGHTS", str(tiny_weights))
    monkeypatch.setenv("PAINTERLY_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(3):
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    return {"content": save_png(gradient_image(), tmp_path / "content.png"),
            "style": save_png(stripes_image(), tmp_path / "style.png"), "photos": photos}


def run(args, capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    return code, capsys.readouterr().err


def refused(code: int, err: str, name: str) -> bool:
    lines = err.strip().splitlines()
    return code == 2 and len(lines) == 1 and name in lines[0] and "--overwrite" in lines[0]


def earlier(path: Path) -> bytes:
    """An earlier result at ``path`` (a real image, so a replaced one would differ)."""
    Image.new("RGB", (8, 8), "red").save(path, format="PNG")
    return path.read_bytes()


def test_stylize_refuses_an_existing_output_and_replaces_it_when_asked(w, tmp_path, capsys):
    out = tmp_path / "out.png"
    before = earlier(out)
    code, err = run(["stylize", w["content"], w["style"], "-o", out, *FAST], capsys)
    assert refused(code, err, "out.png") and out.read_bytes() == before
    code, err = run(["stylize", w["content"], w["style"], "-o", out, *FAST, "--overwrite"],
                    capsys)
    assert code == 0, err
    with Image.open(out) as im:
        assert max(im.size) == 32


@pytest.mark.parametrize("flag", ["--log", "--plot", "--animate"])
def test_stylize_refuses_existing_extra_outputs(w, tmp_path, capsys, flag):
    extra = tmp_path / {"--log": "l.csv", "--plot": "p.png", "--animate": "a.gif"}[flag]
    extra.write_bytes(b"an earlier run's")
    out = tmp_path / "new.png"
    code, err = run(["stylize", w["content"], w["style"], "-o", out, flag, extra, *FAST],
                    capsys)
    assert refused(code, err, extra.name) and extra.read_bytes() == b"an earlier run's"
    assert not out.exists()


def test_stylize_refuses_a_snapshot_folder_of_an_earlier_run(w, tmp_path, capsys):
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    before = earlier(snaps / "step_00002.png")
    earlier(snaps / "step_00004.png")  # not made by the new run: removed by --overwrite
    args = ["stylize", w["content"], w["style"], "-o", tmp_path / "o.png", "--snapshots",
            snaps, "--save-every", "2", *FAST]
    code, err = run(args, capsys)
    assert refused(code, err, "step_00002.png") and (snaps / "step_00002.png").read_bytes() \
        == before
    assert run([*args, "--overwrite"], capsys)[0] == 0
    assert (snaps / "step_00002.png").read_bytes() != before
    assert sorted(p.name for p in snaps.iterdir()) == ["step_00002.png"]


@pytest.mark.parametrize("role", ["--init", "content", "style", "--mask"])
def test_overwrite_never_removes_a_snapshot_given_as_an_input(w, tmp_path, capsys, role):
    """A run continued from an earlier snapshot (or painting one) into the same folder: the
    earlier snapshots are removed by --overwrite and the new ones written over them, so the
    input itself went; it is refused, the input kept."""
    snaps = tmp_path / "snaps"
    snaps.mkdir()
    given = snaps / "step_00002.png"
    save_png(gradient_image(40, 32, seed=3), given)
    before = given.read_bytes()
    content, style = w["content"], w["style"]
    extra = []
    if role == "--init":
        extra = ["--init", given]
    elif role == "content":
        content = given
    elif role == "style":
        save_png(stripes_image(), given)
        before, style = given.read_bytes(), given
    else:
        Image.new("RGB", (40, 32), "white").save(given)
        before, extra = given.read_bytes(), ["--mask", given]

    def args(*extra):
        return ["stylize", content, style, "-o", tmp_path / "o.png", "--snapshots", snaps,
                "--save-every", "2", *extra, *FAST, "--overwrite"]

    code, err = run(args(*extra), capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "step_00002.png" in lines[0], err
    assert given.read_bytes() == before
    assert not (tmp_path / "o.png").exists()
    if role == "--init":  # through a link from another folder: the same file
        link = tmp_path / "start.png"
        link.symlink_to(given)
        code, err = run(args("--init", link), capsys)
        assert code == 2 and "start.png" in err, err
        assert given.read_bytes() == before


@pytest.mark.parametrize("command", ["train", "train-fast"])
def test_training_refuses_a_previews_folder_of_an_earlier_run(w, tmp_path, capsys, command):
    prev = tmp_path / "prev"
    prev.mkdir()
    before = earlier(prev / "step_000001.png")
    head = ["train", w["style"]] if command == "train" else ["train-fast"]
    args = [*head, "--photos", w["photos"], "-o", tmp_path / "m.safetensors", "--previews",
            prev, "--steps", "1", "-q"]
    code, err = run(args, capsys)
    assert refused(code, err, "step_000001.png"), err
    assert (prev / "step_000001.png").read_bytes() == before
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize("command", ["train", "train-fast"])
def test_overwrite_replaces_an_earlier_runs_previews_and_resume_keeps_them(w, tmp_path,
                                                                           capsys, command):
    """--overwrite removes the earlier run's previews (step_*.png, nothing else) once every
    check has passed, so the new run's are not mixed with them; --resume keeps the run's
    own."""
    photos = tmp_path / "many"
    photos.mkdir()
    for i in range(8):
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    prev = tmp_path / "prev"
    prev.mkdir()
    for step in (2, 4, 6):
        earlier(prev / f"step_{step:06d}.png")
    (prev / "notes.txt").write_text("mine")
    (prev / "step_000008.jpg").write_text("not a preview")
    head = ["train", w["style"], "--downs", "2"] if command == "train" else \
        ["train-fast", "--widths", "4,6,8,8", "--holdout", "2", "--style-photo-size", "40"]
    args = [*head, "--photos", photos, "-o", tmp_path / "pv.safetensors", "--batch", "2",
            "--crop", "32", "--photo-size", "48", "--precision", "fp32", "--previews", prev,
            "--preview-every", "2", "-q"]
    # a run refused (too few photos left to train on) removes nothing
    code, err = run([*args, "--steps", "2", "--overwrite", "--holdout", "7"], capsys)
    assert code == 2 and len(list(prev.glob("step_*.png"))) == 3, err
    code, err = run([*args, "--steps", "2", "--overwrite"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in prev.iterdir()) == ["notes.txt", "step_000002.png",
                                                        "step_000008.jpg"]
    code, err = run([*args, "--steps", "4", "--resume"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in prev.glob("step_*.png")) == ["step_000002.png",
                                                                "step_000004.png"]


def test_previews_without_held_out_photos_are_refused(w, tmp_path, capsys):
    """Previews show the held-out photos: with --holdout 0 (or a checkpoint that holds out
    none) --previews is refused in one line, and no folder is made."""
    prev, model = tmp_path / "prev", tmp_path / "m.safetensors"
    args = ["train", w["style"], "--photos", w["photos"], "-o", model, *TINY_NET,
            "--holdout", "0"]
    code, err = run([*args, "--previews", prev], capsys)
    assert code == 2 and err.strip() == "painterly: error: --previews needs held-out photos: "\
        "leave out --holdout 0 or --previews", err
    assert not prev.exists() and not model.exists()
    assert run(args, capsys)[0] == 0
    code, err = run([*args, "--previews", prev, "--resume", "--steps", "2"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "holds out none" in lines[0], err
    assert not prev.exists()


@pytest.mark.parametrize("command", ["train", "train-fast"])
@pytest.mark.parametrize("case", ["model in photos", "previews are photos", "picture name",
                                  "picture replaced"])
def test_training_outputs_never_land_on_its_inputs(w, tmp_path, capsys, command, case):
    """train and train-fast make the same checks: the model and its checkpoint never go
    into the photo folder, the previews folder is not it, and -o is no picture's name
    (train-fast wrote all of these)."""
    picture = tmp_path / "tub.jpg"
    Image.new("RGB", (8, 8), "red").save(picture)
    before = picture.read_bytes()
    out, extra, said = {
        "model in photos": (w["photos"] / "m.safetensors", [], "inside the input folder"),
        "previews are photos": (tmp_path / "m.safetensors", ["--previews", w["photos"]],
                                "is the photo folder"),
        "picture name": (tmp_path / "tfx.png", [], "ends in .safetensors"),
        "picture replaced": (picture, ["--overwrite"], "ends in .safetensors")}[case]
    head = ["train", w["style"]] if command == "train" else ["train-fast"]
    listed = sorted(p.name for p in w["photos"].iterdir())
    code, err = run([*head, "--photos", w["photos"], "-o", out, *extra, "--steps", "1", "-q"],
                    capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and said in lines[0], err
    assert sorted(p.name for p in w["photos"].iterdir()) == listed
    assert picture.read_bytes() == before
    assert not Path(f"{out}.ckpt").exists() and not (tmp_path / "tfx.png").exists()


def test_sweep_refuses_an_earlier_sweep(w, tmp_path, capsys):
    out = tmp_path / "sw"
    args = ["sweep", w["content"], w["style"], "-o", out, "--vary", "style-weight=1,2",
            *FAST]
    assert run(args, capsys)[0] == 0
    sheet = (out / "sheet.png").read_bytes()
    code, err = run(args, capsys)
    assert refused(code, err, "sw") and (out / "sheet.png").read_bytes() == sheet
    assert run([*args, "--overwrite"], capsys)[0] == 0


def test_train_apply_and_export_refuse_earlier_results(w, tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    train = ["train", w["style"], "--photos", w["photos"], "-o", model, *TINY_NET]
    code, err = run(train, capsys)
    assert code == 0, err
    made = model.read_bytes()
    # a fresh run over the model (and its checkpoint) is refused; --resume goes on with it
    code, err = run(train, capsys)
    assert code == 2 and "--overwrite" in err and "--resume" in err
    assert model.read_bytes() == made
    ckpt = Path(f"{model}.ckpt")
    ckpt.rename(tmp_path / "kept.ckpt")  # without the checkpoint: the model itself
    code, err = run(train, capsys)
    assert refused(code, err, "m.safetensors") and model.read_bytes() == made
    code, err = run([*train, "--overwrite", "--seed", "5"], capsys)
    assert code == 0, err
    assert model.read_bytes() != made

    # apply: one file, then a folder with one earlier result among the new ones
    out = tmp_path / "a.png"
    before = earlier(out)
    code, err = run(["apply", model, w["content"], "-o", out, "-q"], capsys)
    assert refused(code, err, "a.png") and out.read_bytes() == before
    assert run(["apply", model, w["content"], "-o", out, "-q", "--overwrite"], capsys)[0] == 0
    folder = tmp_path / "styled"
    folder.mkdir()
    old = earlier(folder / "p1.png")
    code, err = run(["apply", model, w["photos"], "-o", folder, "-q"], capsys)
    assert refused(code, err, "p1.png") and sorted(p.name for p in folder.iterdir()) == \
        ["p1.png"] and (folder / "p1.png").read_bytes() == old
    assert run(["apply", model, w["photos"], "-o", folder, "-q", "--overwrite"], capsys)[0] \
        == 0
    assert len(list(folder.iterdir())) == 3 and (folder / "p1.png").read_bytes() != old

    pytest.importorskip("onnx")
    graph = tmp_path / "m.onnx"
    graph.write_bytes(b"an earlier export")
    code, err = run(["export", model, "-o", graph, "-q"], capsys)
    assert refused(code, err, "m.onnx") and graph.read_bytes() == b"an earlier export"
    assert run(["export", model, "-o", graph, "-q", "--overwrite"], capsys)[0] == 0


def test_train_fast_refuses_an_earlier_model(w, tmp_path, capsys):
    model = tmp_path / "f.safetensors"
    model.write_bytes(b"an earlier model")
    args = ["train-fast", "--photos", w["photos"], "-o", model, "--steps", "1", "-q"]
    code, err = run(args, capsys)
    assert refused(code, err, "f.safetensors") and model.read_bytes() == b"an earlier model"
    model.unlink()
    Path(f"{model}.ckpt").write_bytes(b"an earlier checkpoint")
    code, err = run(args, capsys)
    assert code == 2 and "--resume" in err and "--overwrite" in err
    assert Path(f"{model}.ckpt").read_bytes() == b"an earlier checkpoint"


def test_clip_outputs_are_refused_too(w, tmp_path, capsys):
    pytest.importorskip("av")
    from .video_clips import make_clip

    src = make_clip(tmp_path / "in.mp4", n=2, audio=False)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"an earlier clip")
    code, err = run(["stylize", src, w["style"], "-o", out, *FAST], capsys)
    assert refused(code, err, "out.mp4") and out.read_bytes() == b"an earlier clip"


def test_interrupted_results_go_beside_earlier_interrupted_ones(tmp_path):
    out = tmp_path / "out.png"
    assert paths.partial_target(out, existed=False) == out
    assert paths.partial_target(out, existed=True) == tmp_path / "out.interrupted.png"
    (tmp_path / "out.interrupted.png").write_bytes(b"1")
    (tmp_path / "out.interrupted-2.png").write_bytes(b"2")
    assert paths.partial_target(out, existed=True) == tmp_path / "out.interrupted-3.png"
    assert paths.interrupted_path(tmp_path / "m.safetensors") == \
        tmp_path / "m.interrupted.safetensors"


def test_an_interrupted_folder_says_what_was_written(w, tmp_path, capsys, monkeypatch):
    from painterly import methods
    from painterly.errors import Interrupted

    from .test_nets import tiny_model

    model = tiny_model(tmp_path / "m.safetensors")
    real = methods.pictures
    seen = []

    def stop_at_the_third(method, images, opts):
        seen.append(1)
        if len(seen) == 3:
            raise Interrupted()
        return real(method, images, opts)

    monkeypatch.setattr(methods, "pictures", stop_at_the_third)
    code, err = run(["apply", model, w["photos"], "-o", tmp_path / "out", "--batch", "1"],
                    capsys)
    assert code == 130 and "2 of 3 pictures written to" in err.splitlines()[-1]
    assert len(list((tmp_path / "out").iterdir())) == 2


@pytest.mark.parametrize("flag", ["--log", "--plot"])
def test_the_fast_model_file_is_an_input_too(w, tmp_path, capsys, flag):
    """--fast-model was not among the files a run reads, so '--log MODEL --overwrite' (or
    --plot) replaced the model file with the run's table."""
    from painterly.fast.modelfile import SHIPPED

    if not SHIPPED.exists():
        pytest.skip("the fast model is not shipped")
    model = tmp_path / ("m.safetensors" if flag == "--log" else "m.png")
    model.write_bytes(SHIPPED.read_bytes())  # a real model: the old run went through
    before = model.read_bytes()
    code, err = run(["stylize", w["content"], w["style"], "-o", tmp_path / "o.png",
                     "--method", "fast", "--refine", "1", "--fast-model", model, flag, model,
                     "--size", "32", "-q", "--overwrite"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "is the input" in lines[0], err
    assert model.read_bytes() == before and not (tmp_path / "o.png").exists()
