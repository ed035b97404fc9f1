"""The maths: Gram normalisation, gradients, zeros where they must be."""

import torch

from painterly import losses


def test_gram_matches_hand_computed_values():
    # one image, N=2 channels, M=3 positions (1 x 3)
    f = torch.tensor([[[[1.0, 2.0, 3.0]], [[0.0, 1.0, -1.0]]]])
    # F F^T = [[1+4+9, 0+2-3], [.., 0+1+1]] = [[14, -1], [-1, 2]], divided by N*M = 6
    expected = torch.tensor([[14.0, -1.0], [-1.0, 2.0]]) / 6.0
    assert torch.allclose(losses.gram(f)[0], expected)


def test_gram_and_its_gradient_do_not_depend_on_the_memory_layout():
    f = torch.randn(1, 6, 5, 7, dtype=torch.float64)
    a = f.clone().requires_grad_(True)
    b = f.clone().contiguous(memory_format=torch.channels_last).requires_grad_(True)
    assert not b.is_contiguous()
    ga, gb = losses.gram(a), losses.gram(b)
    assert torch.allclose(ga, gb)
    (ga.pow(2).sum()).backward()
    (gb.pow(2).sum()).backward()
    assert torch.allclose(a.grad, b.grad)


def test_style_layer_loss_is_gatys_normalisation():
    torch.manual_seed(0)
    f = torch.randn(1, 3, 4, 5)
    s = torch.randn(1, 3, 4, 5)
    n, m = 3, 20
    big_g = f.reshape(3, 20) @ f.reshape(3, 20).T
    big_a = s.reshape(3, 20) @ s.reshape(3, 20).T
    expected = ((big_g - big_a) ** 2).sum() / (4 * n**2 * m**2)
    got = losses.style_layer_loss(losses.gram(f), losses.gram(s))
    assert torch.allclose(got, expected, rtol=1e-5)


def test_style_loss_of_image_against_itself_is_zero():
    f = {"relu1_1": torch.rand(1, 4, 6, 6), "relu2_1": torch.rand(1, 8, 3, 3)}
    targets = {k: losses.gram(v) for k, v in f.items()}
    assert losses.style_loss(f, targets, {"relu1_1": 0.5, "relu2_1": 0.5}).item() == 0.0
    assert losses.content_loss(f, f).item() == 0.0


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
    a = losses.gram(torch.randn(1, 2, 3, 3, dtype=torch.float64)).double()

    def style(x):
        g = x.reshape(1, 2, 9)
        g = torch.bmm(g, g.transpose(1, 2)) / 18
        return losses.style_layer_loss(g, a)

    assert torch.autograd.gradcheck(style, (f,))
    p = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: (x - p).pow(2).mean(), (f,))
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(losses.tv_loss, (x,))
