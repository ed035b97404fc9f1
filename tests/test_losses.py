"""The maths of the content and smoothness terms: values, gradients, zeros where they must
be (the style statistics are in tests/test_statistics.py)."""

import torch

from painterly import losses


def test_content_loss_of_image_against_itself_is_zero():
    f = {"relu1_1": torch.rand(1, 4, 6, 6), "relu2_1": torch.rand(1, 8, 3, 3)}
    assert losses.content_loss(f, f).item() == 0.0
    g = {k: v + 1 for k, v in f.items()}
    assert losses.content_loss(f, g, {"relu1_1": 0.5, "relu2_1": 2.0}).item() == 2.5


def test_content_loss_is_mean_squared_error():
    a, b = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2) * 3
    assert losses.content_layer_loss(a, b).item() == 9.0


def test_tv_loss_hand_computed():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]]]])  # C=1, H=2, W=2
    # vertical diffs: (1-0)^2 + (1-1)^2 = 1; horizontal: (1-0)^2 + (1-1)^2 = 1 -> 2 / 4
    assert torch.isclose(losses.tv_loss(x), torch.tensor(0.5))
    assert losses.tv_loss(torch.ones(1, 3, 5, 5)).item() == 0.0


def test_gradients_gradcheck():
    torch.manual_seed(0)
    f = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    p = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: (x - p).pow(2).mean(), (f,))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(losses.tv_loss, (x,))


def _gridded(period: int, seed: int = 0) -> torch.Tensor:
    """Noise over blocks of ``period`` pixels that alternate in brightness: a step at every
    boundary of one phase of the columns and of the rows (a period-``period`` grid)."""
    g = torch.Generator().manual_seed(seed)
    i = torch.arange(64)
    blocks = 0.2 * ((i // period) % 2).float()
    x = torch.rand(1, 1, 64, 64, generator=g) * 0.2 + blocks[None, :] + blocks[:, None]
    return x.expand(1, 3, 64, 64).clone()


def test_grid_loss_sees_the_period_it_is_given_and_nothing_in_noise():
    from painterly.scoring import grid_strength

    noise = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    gridded = _gridded(4)
    assert losses.grid_loss(noise, 4) < 0.02
    assert losses.grid_loss(gridded, 4) > 0.3
    # it measures what the scorer does: the gridded picture stands out there too
    assert grid_strength(gridded[0, 0].numpy(), (4,)) > 1.3
    assert grid_strength(noise[0, 0].numpy(), (4,)) < 1.15
    assert losses.grid_loss(torch.full((1, 3, 16, 16), 0.5), 4) == 0.0  # flat: no steps
    assert losses.grid_loss(torch.rand(1, 3, 3, 3), 4) == 0.0  # smaller than one period


def test_grid_loss_is_batch_consistent_and_its_gradient_removes_the_grid():
    x = _gridded(4)
    two = torch.cat([x, x])
    assert torch.isclose(losses.grid_loss(two, 4), losses.grid_loss(x, 4))
    y = x.clone().requires_grad_(True)
    opt = torch.optim.Adam([y], lr=0.01)
    first = losses.grid_loss(y, 4).item()
    for _ in range(100):
        opt.zero_grad()
        losses.grid_loss(y, 4).backward()
        opt.step()
    assert losses.grid_loss(y, 4).item() < 0.1 * first
