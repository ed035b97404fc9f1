"""Reading every kind of image, writing every format atomically."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from painterly import images
from painterly.errors import ImageError


def test_exif_orientation_is_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "red")
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif)
    assert images.load_image(p).size == (20, 40)
    assert images.check_image_file(p) == (20, 40)  # the header's size, turned the same
    from painterly.web.uploads import Limits, check_image

    assert check_image(p.read_bytes(), Limits())[1:] == (20, 40)  # the studio's canvas


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1", "LA", "RGBA", "I;16"])
def test_modes_become_rgb(tmp_path, mode):
    base = Image.linear_gradient("L").resize((32, 24))
    im = base.convert(mode) if mode != "I;16" else Image.fromarray(
        np.asarray(base).astype(np.uint16) * 257)
    ext = "jpg" if mode == "CMYK" else "png"
    p = tmp_path / f"img.{ext}"
    im.save(p)
    loaded = images.load_image(p)
    assert loaded.rgb.shape == (24, 32, 3) and loaded.rgb.dtype == np.float32
    assert 0.0 <= loaded.rgb.min() and loaded.rgb.max() <= 1.0


def test_16bit_precision_kept(tmp_path):
    arr = np.full((8, 8), 1000, np.uint16)  # 8-bit would round this to 4/255 = 0.0157
    p = tmp_path / "deep.png"
    Image.fromarray(arr).save(p)
    assert abs(images.load_image(p).rgb[0, 0, 0] - 1000 / 65535) < 1e-6
    t = tmp_path / "deep.tif"
    Image.fromarray(arr).save(t)
    assert abs(images.load_image(t).rgb[0, 0, 0] - 1000 / 65535) < 1e-6


def test_alpha_composited_over_white_and_kept(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, 5:, 3] = 255  # left half transparent
    p = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(p)
    img = images.load_image(p)
    assert np.allclose(img.rgb[0, 0], [1, 1, 1]) and np.allclose(img.rgb[0, 9], [1, 0, 0])
    assert img.alpha is not None and img.alpha[0, 0] == 0
    out = images.to_pil(images.to_tensor(img.rgb), img.alpha)
    assert out.mode == "RGBA" and out.getpixel((0, 0))[3] == 0


def test_arrays_tensors_and_bytes():
    a = np.random.default_rng(0).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    assert images.load_image(a).size == (7, 6)
    assert images.load_image(torch.rand(1, 3, 5, 4)).size == (4, 5)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    assert images.load_image(buf.getvalue()).size == (7, 6)
    with pytest.raises(ImageError):
        images.load_image(np.zeros((2, 2, 5)))


def test_bool_and_integer_arrays():
    mask = np.zeros((4, 6), dtype=bool)
    mask[:, 3:] = True  # a mask as numpy comparisons make it: True is white
    img = images.load_image(mask)
    assert img.rgb[0, 0].tolist() == [0, 0, 0] and img.rgb[0, 5].tolist() == [1, 1, 1]
    typed = images.load_image(np.array([[0, 128, 255]]))  # int64, as Python numbers give
    assert np.allclose(typed.rgb[0, :, 0], [0, 128 / 255, 1])
    deep = images.load_image(np.array([[0, 65535]], dtype=np.int32))
    assert np.allclose(deep.rgb[0, :, 0], [0, 1])
    with pytest.raises(ImageError, match="0 to 255"):
        images.load_image(np.array([[-1, 3]]))


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP"),
                                     (".tiff", "TIFF")])
def test_write_by_extension(tmp_path, ext, fmt):
    im = Image.new("RGBA", (9, 7), (10, 200, 30, 128))
    p = tmp_path / f"out{ext}"
    images.save_image(im, p)
    with Image.open(p) as back:
        assert back.format == fmt and back.size == (9, 7)
    assert [f.name for f in tmp_path.iterdir()] == [p.name]  # no temp files left


def test_write_failures_leave_nothing(tmp_path):
    with pytest.raises(ImageError, match="unknown output type"):
        images.save_image(Image.new("RGB", (2, 2)), tmp_path / "x.bmpx")
    with pytest.raises(ImageError, match="does not exist"):
        images.save_image(Image.new("RGB", (2, 2)), tmp_path / "nodir" / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_fit_longest_and_resize():
    assert images.fit_longest(1024, 768, 512) == (512, 384)
    assert images.fit_longest(10, 1000, 100) == (1, 100)
    x = torch.rand(1, 3, 40, 60)
    assert images.resize_tensor(x, (20, 30)).shape == (1, 3, 20, 30)


def test_yiq_round_trip():
    x = torch.rand(1, 3, 4, 4)
    assert torch.allclose(images.yiq_to_rgb(images.rgb_to_yiq(x)), x, atol=1e-5)


def test_saved_files_get_ordinary_permissions(tmp_path):
    import os

    from PIL import Image

    from painterly.images import save_image

    old = os.umask(0o022)
    try:
        out = save_image(Image.new("RGB", (4, 4)), tmp_path / "out.png")
    finally:
        os.umask(old)
    assert (os.stat(out).st_mode & 0o777) == 0o644


@pytest.mark.parametrize("taps", [3, 5, 13])
@pytest.mark.parametrize("mode", ["replicate", "reflect"])
def test_separable_conv_is_the_padded_2d_convolution(taps, mode):
    import torch.nn.functional as F

    from painterly.images import separable_conv

    k = torch.hann_window(taps + 2, periodic=False)[1:-1]  # short: shifted sums; 13: conv
    k = k / k.sum()
    x = torch.rand(2, 3, 37, 51, generator=torch.Generator().manual_seed(0))
    r = taps // 2
    ref = F.conv2d(F.pad(x, (r, r, r, r), mode=mode),
                   (k[:, None] * k[None, :]).expand(3, 1, -1, -1), groups=3)
    torch.testing.assert_close(separable_conv(x, k, mode), ref, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("bad", [5, None, 1.5, ["a.png"]])
def test_other_types_are_refused_naming_what_is_taken(bad):
    with pytest.raises(TypeError, match=f"numpy array or a tensor, not {type(bad).__name__}$"):
        images.load_image(bad)


def test_float_pictures_keep_their_scale(tmp_path):
    """A 0..1 picture a little over 1 (as resizing leaves) is clipped, not read as 0..255
    (it came out black); a float TIFF of 0..255 is read as 0..255, not stretched by its own
    brightest value; the array and the file say the same."""
    g = np.linspace(0.1, 0.9, 48, dtype=np.float32).reshape(6, 8)
    over = np.repeat(g[..., None], 3, axis=2)
    over[0, 0, 0] = 1.0001
    got = images.load_image(over).rgb
    assert abs(got[3, 4, 0] - g[3, 4]) < 1e-6 and got.max() <= 1.0
    grey = (g * 237).astype(np.float32)  # a 0..255 picture whose brightest is 237
    Image.fromarray(grey, mode="F").save(tmp_path / "f.tif")
    from_file = images.load_image(tmp_path / "f.tif").rgb[..., 0]
    np.testing.assert_allclose(from_file, grey / 255, atol=1e-6)
    np.testing.assert_allclose(images.load_image(grey).rgb[..., 0], from_file, atol=1e-6)


def test_a_normalised_picture_is_refused_and_resizing_s_small_negatives_are_clipped():
    """An ImageNet-normalised tensor (about -2.1..2.6) or a -1..1 array was clipped to a
    dark picture without a word."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 20, 24, generator=g)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    imagenet = (x - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)
    for t in (imagenet, x * 2 - 1, x * 255 - 120.0):  # the last: 0..255 minus a mean pixel
        with pytest.raises(ImageError, match=r"<Tensor>: values from -[\d.]+ to [\d.]+; a "
                                             r"picture's values are 0..1 \(or 0..255\): undo "
                                             r"the normalisation first"):
            images.load_image(t)
        with pytest.raises(ImageError, match="undo the normalisation"):
            images.load_image(t[0].permute(1, 2, 0).numpy())
    for a, white in ((x[0].permute(1, 2, 0).numpy() * 1.1 - 0.05, 1.0),  # a resize's ringing
                     (x[0].permute(1, 2, 0).numpy() * 255 - 8, 255.0)):
        got = images.load_image(a).rgb
        assert got.min() == 0.0
        np.testing.assert_allclose(got, np.clip(a / white, 0, 1), atol=1e-6)


def _rgb_profile(red, green, blue, gamma=2.2) -> bytes:
    """A small ICC v2 display profile: three primaries (XYZ, D50) and one gamma curve."""
    import struct

    def fixed(v):
        return struct.pack(">i", round(v * 65536))

    def xyz(x, y, z):
        return b"XYZ \0\0\0\0" + fixed(x) + fixed(y) + fixed(z)

    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    name = b"test primaries\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + b"\0" * 79
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)), (b"rXYZ", xyz(*red)),
            (b"gXYZ", xyz(*green)), (b"bXYZ", xyz(*blue)), (b"rTRC", curve),
            (b"gTRC", curve), (b"bTRC", curve), (b"cprt", b"text\0\0\0\0none\0\0\0\0")]
    table, data = b"", b""
    start = 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        table += sig + struct.pack(">II", start + len(data), len(body))
        data += body + b"\0" * (-len(body) % 4)
    size = start + len(data)
    head = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
            + b"\0" * 12 + b"acsp" + b"\0" * 24 + b"\0" * 4 + fixed(0.9642) + fixed(1.0)
            + fixed(0.8249) + b"\0" * 48)
    assert len(head) == 128
    return head + struct.pack(">I", len(tags)) + table + data


DISPLAY_P3 = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def test_colours_are_converted_to_srgb_by_the_icc_profile(tmp_path):
    """A phone's Display P3 photo was read as if its numbers were sRGB's (its colours came
    out dull, and so did --preserve-color's); they are converted by the profile now,
    upright, with alpha kept; label masks keep their numbers."""
    p3 = _rgb_profile(*DISPLAY_P3)
    orange = (200, 100, 50)
    photo = Image.new("RGB", (12, 8), orange)
    exif = photo.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    photo.save(tmp_path / "p3.jpg", icc_profile=p3, exif=exif.tobytes(), quality=100)
    got = images.load_image(tmp_path / "p3.jpg")
    assert got.size == (8, 12)  # still turned by its orientation
    r, g, b = (got.rgb[4, 4] * 255).round()
    assert r > orange[0] + 8 and b < orange[2] - 12  # more saturated in sRGB's numbers
    rgba = Image.new("RGBA", (6, 6), (*orange, 255))
    rgba.putpixel((0, 0), (*orange, 0))
    rgba.save(tmp_path / "a.png", icc_profile=p3)
    got = images.load_image(tmp_path / "a.png")
    assert got.alpha is not None and got.alpha[0, 0] == 0 and got.alpha[3, 3] == 1
    assert abs(got.rgb[3, 3, 0] * 255 - r) <= 2
    labels = images.load_image(tmp_path / "p3.jpg", profile=False)
    assert np.abs(labels.rgb[4, 4] * 255 - orange).max() <= 2
    for icc in (b"not a profile", _srgb_profile()):  # damaged, or sRGB: the numbers as stored
        Image.new("RGB", (6, 6), orange).save(tmp_path / "s.png", icc_profile=icc)
        assert np.abs(images.load_image(tmp_path / "s.png").rgb[2, 2] * 255 - orange).max() \
            <= 1


def _srgb_profile() -> bytes:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
