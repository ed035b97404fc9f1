"""What a newcomer is told about a style network: the time training will take, measured
before it starts, and the quality figure in the model file (apply and the studio show it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from painterly.config import Runtime, make
from painterly.network.estimate import Estimate, duration, for_options
from painterly.network.modelfile import load_model, save_model
from painterly.network.options import TrainOptions
from painterly.network.quality import (
    SIDE,
    TEXTURE_LIMIT,
    centre_crop,
    default_work,
    describe,
    reasons,
    summary,
)
from painterly.network.train import checkpoint_path, train
from painterly.network.transform import Arch, TransformNet

from .conftest import photo_folder, run_cli, save_png, stripes_image
from .test_nets import TINY as NET_TINY

TINY = {**NET_TINY, "batch": 2}  # the tiny network of tests/test_nets.py, two photos a step
TINY_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
ESTIMATE = re.compile(r"^painterly: about (\d+) (s|min) for (\d+) steps on this machine "
                      r"\(([0-9.e+-]+) s a step\)$", re.M)


@pytest.fixture()
def photos(tmp_path) -> Path:
    return photo_folder(tmp_path, 6)


@pytest.fixture()
def style(tmp_path) -> Path:
    return save_png(stripes_image(), tmp_path / "style.png")


def test_durations_are_said_in_plain_words():
    assert [duration(s) for s in (0.2, 40, 89, 3120, 7199, 11400)] == \
        ["1 s", "40 s", "89 s", "52 min", "2 h 00 min", "3 h 10 min"]
    e = Estimate(1.6, 2000)
    assert e.line() == "painterly: about 53 min for 2000 steps on this machine (1.6 s a step)"
    assert e.to_json() == {"seconds": 3200.0, "steps": 2000, "seconds_per_step": 1.6,
                           "note": ""}


def test_a_run_short_of_the_default_recipe_is_told_so_before_it_starts():
    # --minutes 60 in float32 on a 2-core CPU without bfloat16 plans 918 steps of 4
    short = Estimate(3.9, 918, batch=4)
    assert short.note() == ("918 steps of 4 see 3,672 photos; the default recipe's measured "
                            "quality came after 8,000 (2000 x 4): expect a weaker network, "
                            "or give it 2000 steps (about 2 h 10 min here)")
    assert short.note(2000) == "" and Estimate(1.6, 2000, batch=4).note() == ""
    assert Estimate(1.0, 1000, batch=8).note() == ""  # the same photos in fewer steps
    assert Estimate(1.0, 10).note() == ""  # the batch not known: no guess
    assert short.to_json()["note"] == short.note()
    # one step, one photo: said in the singular (it said "1 steps of 2 see 2 photos")
    assert Estimate(0.5, 1, batch=2).note().startswith("1 step of 2 sees 2 photos; ")
    assert Estimate(0.5, 1, batch=1).note().startswith("1 step of 1 sees 1 photo; ")
    assert Estimate(0.5, 3, batch=1).note().startswith("3 steps of 1 see 3 photos; ")


def test_train_prints_the_time_it_will_take_before_it_starts(tmp_path, photos, style,
                                                             cli_env):
    out = tmp_path / "m.safetensors"
    r = run_cli(["train", style, "--photos", photos, "-o", out, "--steps", "2", *TINY_FLAGS],
                cli_env)
    assert r.returncode == 0, r.stderr
    found = ESTIMATE.search(r.stderr)
    assert found, r.stderr
    assert int(found[1]) > 0 and int(found[3]) == 2 and float(found[4]) > 0
    assert r.stderr.index(found[0]) < r.stderr.index("step")  # before the progress bar
    assert "painterly: note: 2 steps of 2 see 4 photos; the default recipe's" in r.stderr
    r = run_cli(["train", style, "--photos", photos, "-o", tmp_path / "q.safetensors",
                 "--steps", "2", "-q", *TINY_FLAGS], cli_env)
    assert r.returncode == 0 and "about" not in r.stderr, r.stderr


def test_the_estimate_of_options_without_photos(tiny):
    e = for_options(make(TrainOptions, steps=50, **TINY), Runtime(weights=tiny, device="cpu"))
    assert e.steps == 50 and e.seconds_per_step > 0 and e.seconds > 0


# --- the quality figure ------------------------------------------------------------------

def _train(tmp_path, photos, style, tiny, steps=2, callback=None, **opts):
    out = tmp_path / "m.safetensors"
    topts = make(TrainOptions, steps=steps, **{**TINY, **opts})
    done = train(str(style), str(photos), str(out), topts,
                 Runtime(weights=tiny, device="cpu"), quiet=True, callback=callback)
    return out, done


def test_a_two_step_training_writes_its_quality_figure_and_is_far_from_converged(
        tmp_path, photos, style, tiny):
    out, _ = _train(tmp_path, photos, style, tiny, holdout=2)
    q = load_model(out).meta["quality"]
    assert q["size"] == 33 and q["photos"] == 2  # photos of 40 x 33 px: squares of 33
    assert q["texture"] > 0 and q["content"] > 0 and q["grid"] >= 1
    assert q["seen"] == 4 and q["recipe_seen"] == default_work() == 8000
    assert q["far_from_converged"] is True
    assert "4 photos seen in training, the default recipe sees 8000" in reasons(q)
    lines = describe(load_model(out).meta)
    assert len(lines) == 2 and lines[0].startswith("quality: texture ")
    assert lines[1].startswith("warning: far from converged") and "--steps" in lines[1]
    assert load_model(checkpoint_path(out)).meta["steps"] == 2  # the finished run's last step


def test_the_figure_is_taken_on_central_squares_at_the_training_scale():
    x = torch.arange(2 * 3 * 300 * 400, dtype=torch.float32).reshape(2, 3, 300, 400)
    assert torch.equal(centre_crop(x), x[..., 22:278, 72:328])
    assert centre_crop(x[..., :40, :50]).shape[-2:] == (40, 40)
    assert SIDE == 256


def test_the_verdict_follows_the_photos_seen_and_the_texture():
    good = {"texture": 0.1, "seen": 8000, "recipe_seen": 8000, "texture_limit": TEXTURE_LIMIT}
    assert reasons(good) == []
    assert reasons({**good, "seen": 1999}) and not reasons({**good, "seen": 2000})
    assert reasons({**good, "texture": TEXTURE_LIMIT * 2}) == \
        [f"texture {TEXTURE_LIMIT * 2:.3f}, a trained network scores below {TEXTURE_LIMIT}"]
    # just above the limit: the reason's figure is not rounded down onto it ("texture 0.30,
    # a trained network scores below 0.3")
    near = {**good, "texture": round(TEXTURE_LIMIT + 4e-4, 4), "photos": 4, "size": SIDE,
            "far_from_converged": True}
    assert reasons(near) == \
        [f"texture {TEXTURE_LIMIT + 4e-4:.4f}, a trained network scores below {TEXTURE_LIMIT}"]
    assert describe({"quality": near})[0].startswith(f"quality: texture {TEXTURE_LIMIT + 4e-4:.4f}")
    one = describe({"quality": {**good, "photos": 1, "size": 64,
                                "far_from_converged": False}})[0]
    assert "(1 held-out photo, 64 px square;" in one, one  # was "1 held-out photos"
    assert describe({"quality": {**good, "photos": 4, "size": SIDE,
                                 "far_from_converged": False}})[0].startswith(
        "quality: texture 0.100")
    assert describe({}) == [] and describe({"quality": "junk"}) == []
    # the photos were painted but no texture distance was finite (a measure that cannot be
    # taken is left out): it said "not measured (no held-out photos)"
    assert summary({"photos": 3, "size": SIDE, "content": 0.5}) == \
        "texture not measured (no finite value on the 3 held-out photos)"


def test_without_held_out_photos_the_figure_says_so(tmp_path, photos, style, tiny):
    out, _ = _train(tmp_path, photos, style, tiny, holdout=0)
    q = load_model(out).meta["quality"]
    assert q["photos"] == 0 and "texture" not in q and q["far_from_converged"]
    assert describe(load_model(out).meta)[0] == \
        "quality: not measured (no held-out photos)"


def test_a_stopped_training_writes_its_figure_too(tmp_path, photos, style, tiny):
    from painterly.errors import Interrupted

    def stop(p):
        if p.step == 2:
            raise Interrupted()

    out, done = _train(tmp_path, photos, style, tiny, steps=50, callback=stop)
    assert done.interrupted and done.steps == 2
    assert load_model(out).meta["quality"]["seen"] == 4
    assert "quality" not in load_model(checkpoint_path(out)).meta


def test_apply_prints_the_figure_and_the_warning(tmp_path, photos, style, tiny, cli_env):
    out, _ = _train(tmp_path, photos, style, tiny)
    photo = photos / "p0.png"
    r = run_cli(["apply", out, photo, "-o", tmp_path / "o.png"], cli_env)
    assert r.returncode == 0, r.stderr
    said = [ln for ln in r.stderr.splitlines() if ln.startswith("painterly: ")]
    assert len(said) == 2, r.stderr
    assert said[0].startswith("painterly: quality: texture ")
    assert said[1].startswith("painterly: warning: far from converged (4 photos seen")
    r = run_cli(["apply", out, photo, "-o", tmp_path / "q.png", "-q"], cli_env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    # an output already there is refused before the figure is told: one line
    r = run_cli(["apply", out, photo, "-o", tmp_path / "o.png"], cli_env)
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1, r.stderr
    assert "o.png: exists" in r.stderr


def test_an_old_model_file_loads_and_says_nothing_of_quality(tmp_path, photos, cli_env):
    from painterly.network.method import load

    old = tmp_path / "old.safetensors"
    torch.manual_seed(0)
    a = Arch(4, 1, 2)
    save_model(old, TransformNet(a), a, {"style": {"name": "s.png"}, "steps": 100})
    assert load(old, Runtime(device="cpu")).notes == []
    r = run_cli(["apply", old, photos / "p0.png", "-o", tmp_path / "o.png"], cli_env)
    assert r.returncode == 0, r.stderr
    assert "quality" not in r.stderr and "warning" not in r.stderr, r.stderr
    assert "1 image written" in r.stderr


def test_a_held_out_photo_too_small_to_measure_is_skipped(tmp_path, photos, style, cli_env):
    # a very wide held-out photo (1000 x 20) gave "grid": NaN (not JSON) and numpy warnings
    import json

    from PIL import Image

    from painterly.inputs import collect
    from painterly.training import split_photos

    _, held = split_photos(collect([photos]), 2, 0)
    Image.new("RGB", (1000, 20), "white").save(held[0])
    out = tmp_path / "m.safetensors"
    r = run_cli(["train", style, "--photos", photos, "-o", out, "--steps", "1", "-q",
                 *TINY_FLAGS, "--holdout=2"], cli_env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    with open(out, "rb") as fh:  # the metadata as written: strict JSON
        n = int.from_bytes(fh.read(8), "little")
        head = json.loads(fh.read(n))
    meta = json.loads(head["__metadata__"]["painterly"],
                      parse_constant=lambda c: pytest.fail(f"{c} in the metadata"))
    q = meta["quality"]
    assert q["photos"] == 1 and q["small"] == 1 and q["grid"] >= 1
    lines = describe(meta)
    assert lines and "nan" not in lines[0].lower()


def test_the_figure_leaves_out_what_it_cannot_measure(tiny_weights):
    import warnings

    from painterly import weights
    from painterly.network.quality import MIN_SIDE, measures_of
    from painterly.scoring import grid_strength, scorer_net

    vgg = scorer_net(weights.load_weights(str(tiny_weights)))
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert grid_strength(torch.rand(2, 96).numpy()) != grid_strength(
            torch.rand(2, 96).numpy())  # NaN: not measured, and no warning
        q = measures_of(lambda x: x, [torch.rand(1, 3, 2, 96)], torch.rand(1, 3, 48, 48), vgg)
    assert q["photos"] == 0 and q["small"] == 1 and "grid" not in q
    assert summary(q) == f"not measured (the held-out photos are under {MIN_SIDE} px on a side)"
