"""The L-BFGS optimiser: the same iterates as torch's (cautious first step), Polyak's first
step, and it minimises."""

import math

import pytest
import torch

from painterly.optim import LBFGS, Best


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
        return LBFGS(x, lr=0.5, history=h, reject=None, first="cautious")

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


def _flat_then_steep(x: torch.Tensor) -> torch.Tensor:
    """sum sqrt(1 + (x - 3)^2): nearly flat where it starts, so the first quasi-Newton step,
    from the curvature of one tiny gradient step, lands far beyond the minimum at 3."""
    return torch.sqrt(1 + (x - 3).pow(2)).sum()


def _descend(reject, steps=30):
    x = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = LBFGS(x, lr=1.0, history=10, reject=reject, first="cautious")
    best = Best()
    seen = []

    def closure():
        opt.zero_grad()
        loss = _flat_then_steep(x)
        loss.backward()
        best.update(float(loss.detach()), x)
        return loss

    for _ in range(steps):
        seen.append(float(opt.step(closure).detach()))
    return seen, opt, x, best


def test_plain_lbfgs_overshoots_here():
    seen, _, _, _ = _descend(None)
    assert max(seen) > 5 * seen[0]


def test_guard_rejects_overshoots_and_keeps_the_best_point():
    seen, opt, x, best = _descend(1.5)
    assert opt.rejected >= 1
    assert all(math.isfinite(v) for v in seen)
    assert best.loss == min(seen) and best.loss < 4 + 1e-6  # the minimum is 4
    best.restore(x)
    assert float(_flat_then_steep(x.detach())) == best.loss
    assert torch.allclose(x.detach(), torch.full((4,), 3.0, dtype=torch.float64), atol=1e-3)
    # accepted points never rise by half: every rise that large was rejected and undone
    accepted = [v for v in seen if v <= 1.5 * seen[0]]
    assert accepted[-1] <= accepted[0]


def test_rejected_point_is_never_a_curvature_pair():
    x = torch.tensor([0.0, 0.0], dtype=torch.float64, requires_grad=True)
    calls = iter([1.0, 1000.0, 0.5, 0.4, 0.3])
    opt = LBFGS(x, history=5, first="cautious")

    def closure():
        opt.zero_grad()
        v = next(calls)
        (x * torch.tensor([1.0, 2.0], dtype=torch.float64)).sum().backward()
        return torch.tensor(v)

    opt.step(closure)
    start = x.detach().clone()
    opt.step(closure)  # 1000 > 1.5 x 1: rejected, and the retry is 4 times shorter
    assert opt.rejected == 1 and opt.pairs == []
    assert torch.isfinite(x).all() and (x.detach() - start).abs().max() > 0


def _first_step_of(f, x0, **kw) -> tuple[torch.Tensor, LBFGS]:
    x = x0.clone().requires_grad_(True)
    opt = LBFGS(x, **kw)

    def closure():
        opt.zero_grad()
        loss = f(x)
        loss.backward()
        return loss

    opt.step(closure)
    return x.detach(), opt


def test_polyak_first_step_goes_where_the_linear_model_reaches_zero():
    # f = |x|^2: g = 2x, f / |g|^2 = 1/4, so the step halves x (and quarters f)
    x0 = torch.tensor([3.0, -1.0, 0.5], dtype=torch.float64)
    x1, _ = _first_step_of(lambda x: x.pow(2).sum(), x0)
    assert torch.allclose(x1, x0 / 2)
    x1, _ = _first_step_of(lambda x: x.pow(2).sum(), x0, lr=0.5)  # lr scales it
    assert torch.allclose(x1, x0 * 0.75)
    # the cautious step moves by 1 / |g|_1 of the gradient only
    x1, _ = _first_step_of(lambda x: x.pow(2).sum(), x0, first="cautious")
    g = 2 * x0
    assert torch.allclose(x1, x0 - g / g.abs().sum())


def test_polyak_needs_a_positive_loss():
    # a loss below zero (|x|^2 - 100 here) takes the cautious step
    x0 = torch.tensor([3.0, -1.0], dtype=torch.float64)
    x1, _ = _first_step_of(lambda x: x.pow(2).sum() - 100.0, x0)
    g = 2 * x0
    assert torch.allclose(x1, x0 - g / g.abs().sum())
    with pytest.raises(ValueError, match="polyak"):
        LBFGS(x0.clone(), first="newton")


def test_polyak_first_step_descends_further_in_few_steps():
    # a badly scaled positive objective: the cautious start wastes its first evaluation
    def f(x):
        return (torch.tensor([1.0, 10.0, 100.0], dtype=torch.float64) * x.pow(2)).sum() + 0.1

    def loss_after(first, steps=4):
        x = torch.ones(3, dtype=torch.float64, requires_grad=True)
        opt = LBFGS(x, first=first)

        def closure():
            opt.zero_grad()
            loss = f(x)
            loss.backward()
            return loss

        for _ in range(steps):
            opt.step(closure)
        return float(f(x.detach()))

    assert loss_after("polyak") < 0.75 * loss_after("cautious")  # 0.87 against 1.76
