"""--structure (how large the painting's structures may be) and the leak measures."""

import csv

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from benchmarks import leak_sweep
from benchmarks.score import Scorer, leak_fraction
from painterly import objective
from painterly.cli import main
from painterly.config import make_options, options_schema
from painterly.errors import UsageError
from painterly.vgg import receptive_field
from painterly.weights import load_weights, random_weights

from .conftest import gradient_image, save_png, stripes_image

LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
EQUAL = {k: 0.2 for k in LAYERS}


def test_receptive_fields_of_vgg19():
    assert [receptive_field(k) for k in LAYERS] == [3, 10, 24, 68, 156]
    assert receptive_field("block4_conv2") == receptive_field("relu4_2") == 84
    assert receptive_field("pool1") == 6


def test_structure_zero_is_brushwork_only():
    """The default: relu5_1 out of the style loss, in the content loss."""
    content, style = objective.layer_setup(make_options(), "vgg19")
    assert list(style) == list(LAYERS[:4]) and all(w == 0.25 for w in style.values())
    assert content == {"relu4_2": 1.0, "relu5_1": 1.0}


def test_structure_one_is_the_classic_objective():
    content, style = objective.layer_setup(make_options(structure=1), "vgg19")
    assert list(style) == list(LAYERS) and style["relu5_1"] == pytest.approx(0.25)
    assert content == {"relu4_2": 1.0}


def test_structure_between_moves_relu5_from_content_to_style():
    content, style = objective.layer_setup(make_options(structure=0.3), "vgg19")
    assert style["relu5_1"] == pytest.approx(0.3 * 0.25)
    assert content["relu5_1"] == pytest.approx(0.7)


def test_structure_respects_layers_named_by_the_user():
    opts = make_options(style_layers=list(LAYERS), content_layers=["relu4_2"], structure=0)
    content, style = objective.layer_setup(opts, "vgg19")
    assert style == EQUAL and content == {"relu4_2": 1.0, "relu5_1": 1.0}
    content, _ = objective.layer_setup(make_options(content_weight=0), "vgg19")
    assert "relu5_1" not in content


def test_structure_option_is_validated_everywhere(tmp_path):
    assert make_options(structure="0.25").structure == 0.25
    with pytest.raises(UsageError, match="structure"):
        make_options(structure=1.5)
    item = next(o for o in options_schema() if o["name"] == "structure")
    assert item["label"] == "Structure size" and item["max"] == 1.0 and item["default"] == 0


def test_structure_flag_out_of_range_exits_2(tmp_path, capsys):
    c = save_png(gradient_image(), tmp_path / "c.png")
    s = save_png(stripes_image(), tmp_path / "s.png")
    code = main(["stylize", str(c), str(s), "-o", str(tmp_path / "o.png"), "--structure", "1.5"])
    err = capsys.readouterr().err
    assert code == 2 and "--structure" in err and len(err.strip().splitlines()) == 1


def test_structure_reaches_the_objective(tiny_weights):
    """The objective a run builds has relu5_1 as a style layer at structure 1 and as a
    content layer at 0 (the tiny random network's relu5_1 features vanish, so the images
    themselves cannot show it)."""
    net = painterly.Stylizer(str(tiny_weights), "cpu").network(make_options(structure=1))
    low = objective.PerceptualLoss.from_options(net, make_options(structure=0))
    high = objective.PerceptualLoss.from_options(net, make_options(structure=1))
    assert "relu5_1" in low.content_layers and "relu5_1" not in low.style_layers
    assert "relu5_1" in high.style_layers and "relu5_1" not in high.content_layers


# --- the measures ---------------------------------------------------------------------------

def test_leak_fraction_on_constructed_maps():
    g = torch.Generator().manual_seed(0)
    c = torch.rand(1, 8, 4, 5, generator=g)
    s = torch.rand(1, 8, 3, 3, generator=g)
    c[:, 4:] *= 0.05  # the photo's features live in channels 0-3, the painting's in 4-7
    s[:, :4] *= 0.05
    assert leak_fraction(c, c, s) == 0.0
    o = c.clone()
    o[..., :2, :] = s[..., 1:2, 2:3]  # the first two of four rows: the painting's own vector
    assert leak_fraction(o, c, s) == 0.5
    assert leak_fraction(o, c, s, margin=2.0) == 0.0  # cosines never differ by 2
    assert leak_fraction(torch.zeros_like(c), c, s) == 0.0  # a blank map is near nothing
    with pytest.raises(ValueError):
        leak_fraction(c, c[..., :3], s)


@pytest.fixture(scope="module")
def scorer(tmp_path_factory):
    """A tiny random VGG whose filters have zero mean: like a trained one (and unlike plain
    random filters, whose deep features all point the same way) it responds to edges and
    textures rather than brightness, so that relu5_1 tells different images apart."""
    w = random_weights("vgg19", width=1 / 16, seed=0)
    w.state = {k: v - v.mean(dim=(1, 2, 3), keepdim=True) if k.endswith("weight") else v
               for k, v in w.state.items()}
    photos = tmp_path_factory.mktemp("photos")
    for i in range(3):
        save_png(gradient_image(48, 40, seed=10 + i)[:, ::-1] * (0.5 + 0.2 * i),
                 photos / f"p{i}.png")
    return Scorer(w, "cpu", photos, n_photos=2)


def _painting(w: int = 64, h: int = 48) -> np.ndarray:
    """A 'painting' with an object: blobs on stripes."""
    img = stripes_image(w, h, seed=3)
    y, x = np.mgrid[0:h, 0:w]
    for cx, cy, col in ((16, 14, (1, 0.8, 0.1)), (46, 32, (0.1, 0.9, 0.3))):
        img[(x - cx) ** 2 + (y - cy) ** 2 < 90] = col
    return img


def test_scores_of_the_content_and_of_a_copy_of_the_style(scorer):
    content = gradient_image(64, 48)
    style = _painting()
    same = scorer.score(content, content, style)
    copy = scorer.score(style, content, style)
    assert same["leak"] == 0.0 and same["content"] == pytest.approx(0.0, abs=1e-12)
    assert same["recog"] == pytest.approx(0.0, abs=1e-9)
    assert copy["leak"] == 1.0  # every position is the painting's, far from the photo's
    assert copy["texture"] == pytest.approx(0.0, abs=1e-9)  # the style itself
    for r in (same, copy):
        grams = [r[f"gram_{k}"] for k in LAYERS]
        assert r["texture"] == pytest.approx(sum(grams[:4]))
        assert r["style"] == pytest.approx(sum(grams))
    assert same["texture"] > 0.01 and "recog" in copy


def test_scorer_reads_images_of_any_kind(scorer, tmp_path):
    content = gradient_image(64, 48)
    path = save_png(content, tmp_path / "c.png")
    style = save_png(_painting(), tmp_path / "s.png")
    a = scorer.score(Image.open(path), path, style)
    b = scorer.score(path, np.asarray(Image.open(path)), Image.open(style))
    c = scorer.score(torch.from_numpy(np.asarray(Image.open(path)) / 255.0).permute(2, 0, 1),
                     path, style)
    assert a == b
    assert c["style"] == pytest.approx(a["style"]) and c["leak"] == a["leak"]


# --- the sweep ------------------------------------------------------------------------------

def test_candidates_parse_and_check():
    c = leak_sweep.parse_candidate("mine:structure=0.25;content_layers=relu4_2 relu5_1")
    assert c.overrides == {"structure": "0.25", "content_layers": "relu4_2 relu5_1"}
    opts = leak_sweep.candidate_options(c, 384, "fp32")
    assert opts.structure == 0.25 and opts.content_layers == ["relu4_2", "relu5_1"]
    assert leak_sweep.parse_candidate("default").overrides == {}
    for name in leak_sweep.CANDIDATES:
        leak_sweep.candidate_options(leak_sweep.parse_candidate(name), 512, "auto")
    with pytest.raises(UsageError):
        leak_sweep.parse_candidate("nonesuch")
    with pytest.raises(UsageError, match="past relu5_1"):
        leak_sweep.candidate_options(leak_sweep.parse_candidate("x:style_layers=relu5_2"),
                                     384, "fp32")
    assert leak_sweep.parse_pair("tubingen:the_scream", list(leak_sweep.CONTENTS),
                                 list(leak_sweep.STYLES)) == ("tubingen.jpg", "the_scream.jpg")


def test_sweep_end_to_end(tmp_path, tiny_weights, capsys):
    images, photos, out = tmp_path / "images", tmp_path / "photos", tmp_path / "out"
    images.mkdir()
    photos.mkdir()
    save_png(gradient_image(48, 36), images / "c.png")
    save_png(_painting(40, 40), images / "s.png")
    for i in range(2):
        save_png(gradient_image(40, 30, seed=5 + i)[::-1], photos / f"p{i}.jpg")
    code = leak_sweep.main(["--images", str(images), "--photos", str(photos), "--out", str(out),
                            "--contents", "c.png", "--styles", "s.png", "--sizes", "32", "40",
                            "--candidates", "default", "low:structure=0.1;steps=3",
                            "--weights", str(tiny_weights), "--device", "cpu", "-q"])
    assert code == 0, capsys.readouterr().err
    rows = list(csv.DictReader(open(out / "leak_sweep.csv")))
    assert [(r["candidate"], r["size"]) for r in rows] == [
        ("default", "32"), ("default", "40"), ("low", "32"), ("low", "40")]
    for r in rows:
        assert 0 <= float(r["leak"]) <= 1 and float(r["texture"]) > 0 and r["recog"]
    md = (out / "leak_sweep.md").read_text()
    assert "| low | --structure 0.1; --steps 3 | 2 |" in md
    for name in ("default", "low"):
        sheet = Image.open(out / f"sheet_{name}.png")
        assert sheet.width > 200 and sheet.height > 60


def test_sweep_usage_errors_exit_2(tmp_path, tiny_weights, capsys):
    code = leak_sweep.main(["--images", str(tmp_path), "--photos", str(tmp_path),
                            "--out", str(tmp_path / "o"), "--weights", str(tiny_weights)])
    err = capsys.readouterr().err
    assert code == 2 and "image not found" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_packed_weights_give_the_same_features(tmp_path, tiny_weights):
    full = load_weights(tiny_weights)
    dest = leak_sweep.pack_weights(full, tmp_path / "packed.pt")
    packed = load_weights(dest)
    assert dest.stat().st_size < 0.75 * tiny_weights.stat().st_size
    x = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    a = Scorer(full).features(x)
    b = Scorer(packed).features(x)
    assert all(torch.equal(a[k], b[k]) for k in a)
