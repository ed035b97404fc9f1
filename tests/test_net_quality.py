"""What a newcomer is told about a style network: the time training will take, measured
before it starts, and the quality figure in the model file (apply and the studio show it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from painterly.config import Runtime, make
from painterly.network.estimate import Estimate, duration, for_options
from painterly.network.options import TrainOptions

from .conftest import gradient_image, run_cli, save_png, stripes_image

TINY = dict(crop=32, photo_size=40, width=4, blocks=1, downs=2, holdout=1, precision="fp32",
            preview_every=0, checkpoint_every=0, batch=2)
TINY_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
ESTIMATE = re.compile(r"^painterly: about (\d+) (s|min) for (\d+) steps on this machine "
                      r"\(([0-9.e+-]+) s a step\)$", re.M)


@pytest.fixture()
def photos(tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for i in range(6):
        save_png(gradient_image(48, 40, seed=i), d / f"p{i}.png")
    return d


@pytest.fixture()
def style(tmp_path) -> Path:
    return save_png(stripes_image(), tmp_path / "style.png")


def test_durations_are_said_in_plain_words():
    assert [duration(s) for s in (0.2, 40, 89, 3120, 7199, 11400)] == \
        ["1 s", "40 s", "89 s", "52 min", "2 h 00 min", "3 h 10 min"]
    e = Estimate(1.6, 2000)
    assert e.line() == "painterly: about 53 min for 2000 steps on this machine (1.6 s a step)"
    assert e.to_json() == {"seconds": 3200.0, "steps": 2000, "seconds_per_step": 1.6}


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
    r = run_cli(["train", style, "--photos", photos, "-o", tmp_path / "q.safetensors",
                 "--steps", "2", "-q", *TINY_FLAGS], cli_env)
    assert r.returncode == 0 and "about" not in r.stderr, r.stderr


def test_the_estimate_of_options_without_photos(tiny):
    e = for_options(make(TrainOptions, steps=50, **TINY), Runtime(weights=tiny, device="cpu"))
    assert e.steps == 50 and e.seconds_per_step > 0 and e.seconds > 0
