"""The L-BFGS optimiser: the same iterates as torch's, and it minimises."""

import torch

from painterly.optim import LBFGS


def rosenbrock(x: torch.Tensor) -> torch.Tensor:
    return ((1 - x[..., :-1]).pow(2) + 100 * (x[..., 1:] - x[..., :-1].pow(2)).pow(2)).sum()


def run(make, steps: int, history: int) -> list[torch.Tensor]:
    torch.manual_seed(0)
    x = (torch.rand(2, 6, dtype=torch.float64) * 0.5).requires_grad_(True)
    opt = make(x, history)

    def closure():
        opt.zero_grad()
        loss = rosenbrock(x)
        loss.backward()
        return loss

    out = []
    for _ in range(steps):
        opt.step(closure)
        out.append(x.detach().clone())
    return out


def test_same_iterates_as_torch_lbfgs_without_line_search():
    def ours(x, h):
        return LBFGS(x, lr=0.5, history=h)

    def torchs(x, h):
        return torch.optim.LBFGS([x], lr=0.5, max_iter=1, history_size=h,
                                 tolerance_grad=-1.0, tolerance_change=-1.0)

    # history 4 < 30 steps: the oldest pairs are dropped as in torch
    for a, b in zip(run(ours, 30, 4), run(torchs, 30, 4), strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_minimises_a_quadratic_fast():
    torch.manual_seed(0)
    a = torch.randn(20, 20, dtype=torch.float64)
    h = a @ a.T + 20 * torch.eye(20, dtype=torch.float64)
    b = torch.randn(20, dtype=torch.float64)
    x = torch.zeros(20, dtype=torch.float64, requires_grad=True)
    opt = LBFGS(x, history=20)

    def closure():
        opt.zero_grad()
        loss = 0.5 * x @ h @ x - b @ x
        loss.backward()
        return loss

    for _ in range(40):
        opt.step(closure)
    assert torch.allclose(x.detach(), torch.linalg.solve(h, b), atol=1e-6)
