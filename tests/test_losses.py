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
