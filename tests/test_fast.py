"""The fast model (any painting at once): statistics, model, model file, method, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from painterly.config import Options, Runtime, make
from painterly.errors import UsageError
from painterly.fast import stats as S
from painterly.fast.method import FastMethod
from painterly.fast.model import FastArch, FastNet
from painterly.fast.modelfile import (
    SHIPPED,
    FastModelError,
    FastModelFile,
    decode,
    digest,
    load_fast,
    save_fast,
)
from painterly.fast.options import FastTrainOptions
from painterly.images import load_image, to_tensor

from .conftest import gradient_image, run_cli, save_png, stripes_image

TINY = FastArch((4, 6, 8, 8), "wct")


def tiny_model(seed: int = 0, arch: FastArch = TINY) -> FastModelFile:
    torch.manual_seed(seed)
    net = FastNet(arch)
    with torch.no_grad():  # a random decoder paints nearly flat grey: make it show its input
        net.decoder.out.weight.mul_(30)
    return FastModelFile(arch, net.state_dict(), {"steps": 0})


def _feats(seed: int, c: int = 5, hw: int = 24, mix: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, c, hw, hw, generator=g)
    if mix:
        x = torch.einsum("ij,bjhw->bihw", torch.randn(c, c, generator=g), x) + 3 * seed
    return x


# --- statistics ------------------------------------------------------------------------
@pytest.mark.parametrize("statistic", ["wct", "adain"])
def test_transfer_gives_the_style_statistics(statistic):
    f, s = _feats(1), _feats(2)
    st = S.feature_stats(s)
    out = S.feature_stats(S.transfer(f, st, statistic, ridge=1e-9))
    assert torch.allclose(out.mean, st.mean, atol=1e-3)
    if statistic == "wct":  # the whole covariance (hence the Gram matrix)
        assert torch.allclose(out.cov, st.cov, atol=1e-2 * st.cov.abs().max())
    assert torch.allclose(out.std(), st.std(), rtol=1e-2)


def test_feature_stats_match_torch_cov_and_masks_select():
    f = _feats(3)
    st = S.feature_stats(f)
    flat = f.reshape(5, -1).double()
    assert torch.allclose(st.cov[0], torch.cov(flat, correction=0), atol=1e-4)
    mask = torch.zeros(1, 1, 24, 24)
    mask[..., :, :12] = 1
    left = S.feature_stats(f, mask)
    assert torch.allclose(left.mean[0], f[..., :12].reshape(5, -1).double().mean(-1), atol=1e-5)


def test_wct_is_finite_on_flat_and_low_rank_features():
    flat = torch.zeros(1, 6, 16, 16)
    low = torch.randn(1, 1, 16, 16).expand(1, 6, 16, 16).contiguous()
    for a in (flat, low):
        for b in (flat, low, _feats(4, 6, 16)):
            y = S.transfer(a, S.feature_stats(b))
            assert torch.isfinite(y).all()


def test_blend_is_the_mixture_of_the_styles():
    a, b = _feats(5), _feats(6)
    mixed = S.blend([S.feature_stats(a), S.feature_stats(b)])
    both = S.feature_stats(torch.cat([a, b], -1))
    assert torch.allclose(mixed.mean, both.mean, atol=1e-6)
    assert torch.allclose(mixed.cov, both.cov, atol=1e-4)
    one = S.blend([S.feature_stats(a), S.feature_stats(b)], [1.0, 0.0])
    assert torch.allclose(one.cov, S.feature_stats(a).cov)


def test_strength_zero_keeps_the_features():
    f = _feats(7)
    y = S.transfer(f, S.feature_stats(_feats(8)), strength=0.0)
    assert torch.allclose(y, f, atol=1e-5)


# --- the model and its file -------------------------------------------------------------
@pytest.mark.parametrize("hw", [(37, 23), (8, 8), (64, 48)])
def test_model_output_has_the_input_size(hw):
    net = tiny_model().network()
    x = torch.rand(1, 3, *hw)
    st = net.style_stats(torch.rand(1, 3, 20, 30))
    assert net(x, st).shape == x.shape
    assert net(x).shape == x.shape


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_decoder_upsamples_and_joins_without_writing_either(layout):
    """up_fuse is conv(cat(nearest x2 of the small map, the skip)), borders included, in
    either memory layout, and its gradients are the reference's."""
    import torch.nn.functional as F

    from painterly.fast.model import up_fuse
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(6 + 4, 5, 3, padding=1).to(memory_format=layout)
    small = torch.randn(2, 6, 5, 7).contiguous(memory_format=layout).requires_grad_()
    skip = torch.randn(2, 4, 10, 14).contiguous(memory_format=layout)
    ref = conv(torch.cat([F.interpolate(small, scale_factor=2.0, mode="nearest"), skip], 1))
    got = up_fuse(conv, small, skip)
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(ref)
    want = torch.autograd.grad(ref, [small, conv.weight], g)
    have = torch.autograd.grad(got, [small, conv.weight], g)
    for a, b in zip(have, want):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    net = tiny_model().network()  # painting (no gradients) goes through it, training not
    x = torch.rand(1, 3, 40, 24)
    with torch.no_grad():
        painted = net(x)
    torch.testing.assert_close(painted, net(x).detach(), atol=1e-5, rtol=1e-5)


def test_model_file_round_trip(tmp_path):
    mf = tiny_model()
    p = save_fast(tmp_path / "m.safetensors", mf.state, mf.arch, {"steps": 3, "data": {"x": 1}})
    back = load_fast(p)
    assert back.arch == mf.arch and back.meta["steps"] == 3
    for k, v in mf.state.items():
        assert torch.equal(back.state[k], v)
    x = torch.rand(1, 3, 20, 20)
    assert torch.equal(back.network()(x), mf.network()(x))


def test_bad_model_files_are_refused(tmp_path):
    mf = tiny_model()
    data = bytearray((save_fast(tmp_path / "m.safetensors", mf.state, mf.arch, {})).read_bytes())
    changed = bytearray(data)
    changed[-5] ^= 0xFF
    for bad, word in [(bytes(changed), "modified"), (bytes(data[:len(data) // 2]), "truncat"),
                      (b"hello world, not a model", "not a painterly"), (b"", "too short")]:
        with pytest.raises(FastModelError, match=word):
            decode(bad, "m")
    with pytest.raises(FastModelError, match="no such"):
        load_fast(tmp_path / "missing.safetensors")


def test_bad_checkpoint_exits_2_with_one_line(tmp_path, cli_env):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_png(gradient_image(), photos / "a.png")
    out = tmp_path / "m.safetensors"
    (tmp_path / "m.safetensors.ckpt").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{garbage}")
    r = run_cli(["train-fast", "--photos", photos, "-o", out, "--resume"], cli_env)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "m.safetensors.ckpt" in lines[0] and "Traceback" not in r.stderr


# --- the method ----------------------------------------------------------------------------
@pytest.fixture()
def method(tiny) -> FastMethod:
    return FastMethod(tiny_model(), device="cpu", precision="fp32", weights=tiny)


def _img(arr: np.ndarray, tmp_path, name: str):
    return load_image(save_png(arr, tmp_path / name))


def test_picture_has_the_size_and_the_cache_keeps_styles(method, tmp_path):
    c = _img(gradient_image(40, 30), tmp_path, "c.png")
    s = _img(stripes_image(), tmp_path, "s.png")
    opts = make(Options, size=40)
    im = method.picture(c, [s], opts)
    assert im.size == (40, 30) and im.mode == "RGB"
    assert len(method._cache) == 1
    again = method.picture(c, [s], opts)
    assert len(method._cache) == 1
    assert np.array_equal(np.asarray(im), np.asarray(again))


def test_blend_weights_choose_between_styles(method, tmp_path):
    c = _img(gradient_image(32, 32), tmp_path, "c.png")
    a = _img(stripes_image(), tmp_path, "a.png")
    b = _img(gradient_image(30, 30, seed=3)[::-1].copy(), tmp_path, "b.png")
    only_a = np.asarray(method.picture(c, [a], make(Options, size=32)), dtype=float)
    mixed = make(Options, size=32, style_blend_weights=[1.0, 0.0])
    w10 = np.asarray(method.picture(c, [a, b], mixed), dtype=float)
    w01 = np.asarray(method.picture(c, [a, b], make(Options, size=32,
                                                       style_blend_weights=[0.0, 1.0])),
                     dtype=float)
    assert np.abs(w10 - only_a).max() <= 2
    assert np.abs(w01 - only_a).max() > 2


def test_preserve_color_keeps_the_photo_chroma(method, tmp_path):
    from painterly.color import recombine

    c = _img(gradient_image(32, 32), tmp_path, "c.png")
    s = _img(stripes_image(), tmp_path, "s.png")
    out = method.picture(c, [s], make(Options, size=32, preserve_color="luminance"))
    x = to_tensor(np.asarray(out, dtype=np.float32) / 255)
    ct = to_tensor(c.rgb)
    from painterly.images import rgb_to_yiq

    iq_out = rgb_to_yiq(x)[:, 1:]
    iq_c = rgb_to_yiq(recombine(rgb_to_yiq(x)[:, :1], ct))[:, 1:]
    assert (iq_out - iq_c).abs().mean() < 0.02


def test_regions_take_their_own_style(method, tmp_path):
    c = _img(gradient_image(32, 32), tmp_path, "c.png")
    a = _img(stripes_image(), tmp_path, "a.png")
    b = _img(np.full((20, 20, 3), [0.9, 0.1, 0.1], np.float32), tmp_path, "b.png")
    labels = np.zeros((32, 32, 3), np.float32)
    labels[:, 16:] = 1.0
    mask = save_png(labels, tmp_path / "mask.png")
    opts = make(Options, size=32)
    split = np.asarray(method.picture(c, [a, b], opts, mask=str(mask)), dtype=float)
    only_a = np.asarray(method.picture(c, [a], opts), dtype=float)
    assert split.shape == only_a.shape
    left = np.abs(split[:, :10] - only_a[:, :10]).mean()
    right = np.abs(split[:, 22:] - only_a[:, 22:]).mean()
    assert right > left


def test_blend_weights_scale_each_region_s_strength(method, tmp_path, precision):
    """With --mask the weights say how strongly each region takes its painting, as with
    optimisation (they were ignored without a word): weight 0 keeps the photo there."""
    photo = gradient_image(32, 32)
    c = _img(photo, tmp_path, "c.png")
    a = _img(stripes_image(), tmp_path, "a.png")
    b = _img(np.full((20, 20, 3), [0.9, 0.1, 0.1], np.float32), tmp_path, "b.png")
    labels = np.zeros((32, 32, 3), np.float32)
    labels[:, 16:] = 1.0
    mask = str(save_png(labels, tmp_path / "mask.png"))
    opts = make(Options, size=32, method="fast", refine=0, precision=precision)
    even = np.asarray(method.picture(c, [a, b], opts, mask=mask), dtype=float)
    half = np.asarray(method.picture(c, [a, b], opts.replace(style_blend_weights=[2.0, 1.0]),
                                     mask=mask), dtype=float)
    none = np.asarray(method.picture(c, [a, b], opts.replace(style_blend_weights=[1.0, 0.0]),
                                     mask=mask), dtype=float)
    right = np.s_[:, 26:]
    off = [np.abs(x[right] - photo[right] * 255).mean() for x in (even, half, none)]
    assert off[0] > off[1] > off[2] and off[2] < 8  # weight 0: the photo there
    # the first region as before, but for what the decoder carries across a 32 px picture
    assert np.abs(none[:, :6] - even[:, :6]).mean() < 5


def test_a_mask_colour_without_a_style_keeps_the_photo(method, tmp_path):
    # one style and a black/white mask: black keeps the photo, as with optimisation (the
    # photo's own features there; it was painted black: nothing filled the masks' rest)
    c = _img(gradient_image(32, 32), tmp_path, "c.png")
    a = _img(stripes_image(), tmp_path, "a.png")
    labels = np.zeros((32, 32, 3), np.float32)
    labels[:, 16:] = 1.0
    mask = save_png(labels, tmp_path / "mask.png")
    opts = make(Options, size=32, method="fast", refine=0)
    masked = np.asarray(method.picture(c, [a], opts, mask=str(mask)), dtype=float)
    kept = np.asarray(method.picture(c, [a], opts.replace(strength=0.0)), dtype=float)
    styled = np.asarray(method.picture(c, [a], opts), dtype=float)
    assert np.abs(masked[:, :6] - kept[:, :6]).mean() < 12  # black was about 100 off
    assert np.abs(masked[:, 26:] - styled[:, 26:]).mean() < \
        np.abs(masked[:, 26:] - kept[:, 26:]).mean()


def test_strength_zero_and_a_kept_region_are_the_photo(method, tmp_path, precision):
    """The decoder gives the photo back a little blurred and tinted: strength 0 was 10
    levels off the photo a channel, a region kept by --mask about 9; what it loses is
    added back in the photo's share (in both arithmetics)."""
    photo = gradient_image(32, 32)
    c = _img(photo, tmp_path, "c.png")
    a = _img(stripes_image(), tmp_path, "a.png")
    opts = make(Options, size=32, method="fast", refine=0, precision=precision)
    kept = np.asarray(method.picture(c, [a], opts.replace(strength=0.0)), dtype=float)
    assert np.abs(kept - photo * 255).mean() < 1.0
    labels = np.zeros((32, 32, 3), np.float32)
    labels[:, 16:] = 1.0
    mask = save_png(labels, tmp_path / "mask.png")
    masked = np.asarray(method.picture(c, [a], opts, mask=str(mask)), dtype=float)
    # (the region masks are feathered: at 32 px the styled half reaches a little over)
    assert np.abs(masked[:, :6] - photo[:, :6] * 255).mean() < 8  # about 100 before


def test_preserve_color_luminance_keeps_the_photo_s_light(method, tmp_path, precision):
    """As with optimisation, the painting's light is matched to the photo's mean and spread
    (fast kept the painting's brightness: a dark painting made a day photo dark)."""
    photo = gradient_image(32, 32) * 0.5 + 0.45  # a bright photo
    c = _img(photo, tmp_path, "c.png")
    dark = _img(stripes_image() * 0.3, tmp_path, "s.png")  # a dark painting
    opts = make(Options, size=32, method="fast", refine=0, precision=precision)
    lum = np.asarray(method.picture(c, [dark], opts.replace(preserve_color="luminance")),
                     dtype=float).mean()
    plain = np.asarray(method.picture(c, [dark], opts), dtype=float).mean()
    assert abs(lum - photo.mean() * 255) < 8 < abs(plain - photo.mean() * 255)


def test_frames_give_frames_of_the_same_shape(method, tmp_path):
    s = _img(stripes_image(), tmp_path, "s.png")
    fn = method.frames([s], make(Options, size=32))
    x = to_tensor(gradient_image(32, 24))
    for _ in range(2):
        y = fn(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


@pytest.mark.parametrize("keep", ["none", "histogram"])
def test_a_clip_prepares_its_styles_once_a_frame_size(method, tmp_path, monkeypatch, keep):
    from painterly.fast import method as fm
    s = _img(stripes_image(), tmp_path, "s.png")
    opts = make(Options, size=32, preserve_color=keep, method="fast", refine=0)
    calls = []
    monkeypatch.setattr(fm, "image_tensor", lambda *a: calls.append(a) or to_tensor(
        gradient_image(32, 32)))
    fn = method.frames([s], opts)
    frames = [to_tensor(gradient_image(32, 24, seed=i)) for i in range(3)]
    for x in frames:
        fn(x)
    # the histogram follows each frame; otherwise one preparation for the clip
    assert len(calls) == (3 if keep == "histogram" else 1)
    fn.reset()
    torch.testing.assert_close(fn(frames[0]), method.paint_tensor(frames[0], [s], opts))


# --- training ------------------------------------------------------------------------------
def test_train_fast_writes_a_model_and_resumes(tmp_path, tiny, monkeypatch):
    from painterly.fast.train import checkpoint_path, train_fast

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        save_png(gradient_image(48, 40, seed=i) if i % 2 else stripes_image(40, 44, seed=i),
                 photos / f"p{i}.png")
    out = tmp_path / "m.safetensors"
    topts = make(FastTrainOptions, steps=2, batch=2, crop=32, photo_size=48,
                 style_photo_size=40, widths="4,6,8,8", holdout=2, checkpoint_every=1,
                 precision="fp32")
    rt = Runtime(weights=tiny, device="cpu")
    assert train_fast([str(photos)], str(out), topts, rt, quiet=True).steps == 2
    first = load_fast(out)
    assert first.meta["steps"] == 2 and first.meta["data"]["photos"] == 6
    assert checkpoint_path(out).exists()
    more = make(FastTrainOptions, steps=3, style_weight=7.0)
    with pytest.raises(UsageError, match="--widths"):
        train_fast([str(photos)], str(out), more, rt, resume=True, quiet=True,
                   given={"widths": "4,4,4,4"})
    assert train_fast([str(photos)], str(out), more, rt, resume=True, quiet=True,
                      given={"style_weight": 7.0, "steps": 3}).steps == 3
    second = load_fast(out)
    assert second.meta["steps"] == 3 and second.arch.widths == (4, 6, 8, 8)
    assert second.meta["training"]["style_weight"] == 7.0
    assert second.meta["training"]["crop"] == 32  # the checkpoint's, not the default
    assert any(not torch.equal(first.state[k], second.state[k]) for k in first.state)
    # --resume follows the --steps given, or the checkpoint's plan; never runs on to the
    # default 6000 steps (it did), never rewrites the files with nothing to do (it did)
    for given, word in (({}, "its plan of 3 steps"), ({"steps": 2}, "--steps 2")):
        with pytest.raises(UsageError, match=f"has done 3 steps, {word} leaves nothing"):
            train_fast([str(photos)], str(out), more, rt, resume=True, quiet=True,
                       given=given)
    # a stop before the plan's end says so (the command line exits 130)
    from painterly.fast import train as ft
    calls = []
    monkeypatch.setattr(ft.dist, "any_true", lambda *a: calls.append(1) or True)
    done = train_fast([str(photos)], str(out), more, rt, resume=True, quiet=True,
                      given={"steps": 6})
    assert done.steps == 4 and done.interrupted
    assert load_fast(out).meta["steps"] == 4


def test_train_fast_starts_from_a_model_and_skips_non_finite_steps(tmp_path, tiny, monkeypatch):
    from painterly.fast import train as ft

    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    base = dict(batch=2, crop=32, photo_size=48, style_photo_size=40, widths="4,6,8,8",
                holdout=2, checkpoint_every=0, precision="fp32")
    rt = Runtime(weights=tiny, device="cpu")
    first = tmp_path / "a.safetensors"
    ft.train_fast([str(photos)], str(first), make(FastTrainOptions, steps=1, **base), rt,
                  quiet=True)
    a = load_fast(first)
    # zero learning rate (warmup's first step is lr * 1/warmup; lr tiny): the start is kept
    same = tmp_path / "b.safetensors"
    ft.train_fast([str(photos)], str(same), make(FastTrainOptions, steps=1, lr=1e-7,
                                                 warmup=1000, **base), rt, quiet=True,
                  init_from=str(first))
    b = load_fast(same)
    assert b.meta["init_from"] == {"file": "a.safetensors", "sha256": a.digest,
                                   "steps": a.meta["steps"]}
    assert all(torch.allclose(a.state[k], b.state[k], atol=1e-6) for k in a.state)
    with pytest.raises(UsageError, match="--widths"):
        ft.train_fast([str(photos)], str(tmp_path / "c.safetensors"),
                      make(FastTrainOptions, steps=1, **{**base, "widths": "4,4,4,4"}), rt,
                      quiet=True, init_from=str(first))
    # a loss that is never finite: no update is made, and training stops with one line
    monkeypatch.setattr(ft, "MAX_BAD_STEPS", 2)
    monkeypatch.setattr(ft, "_finite", lambda vals: False)
    with pytest.raises(UsageError, match="not finite 3 steps in a row"):
        ft.train_fast([str(photos)], str(tmp_path / "d.safetensors"),
                      make(FastTrainOptions, steps=5, **base), rt, quiet=True,
                      init_from=str(first))


FAST_CLI = ["--batch", "2", "--crop", "32", "--photo-size", "48", "--style-photo-size", "40",
            "--holdout", "2", "--widths", "4,6,8,8", "--precision", "fp32", "-q"]


def fast_photos(tmp_path, n: int = 8, name: str = "photos"):
    d = tmp_path / name
    d.mkdir()
    for i in range(n):
        save_png(gradient_image(48, 40, seed=i) if i % 2 else stripes_image(40, 44, seed=i),
                 d / f"p{i}.png")
    return d


def test_train_fast_resume_with_steps_from_the_command_line(tmp_path, cli_env):
    photos, out = fast_photos(tmp_path), tmp_path / "m.safetensors"
    r = run_cli(["train-fast", "--photos", photos, "-o", out, "--steps", "1", *FAST_CLI], cli_env)
    assert r.returncode == 0, r.stderr
    # the flags given on --resume are numbers, as the options hold them (a string --steps
    # was compared with the steps done: a traceback)
    r = run_cli(["train-fast", "--photos", photos, "-o", out, "--resume", "--steps", "2",
                 "--style-weight", "6", *FAST_CLI], cli_env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    meta = load_fast(out).meta
    assert meta["steps"] == 2 and meta["training"]["style_weight"] == 6.0


def test_train_fast_resume_keeps_the_held_out_photos(tmp_path, tiny):
    from painterly.fast.train import train_fast

    photos, out = fast_photos(tmp_path), tmp_path / "m.safetensors"
    topts = make(FastTrainOptions, steps=1, batch=2, crop=32, photo_size=48,
                 style_photo_size=40, widths="4,6,8,8", holdout=2, checkpoint_every=0,
                 preview_every=0, precision="fp32")
    rt = Runtime(weights=tiny, device="cpu")
    train_fast([str(photos)], str(out), topts, rt, quiet=True)
    held = load_fast(out).meta["data"]["holdout"]
    for i in range(8, 11):  # new photos re-drew the held-out ones
        save_png(gradient_image(48, 40, seed=i), photos / f"p{i}.png")
    train_fast([str(photos)], str(out), topts, rt, resume=True, quiet=True,
               given={"steps": 2})
    assert load_fast(out).meta["data"]["holdout"] == held
    (photos / held[1]).unlink()
    with pytest.raises(UsageError, match=f"held-out photo {held[1]} .* no longer in"):
        train_fast([str(photos)], str(out), topts, rt, resume=True, quiet=True,
                   given={"steps": 3})


def test_brush_strokes_keep_the_picture_s_colours_and_change_its_texture():
    from painterly.fast.augment import augment, brush

    g = torch.Generator().manual_seed(0)
    x = to_tensor(gradient_image(64, 48, seed=3))[0]
    y = brush(x, g)
    assert y.shape == x.shape and 0 <= y.min() and y.max() <= 1
    assert (y != x).float().mean() > 0.5  # most of the picture is repainted
    assert abs(y.mean() - x.mean()) < 0.1  # in the picture's own colours
    batch = torch.stack([x, x])
    assert torch.equal(augment(batch, torch.Generator().manual_seed(1), 0.0),
                       augment(batch, torch.Generator().manual_seed(1), 0.0))


# --- the shipped model ---------------------------------------------------------------------
@pytest.mark.skipif(not SHIPPED.exists(), reason="the fast model is not shipped yet")
def test_the_shipped_model_loads_matches_its_digest_and_stylizes(tmp_path, tiny):
    from safetensors import safe_open

    mf = load_fast(SHIPPED)  # the digest is checked on loading
    with safe_open(str(SHIPPED), "pt") as fh:
        meta = fh.metadata()
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    assert digest(meta["painterly"], tensors) == meta["sha256"] == mf.digest
    assert SHIPPED.stat().st_size <= 25 * 2 ** 20
    for key in ("data", "steps", "painterly_version", "train_seconds"):
        assert key in mf.meta
    m = FastMethod(mf, device="cpu", weights=tiny)
    c = _img(gradient_image(64, 48), tmp_path, "c.png")
    s = _img(stripes_image(48, 48), tmp_path, "s.png")
    im = m.picture(c, [s], make(Options, size=64))
    a = np.asarray(im, dtype=float)
    assert im.size == (64, 48) and np.isfinite(a).all() and a.std() > 1


# --- through the registry and the callers ------------------------------------------------
def test_the_registry_loads_a_fast_model_file_by_its_kind(tmp_path):
    from painterly import methods

    mf = tiny_model()
    p = save_fast(tmp_path / "m.safetensors", mf.state, mf.arch, {})
    assert methods.model_kind(p) == "fast"
    m = methods.for_model(p, Runtime(device="cpu"))
    assert isinstance(m, FastMethod) and m.kind == "fast"


def test_strength_is_refused_for_the_optimiser():
    with pytest.raises(UsageError, match="--strength"):
        make(Options, strength=0.5)
    assert make(Options, strength=0.5, method="fast").strength == 0.5


@pytest.mark.skipif(not SHIPPED.exists(), reason="the fast model is not shipped yet")
def test_stylize_method_fast_from_the_cli_and_python(tmp_path, images, tiny, cli_env):
    import painterly

    content, style = images
    out = tmp_path / "out.png"
    r = run_cli(["stylize", content, style, "-o", out, "--method", "fast", "--size", "40",
                 "--strength", "0.8"], cli_env)
    assert r.returncode == 0, r.stderr
    assert load_image(out).size == (40, 32)
    im = painterly.stylize(str(content), str(style), method="fast", size=40, weights=tiny)
    assert im.size == (40, 32)


@pytest.mark.skipif(not SHIPPED.exists(), reason="the fast model is not shipped yet")
def test_init_fast_starts_the_optimiser_from_the_fast_picture(tmp_path, images, tiny, cli_env):
    from painterly import methods

    content, style = images
    opts = make(Options, size=40, init="fast", steps=1, scales=1)
    st = methods.for_options(opts, Runtime(weights=tiny, device="cpu"))
    assert st.start_with is not None and st.start_with.kind == "fast"
    fast = FastMethod(device="cpu", weights=tiny).picture(
        load_image(content), [load_image(style)], make(Options, size=40, method="fast"))
    seen = []

    def first(p):  # the picture before the optimiser's first step is the fast one
        seen.append(p.image())

    zero = make(Options, size=40, init="fast", steps=1, scales=1, lr=1e-12, optimizer="adam")
    st.picture(str(content), [str(style)], zero, first)
    a = np.asarray(fast, dtype=np.float32)
    b = np.asarray(seen[0], dtype=np.float32)
    assert np.abs(a - b).mean() < 2.0  # the same picture, but for rounding
    # one VGG-19 for both methods: its weights (and float32 kernels) loaded once
    assert st.weights is not None and st.start_with.refiner._weights is st.weights
    with pytest.raises(UsageError, match="init 'fast' needs"):
        painterly_stylizer(tiny).picture(str(content), [str(style)], opts)
    r = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", "--init", "fast",
                 "--size", "40", "--steps", "2", "--scales", "1"], cli_env)
    assert r.returncode == 0, r.stderr
    assert load_image(tmp_path / "o.png").size == (40, 32)


def painterly_stylizer(weights: str):
    import painterly

    return painterly.Stylizer(weights, "cpu")


@pytest.mark.skipif(not SHIPPED.exists(), reason="the fast model is not shipped yet")
def test_a_clip_with_method_fast(tmp_path, images, cli_env):
    pytest.importorskip("av")
    pytest.importorskip("cv2")
    from .video_clips import make_clip

    clip = make_clip(tmp_path / "in.mp4", n=4)
    out = tmp_path / "out.mp4"
    r = run_cli(["stylize", clip, images[1], "-o", out, "--method", "fast", "--size", "64",
                 "--frame-steps", "3"], cli_env)
    assert r.returncode == 0, r.stderr
    assert out.exists() and out.stat().st_size > 0
    # an optimised clip's flag is named, not dropped unsaid
    assert "note: --frame-steps has no effect with --method fast" in r.stderr


def test_the_bf16_path_follows_fp32(tmp_path):
    """bfloat16 runs on any CPU (native with AMX or AVX512-BF16, emulated elsewhere) and paints
    the picture float32 paints, within bfloat16's rounding."""
    c = _img(gradient_image(64, 48), tmp_path, "c.png")
    s = _img(stripes_image(48, 48), tmp_path, "s.png")
    opts = make(Options, size=64, method="fast", refine=0)  # the model; refining is the engine's
    pics = [np.asarray(FastMethod(tiny_model(), device="cpu", precision=p).picture(c, [s], opts),
                       dtype=float) for p in ("fp32", "bf16")]
    assert np.isfinite(pics[1]).all() and pics[1].std() > 1
    assert np.abs(pics[0] - pics[1]).mean() < 8  # mean difference under 8 of 255 levels


def test_the_precision_option_reaches_the_model(tmp_path):
    """``--precision`` of a call decides the model's arithmetic, as the method's own does,
    and a style's statistics are kept per precision."""
    c = _img(gradient_image(64, 48), tmp_path, "c.png")
    s = _img(stripes_image(48, 48), tmp_path, "s.png")
    built = {p: np.asarray(FastMethod(tiny_model(), device="cpu", precision=p).picture(
        c, [s], make(Options, size=64, method="fast", refine=0))) for p in ("fp32", "bf16")}
    assert not np.array_equal(built["fp32"], built["bf16"])
    m = FastMethod(tiny_model(), device="cpu")
    for p in ("fp32", "bf16"):
        got = m.picture(c, [s], make(Options, size=64, method="fast", refine=0, precision=p))
        assert np.array_equal(np.asarray(got), built[p])
    assert len(m._cache) == 2


@pytest.mark.skipif(not SHIPPED.exists(), reason="the fast model is not shipped yet")
def test_apply_refuses_the_any_painting_model_in_one_line(tmp_path, images, cli_env):
    # it took no painting and failed with a traceback, leaving an empty output folder
    content, style = images
    for out in (tmp_path / "o.png", tmp_path / "folder"):
        r = run_cli(["apply", SHIPPED, content, "-o", out], cli_env)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "--method fast" in r.stderr and not out.exists()
    with pytest.raises(UsageError, match="paints with a painting"):
        FastMethod(device="cpu").picture(load_image(content), [], make(Options, size=32))


def test_the_stylizer_never_optimises_options_of_another_method(tmp_path, images, tiny):
    # Stylizer().picture(..., Options(method="fast")) optimised silently; a style given
    # alone (not in a list) was read as a list of one-letter names
    content, style = images
    st = painterly_stylizer(tiny)
    with pytest.raises(UsageError, match="method 'fast'.*for_options"):
        st.picture(content, [style], make(Options, size=32, method="fast"))
    alone = st.picture(str(content), str(style), make(Options, size=32, steps=1, scales=1))
    listed = st.picture(str(content), [str(style)], make(Options, size=32, steps=1, scales=1))
    assert np.array_equal(np.asarray(alone), np.asarray(listed))


def test_no_temporal_paints_a_clips_frames_one_by_one(method, tmp_path, monkeypatch):
    # --no-temporal was taken by optimised clips only: fast clips were blended regardless
    from types import SimpleNamespace

    from painterly.fast import method as fm
    s = _img(stripes_image(), tmp_path, "s.png")
    opts = make(Options, size=32, method="fast", refine=0)
    frames = [to_tensor(gradient_image(32, 24, seed=i)) for i in range(3)]
    monkeypatch.setattr(method, "temporal", False)
    fn = method.frames([s], opts)
    for x in frames:
        torch.testing.assert_close(fn(x), method.paint_tensor(x, [s], opts))
    made = []
    monkeypatch.setattr(fm, "FastMethod", lambda *a, **kw: made.append(kw))
    fm.make(Runtime(device="cpu"), clip=SimpleNamespace(temporal=False))
    fm.make(Runtime(device="cpu"))
    assert [kw["temporal"] for kw in made] == [False, True]


def test_a_missing_vgg_with_init_fast_gives_the_optimisers_advice(tmp_path, images, cli_env):
    # the start's refining steps said "or --refine 0", which the optimiser cannot follow
    content, style = images
    r = run_cli(["stylize", content, style, "-o", tmp_path / "o.png", "--init", "fast",
                 "--size", "32", "--weights", tmp_path / "none.pt"], cli_env)
    assert r.returncode == 2 and "not found" in r.stderr and "--refine" not in r.stderr



def test_a_trained_fast_model_paints_from_the_command_line(tmp_path, images, tiny, cli_env):
    # a model made by train-fast had no command-line way to paint: --fast-model FILE
    import painterly

    content, style = images
    mf = tiny_model(seed=4)
    p = save_fast(tmp_path / "mine.safetensors", mf.state, mf.arch, {})
    out = tmp_path / "o.png"
    r = run_cli(["stylize", content, style, "-o", out, "--method", "fast", "--size", "32",
                 "--refine", "0", "--fast-model", p], cli_env)
    assert r.returncode == 0, r.stderr
    want = FastMethod(p, device="cpu").picture(
        load_image(content), [load_image(style)], make(Options, size=32, refine=0,
                                                       method="fast"))
    got = np.asarray(load_image(out).rgb * 255, dtype=float)
    assert np.abs(got - np.asarray(want, dtype=float)).max() <= 1
    api = painterly.stylize(str(content), str(style), method="fast", size=32, refine=0,
                            fast_model=str(p), weights=tiny)
    assert np.abs(np.asarray(api, dtype=float) - np.asarray(want, dtype=float)).max() <= 1
    r = run_cli(["stylize", content, style, "-o", tmp_path / "x.png", "--method", "fast",
                 "--size", "32", "--fast-model", tmp_path / "none.safetensors"], cli_env)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = run_cli(["apply", p, content, "-o", tmp_path / "y.png"], cli_env)
    assert r.returncode == 2 and f"--fast-model {p}" in r.stderr
