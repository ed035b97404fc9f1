"""Sweeps: parsing, the grid of runs, the contact sheet's layout and target reuse."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import Stylizer
from painterly.config import MaskPaths, make_options
from painterly.engine import TargetCache
from painterly.errors import ImageError, UsageError
from painterly.sweep import layout_sheet, parse_vary, sweep

ROOT = Path(__file__).resolve().parents[1]



@pytest.fixture
def images(tmp_path) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:24, 0:32] / 32
    c = np.stack([xx, yy, 0.5 + 0.4 * np.sin(5 * xx)], -1)
    Image.fromarray((c * 255).astype(np.uint8)).save(tmp_path / "c.png")
    Image.fromarray((rng.random((24, 24, 3)) * 255).astype(np.uint8)).save(tmp_path / "s.png")
    return str(tmp_path / "c.png"), str(tmp_path / "s.png")


def test_parse_vary():
    v = parse_vary("style-weight=1e3,1e4, 1e5")
    assert v.name == "style_weight" and v.values == [1e3, 1e4, 1e5]
    assert v.labels == ["1e3", "1e4", "1e5"]
    assert parse_vary("steps=100,300").values == [100, 300]
    lists = parse_vary("style-layers=relu1_1,relu2_1;relu3_1")
    assert lists.values == [["relu1_1", "relu2_1"], ["relu3_1"]]
    for bad in ("steps", "steps=", "nonsense=1,2", "steps=1.5", "weights=a.pt"):
        with pytest.raises(UsageError):
            parse_vary(bad)
    with pytest.raises(UsageError, match="cannot be varied"):
        parse_vary("device=cpu,cpu")
    with pytest.raises(UsageError) as e:  # the names listed are those that can be varied
        parse_vary("bogus=1,2")
    assert "--style-weight" in str(e.value) and "--device" not in str(e.value)
    assert "--fast-model" not in str(e.value) and "--mask" not in str(e.value)


def test_layout_has_the_right_grid_and_titles():
    lay = layout_sheet(parse_vary("style-weight=1e3,1e4,1e5"), parse_vary("steps=100,300"),
                       (64, 48))
    assert lay.grid == (2, 3) and len(lay.cells) == 6
    assert lay.col_title == "style-weight" and lay.col_labels == ["1e3", "1e4", "1e5"]
    assert lay.row_labels == ["steps = 100", "steps = 300"]
    boxes = {(c.row, c.col): c.box for c in lay.cells}
    assert boxes[(0, 1)][0] > boxes[(0, 0)][2] and boxes[(1, 0)][1] > boxes[(0, 0)][3]
    assert all(b[2] - b[0] == 64 and b[3] - b[1] == 48 for b in boxes.values())
    assert lay.size[0] >= boxes[(1, 2)][2] and lay.size[1] >= boxes[(1, 2)][3]
    one = layout_sheet(parse_vary("seed=1,2"), None, (64, 48))
    assert one.grid == (1, 2) and one.row_labels == []


def test_sweep_renders_every_combination_and_reuses_targets(tmp_path, tiny, images):
    st = Stylizer(tiny, "cpu")
    base = make_options(size=32, steps=2)
    res = sweep(*images[:1], [images[1]], tmp_path / "out", base,
                    [parse_vary("style-weight=10,1000"), parse_vary("steps=1,2")], thumb=40,
                    stylizer=st)
    assert sorted(res.files) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(p.exists() for p in res.files.values())
    sheet = Image.open(res.sheet)
    assert sheet.size == res.layout.size and res.layout.grid == (2, 2)
    x0, y0, x1, y1 = res.layout.cells[0].box
    assert res.layout.thumb == (40, 30) and x1 - x0 >= 40 and y1 - y0 >= 30
    # one content and one style entry: all four runs used the same targets
    assert len(st.cache._items) == 2
    csv_lines = (tmp_path / "out" / "sweep.csv").read_text().splitlines()
    assert len(csv_lines) == 5 and csv_lines[0].startswith("file,style-weight,steps,seconds")


def test_sweep_cli(tmp_path, tiny, images):
    env = dict(os.environ, PYTHONPATH=str(ROOT), PAINTERLY_WEIGHTS=tiny,
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    cmd = [sys.executable, "-m", "painterly", "sweep", images[0], images[1], "-o",
           str(tmp_path / "sw"), "--vary", "seed=1,2,3", "--size", "32", "--steps", "1", "-q",
           "--init", "noise", "--thumb", "32"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "sw").glob("0*_seed=*.png"))) == 3
    assert Image.open(tmp_path / "sw" / "sheet.png").size[0] > 3 * 32
    bad = subprocess.run(cmd[:-8] + ["--vary", "nosuch=1,2"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    named = [*cmd[:7], str(tmp_path / "sheet.png"), *cmd[8:]]  # a picture's name for -o
    bad = subprocess.run(named, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "a sweep writes a folder" in bad.stderr
    assert not (tmp_path / "sheet.png").exists()


def test_target_cache_evicts_least_recently_used():
    cache = TargetCache(max_items=3)
    for i in range(4):
        cache.get((i,), lambda: {"g": torch.zeros(10)})
    cache.get((1,), lambda: pytest.fail("should be cached"))
    cache.get((9,), lambda: {"g": torch.zeros(1)})
    assert list(cache._items) == [(3,), (1,), (9,)]
    small = TargetCache(max_bytes=1000)
    for i in range(3):
        small.get((i,), lambda: {"g": torch.zeros(200)})  # 800 bytes each
    assert list(small._items) == [(2,)]
    assert TargetCache.digest(torch.ones(2, 2)) == TargetCache.digest(torch.ones(2, 2))
    assert TargetCache.digest(torch.ones(2, 2)) != TargetCache.digest(torch.zeros(2, 2))


def test_a_sweep_paints_each_combination_by_the_method_it_names(tmp_path, tiny, images,
                                                                 painted_by):
    # --vary method=optimise,fast optimised both (the fast file was the optimised one,
    # labelled fast); --method fast and --vary init=...,fast failed
    from painterly.config import Runtime
    from painterly.fast.method import SHIPPED

    if not SHIPPED.exists():
        pytest.skip("the fast model is not shipped")
    called = painted_by
    rt = Runtime(weights=tiny, device="cpu")
    base = make_options(size=32, steps=1, scales=1)
    for i, (vary, want) in enumerate((("method=optimise,fast", ["optimise", "fast"]),
                                      ("init=content,fast", ["optimise", "optimise", "fast"]),
                                      ("strength=0,1", ["fast", "fast"]))):
        called.clear()
        b = make_options(base, method="fast", refine=0) if vary.startswith("strength") else base
        res = sweep(*images[:1], [images[1]], tmp_path / f"o{i}", b, [parse_vary(vary)],
                    runtime=rt, thumb=32)
        assert called == want and len(res.files) == 2


def test_an_interrupted_sweep_names_the_pictures_it_wrote(tmp_path, images, capsys):
    """Over an earlier sweep, an interrupted run's picture goes beside the earlier one: the
    CSV row and the progress line name the file written, not the earlier result."""
    from types import SimpleNamespace

    from painterly.errors import Interrupted

    class Stops:
        def _weights_for(self, opts):
            return SimpleNamespace(arch="vgg19")

        def picture(self, *a, **k):
            raise Interrupted(Image.new("RGB", (32, 24), "blue"))

    out = tmp_path / "out"
    out.mkdir()
    earlier = {n: out / n for n in ("01_style-weight=1.png", "sheet.png", "sweep.csv")}
    for p in earlier.values():
        p.write_bytes(b"an earlier result")
    res = sweep(images[0], [images[1]], out, make_options(size=32, steps=1),
                [parse_vary("style-weight=1,2")], thumb=32, stylizer=Stops(),
                overwrite=True, quiet=False)
    assert res.interrupted and res.files[(0, 0)].name == "01_style-weight=1.interrupted.png"
    assert all(p.read_bytes() == b"an earlier result" for p in earlier.values())
    rows = (out / "sweep.interrupted.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith("01_style-weight=1.interrupted.png,1,")
    assert "-> " + str(res.files[(0, 0)]) in capsys.readouterr().err


def test_every_varied_size_is_checked_before_the_first_run(tmp_path):
    """A long strip is too thin at a small size: a sweep over --vary size=... found it
    only when it came to that size, after the earlier runs (no sheet, no CSV)."""
    from types import SimpleNamespace

    strip = tmp_path / "strip.png"
    Image.fromarray(np.full((8, 200, 3), 128, np.uint8)).save(strip)
    style = tmp_path / "s.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (24, 24, 3), np.uint8)).save(style)
    painted = []

    class Paints:
        def _weights_for(self, opts):
            return SimpleNamespace(arch="vgg19")

        def picture(self, content, styles, opts, *a, **k):
            painted.append(opts.size)
            return Image.new("RGB", (opts.size, max(1, opts.size // 25)), "blue")

    out = tmp_path / "out"
    with pytest.raises(ImageError, match="at size 64 would be 64x3"):
        sweep(str(strip), [str(style)], out, make_options(size=200, steps=1),
              [parse_vary("size=200,64")], thumb=32, stylizer=Paints())
    assert painted == [] and not any(out.glob("*.png"))


@pytest.mark.parametrize("stop", ["error", "ctrl-c"])
def test_a_sweep_stopped_before_its_first_picture_leaves_no_empty_folder(tmp_path, images,
                                                                         stop):
    """A label mask with more colours than styles is refused by the first run, after the
    folder was made; a Ctrl-C while the first run prepares ends the same way.  The folder
    the sweep made is removed when nothing was written in it; one that was there stays."""
    from types import SimpleNamespace

    class Stops:
        def _weights_for(self, opts):
            return SimpleNamespace(arch="vgg19")

        def picture(self, *a, **k):
            if stop == "error":
                raise UsageError("--mask m.png: 3 labels (distinct colours) for 1 style")
            raise KeyboardInterrupt

    there = tmp_path / "there"
    there.mkdir()
    for out in (tmp_path / "new" / "sweep", there):
        with pytest.raises((UsageError, KeyboardInterrupt)):
            sweep(images[0], [images[1]], out, make_options(size=32, steps=1),
                  [parse_vary("style-weight=1,2")], thumb=32, stylizer=Stops())
        assert out.is_dir() == (out == there)
    assert not (tmp_path / "new").exists()  # the folder made above it, empty, goes too


def test_a_run_cut_short_is_marked_in_the_csv_and_the_progress_line(tmp_path, images,
                                                                    capsys):
    """In a new folder an interrupted run's picture takes its own name, and sweep.csv and
    the progress line showed it like a finished one."""
    from types import SimpleNamespace

    from painterly.errors import Interrupted

    class SecondStops:
        calls = 0

        def _weights_for(self, opts):
            return SimpleNamespace(arch="vgg19")

        def picture(self, *a, **k):
            self.calls += 1
            if self.calls == 2:
                raise Interrupted(Image.new("RGB", (32, 24), "blue"))
            return Image.new("RGB", (32, 24), "red")

    out = tmp_path / "out"
    res = sweep(images[0], [images[1]], out, make_options(size=32, steps=1),
                [parse_vary("style-weight=1,2,3")], thumb=32, stylizer=SecondStops(),
                quiet=False)
    assert res.interrupted and len(res.files) == 2
    rows = (out / "sweep.csv").read_text().splitlines()
    assert rows[0].endswith(",finished") and len(rows) == 3
    assert rows[1].endswith(",yes") and rows[2].endswith(",no")
    err = capsys.readouterr().err.splitlines()
    assert "interrupted" not in err[0] and "interrupted" in err[1]


@pytest.mark.parametrize("given", ["init", "mask"])
def test_a_sweep_never_writes_over_its_start_picture_or_mask(tmp_path, images, given):
    """Starting a sweep from an earlier sweep's picture in the same folder, with
    --overwrite: the start picture (or a mask kept there) was not among the inputs, and the
    new run's picture replaced it."""
    from types import SimpleNamespace

    class Paints:
        def _weights_for(self, opts):
            return SimpleNamespace(arch="vgg19")

        def picture(self, *a, **k):
            return Image.new("RGB", (32, 24), "blue")

    out = tmp_path / "study"
    out.mkdir()
    earlier = out / ("01_style-weight=1.png" if given == "init" else "sheet.png")
    Image.new("RGB", (32, 24), "white").save(earlier)
    before = earlier.read_bytes()
    base = make_options(size=32, steps=1, **({"init": str(earlier)} if given == "init" else {}))
    paths = MaskPaths(mask=str(earlier) if given == "mask" else "")
    with pytest.raises(ImageError, match="is the input"):
        sweep(images[0], [images[1]], out, base, [parse_vary("style-weight=1,2")], thumb=32,
              stylizer=Paints(), paths=paths, overwrite=True)
    assert earlier.read_bytes() == before


def test_titles_never_run_into_each_other():
    """A thin strip (cells 256 x 3 px) stacked its row titles on top of each other, and a
    long value ran into the next column's."""
    from painterly.sweep import _font, _text_wh

    font = _font()
    line = _text_wh(font, "Ag=0")[1]
    cols = parse_vary("init=palette;/a/rather/long/path/to/an/earlier/picture.png")
    lay = layout_sheet(cols, parse_vary("preserve-color=none,luminance"), (256, 3))
    boxes = {(c.row, c.col): c.box for c in lay.cells}
    assert boxes[(1, 0)][1] - boxes[(0, 0)][1] > line  # rows a title's height apart
    assert boxes[(0, 1)][0] - boxes[(0, 0)][0] > _text_wh(font, cols.labels[0])[0]
    assert boxes[(0, 1)][2] - boxes[(0, 1)][0] > _text_wh(font, cols.labels[1])[0]
    assert lay.thumb == (256, 3) and lay.size[0] >= boxes[(1, 1)][2]
    small = layout_sheet(parse_vary("strength=0.5,1"), None, (16, 1))
    assert small.size[0] > _text_wh(font, "strength")[0]
