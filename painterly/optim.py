"""L-BFGS on the image, one evaluation of the objective per step.

The classic neural-style optimiser: limited-memory BFGS without a line search, a fixed step
length ``lr`` along the quasi-Newton direction (Nocedal & Wright, "Numerical Optimization",
algorithm 7.4, the two-loop recursion).  The first step, with no curvature known yet, is a
gradient step of length ``lr * min(1, 1 / |g|_1)``.  It takes the same steps as
``torch.optim.LBFGS(max_iter=1, line_search_fn=None)`` (a test checks this) and is written out
here because constructing a ``torch.optim`` optimizer first imports ``torch._dynamo`` and
sympy, which costs 1.7 s of start-up on a 2-core CPU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class LBFGS:
    """Minimise ``closure()`` (which sets ``x.grad``) over the tensor ``x``, in place."""

    def __init__(self, x: torch.Tensor, lr: float = 1.0, history: int = 50):
        self.x = x
        self.lr = lr
        self.history = max(1, history)
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1/ys)
        self.gamma = 1.0  # scale of the initial inverse Hessian, s.y / y.y of the newest pair
        self._prev_grad: torch.Tensor | None = None
        self._prev_step: torch.Tensor | None = None

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.x.grad = None

    def direction(self, g: torch.Tensor) -> torch.Tensor:
        """-H g by the two-loop recursion over the stored pairs."""
        q = -g
        alphas = []
        for s, y, rho in reversed(self.pairs):
            a = rho * s.dot(q)
            q.add_(y, alpha=-a)
            alphas.append(a)
        q.mul_(self.gamma)
        for (s, y, rho), a in zip(self.pairs, reversed(alphas)):
            b = rho * y.dot(q)
            q.add_(s, alpha=a - b)
        return q

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:
        with torch.enable_grad():
            loss = closure()
        g = self.x.grad.detach().reshape(-1).clone()
        if self._prev_grad is not None:
            y = g - self._prev_grad
            s = self._prev_step
            ys = y.dot(s)
            if ys > 1e-10:  # keep the pair only where the curvature is positive
                if len(self.pairs) == self.history:
                    self.pairs.pop(0)
                self.pairs.append((s, y, 1.0 / ys))
                self.gamma = float(ys / y.dot(y))
            t = self.lr
        else:
            t = min(1.0, 1.0 / float(g.abs().sum())) * self.lr
        d = self.direction(g)
        step = d.mul_(t)
        self.x.add_(step.view_as(self.x))
        self._prev_grad, self._prev_step = g, step
        return loss
