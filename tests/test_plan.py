"""The coarse-to-fine schedule and the speed-related engine helpers (no real weights)."""

from __future__ import annotations

import torch

from painterly import engine, vgg
from painterly.config import Options
from painterly.weights import load_weights, random_weights, save_weights


def sides(scales: list[engine.Scale]) -> list[int]:
    return [max(s.height, s.width) for s in scales]


def test_auto_plan_is_coarse_to_fine() -> None:
    scales = engine.plan(Options(size=512), (384, 512))
    assert sides(scales) == [256, 512]
    assert scales[-1].steps == engine.default_steps(Options(), 512)
    assert scales[0].steps == engine.COARSE_FACTOR * scales[-1].steps
    assert (scales[-1].height, scales[-1].width) == (384, 512)


def test_small_outputs_use_one_scale() -> None:
    assert sides(engine.plan(Options(size=256), (192, 256))) == [256]


def test_large_outputs_use_more_scales_and_fewer_final_steps() -> None:
    big = engine.plan(Options(size=2048), (1536, 2048))
    assert sides(big) == [256, 512, 1024, 2048]
    assert big[-1].steps < engine.default_steps(Options(), 512)
    assert all(s.steps <= max(engine.COARSE_CAP, big[-1].steps) for s in big)


def test_explicit_steps_and_scales() -> None:
    scales = engine.plan(Options(steps=10, scales=3), (300, 400))
    assert sides(scales) == [100, 200, 400]
    f = engine.COARSE_FACTOR
    assert [s.steps for s in scales] == [10 * f * f, 10 * f, 10]
    single = engine.plan(Options(steps=7, scales=1), (300, 400))
    assert [(s.height, s.width, s.steps) for s in single] == [(300, 400, 7)]


def test_adam_gets_more_steps() -> None:
    assert engine.default_steps(Options(optimizer="adam"), 512) == \
        engine.ADAM_FACTOR * engine.default_steps(Options(), 512)


def test_lbfgs_history_is_capped_for_huge_images() -> None:
    assert engine.lbfgs_history(3 * 64 * 64, 1000) == engine.LBFGS_HISTORY
    assert engine.lbfgs_history(3 * 64 * 64, 8) == 8
    assert engine.lbfgs_history(3 * 8192 * 8192, 1000) == 5


def test_run_with_tiny_network(tmp_path) -> None:
    path = tmp_path / "tiny.pt"
    save_weights(random_weights(width=1 / 16), path)
    layers = ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1"]
    net = vgg.build(load_weights(path), layers)
    content, style = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 40, 40)
    seen: list[tuple[int, int]] = []
    opts = Options(size=64, steps=2, scales=2, precision="fp32")
    out = engine.run(content, [style], opts, net,
                     callback=lambda p: seen.append((p.height, p.width)))
    assert out.shape == (1, 3, 48, 64)
    assert seen == [(24, 32)] * 2 * engine.COARSE_FACTOR + [(48, 64)] * 2
    assert torch.isfinite(out).all()


def test_scales_stop_at_sixteen_pixels() -> None:
    """--scales 8 at 64 px optimised six scales of 16 px, one after the other, each with
    its own (up to 120) steps: no two scales of the same side now (one below 16 px is
    painted at 16 px, as with --scales 3 at 48 px)."""
    scales = engine.plan(Options(steps=1, scales=8), (43, 64))
    assert sides(scales) == [16, 32, 64]
    assert [s.steps for s in scales] == [9, 3, 1]
    assert sides(engine.plan(Options(steps=1, scales=8), (4, 100))) == [16, 25, 50, 100]
    assert sides(engine.plan(Options(steps=1, scales=3), (38, 48))) == [16, 24, 48]
    assert len(engine.plan(Options(scales=3), (16, 16))) == 1
    assert sides(engine.plan(Options(steps=1, scales=2), (43, 64))) == [32, 64]  # as asked
