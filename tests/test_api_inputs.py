"""The Python API takes pictures and options as a program holds them: one style given alone
(a tensor, a PIL image, an array), a start picture in memory, options as a dict; what it
cannot take is refused in one line, never painted wrong."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import painterly
from painterly.config import Options, make
from painterly.engine import Progress
from painterly.errors import ImageError, UsageError
from painterly.fast.method import FastMethod
from painterly.images import image_list, load_image
from painterly.optimise.stylizer import Stylizer

from .conftest import gradient_image, save_png, stripes_image
from .test_fast import tiny_model
from .test_nets import tiny_model as tiny_network

OPTS = dict(size=32, steps=2, scales=1, device="cpu")


def _pixels(im: Image.Image) -> np.ndarray:
    return np.asarray(im, dtype=float)


def test_one_picture_is_one_picture():
    t = torch.rand(3, 8, 8)
    assert len(image_list(t)) == 1 and len(image_list(np.zeros((8, 8, 3)))) == 1
    assert len(image_list(Image.new("RGB", (4, 4)))) == 1 and len(image_list(b"x")) == 1
    assert image_list(None) == [] and len(image_list((t, t))) == 2


@pytest.mark.parametrize("kind", ["optimise", "fast"])
def test_a_style_given_alone_is_one_style(tiny, kind):
    """A tensor given alone was taken as a list of its three channels: three grey styles."""
    style = torch.from_numpy(stripes_image()).permute(2, 0, 1).contiguous()
    photo = gradient_image(32, 32)
    if kind == "fast":
        m = FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)
        opts = make(Options, size=32, method="fast", refine=0)
    else:
        m = Stylizer(tiny, "cpu")
        opts = make(Options, size=32, steps=2, scales=1, seed=0)
    alone = _pixels(m.picture(photo, style, opts))
    listed = _pixels(m.picture(photo, [style], opts))
    assert np.array_equal(alone, listed)
    pil = Image.fromarray((stripes_image() * 255).astype(np.uint8))
    assert np.array_equal(_pixels(m.picture(photo, pil, opts)),
                          _pixels(m.picture(photo, [pil], opts)))


def test_a_batch_of_pictures_is_refused():
    with pytest.raises(ImageError, match="a batch of 2 pictures"):
        load_image(torch.rand(2, 3, 8, 8))
    assert load_image(torch.rand(1, 3, 8, 6)).size == (6, 8)
    assert load_image(np.random.rand(1, 8, 6, 3).astype(np.float32)).size == (6, 8)


def test_the_fast_method_checks_its_options_and_styles(tiny, tmp_path):
    m = FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)
    photo = gradient_image(32, 32)
    with pytest.raises(UsageError, match="3 weights for 1 styles"):
        m.picture(photo, [stripes_image()], make(Options, size=32, method="fast", refine=0,
                                                 style_blend_weights=[1, 2, 3]))
    with pytest.raises(ImageError, match="too small"):
        m.picture(photo, [np.zeros((4, 4, 3), np.float32)],
                  make(Options, size=32, method="fast", refine=0))
    path = save_png(stripes_image(), tmp_path / "s.png")  # a path alone, not its letters
    assert m.picture(photo, str(path), {"size": 32, "method": "fast", "refine": 0}).size == \
        (32, 32)


def test_a_start_picture_in_memory_is_used(tiny):
    photo, style = gradient_image(32, 32), stripes_image()
    kw = dict(OPTS, weights=tiny, seed=0, steps=1)
    plain = _pixels(painterly.stylize(photo, style, **kw))
    start = Image.new("RGB", (32, 32), (250, 10, 10))
    given = _pixels(painterly.stylize(photo, style, init=start, **kw))
    assert np.abs(given - plain).mean() > 10  # it started from the red picture
    assert given[..., 0].mean() > given[..., 1].mean()
    st = Stylizer(tiny, "cpu")  # and through a kept Stylizer, whatever opts.init says
    kept = _pixels(st.picture(photo, [style], make(Options, size=32, steps=1, scales=1, seed=0),
                              init=start))
    assert np.array_equal(kept, given)


def test_options_as_a_dict_or_the_defaults(tiny):
    photo, style = gradient_image(32, 32), stripes_image()
    out = painterly.stylize(photo, style, {"size": 32, "steps": 1, "scales": 1},
                            weights=tiny, device="cpu")
    assert out.size == (32, 32)
    with pytest.raises(TypeError, match="expected Options"):
        painterly.stylize(photo, style, 32, weights=tiny)


def test_one_style_mask_given_as_an_array(tiny):
    photo, style = gradient_image(32, 32), stripes_image()
    donor = np.zeros((36, 36), bool)
    donor[:, :18] = True
    out = painterly.stylize(photo, style, style_masks=donor, weights=tiny, **OPTS)
    assert out.size == (32, 32)


def test_network_stylize_takes_its_checked_values(tmp_path):
    net = painterly.Network.load(tiny_network(tmp_path / "n.safetensors"))
    photo = gradient_image(20, 16)
    assert net.stylize(photo, size=0).size == (20, 16)  # 0: its own size (was 1 x 1)
    assert net.stylize(photo, size="24").size == (24, 19)
    half = net.stylize(photo, strength="0.5")
    assert half.size == (20, 16)
    with pytest.raises(ImageError, match="B x 3 x H x W"):
        net.transform(torch.rand(3, 16, 20))
    with pytest.raises(ImageError, match="floats"):
        net.transform(torch.zeros(1, 3, 16, 20, dtype=torch.uint8))
    with pytest.raises(TypeError, match="Network.stylize"):
        net.transform(np.zeros((1, 3, 16, 20), np.float32))


def test_fast_progress_in_the_photo_s_colours(tiny, precision):
    """With --preserve-color luminance the refining steps paint in grey; a callback saw the
    grey picture, where optimisation shows the finished colours."""
    m = FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)
    seen: list[np.ndarray] = []

    def look(p: Progress) -> None:
        seen.append(p.image_tensor()[0].numpy())

    photo = np.zeros((32, 32, 3), np.float32)
    photo[..., 0] = 0.8  # a red photo
    photo[..., 1:] = 0.2
    m.picture(photo, [stripes_image()], make(Options, size=32, method="fast", refine=2,
                                             preserve_color="luminance", precision=precision),
              look)
    assert seen and all(float(np.abs(s[0] - s[1]).mean()) > 0.1 for s in seen)


def test_keywords_the_method_does_not_use_are_named(tiny):
    with pytest.warns(UserWarning, match=r"steps=, optimizer= have no effect with "
                                         r"method='fast'"):
        painterly.stylize(gradient_image(32, 32), stripes_image(), method="fast", refine=0,
                          steps=5, optimizer="adam", size=32, device="cpu", weights=tiny)
