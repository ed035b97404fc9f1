"""L-BFGS on the image, one evaluation of the objective per step, guarded against blow-ups.

The classic neural-style optimiser: limited-memory BFGS without a line search, a fixed step
length ``lr`` along the quasi-Newton direction (Nocedal & Wright, "Numerical Optimization",
algorithm 7.4, the two-loop recursion).  It is written out here because constructing a
``torch.optim`` optimizer first imports ``torch._dynamo`` and sympy, which costs 1.7 s of
start-up on a 2-core CPU.

The first step, with no curvature known yet, is a gradient step.  Its default length is
Polyak's, ``lr * f / |g|^2``: the step along ``-g`` after which the loss's linear model
reaches zero, the lowest value a sum of non-negative terms (content, style, TV) can take.
The classic cautious length ``lr * min(1, 1 / |g|_1)`` (``first="cautious"``; then, without
the guard, the same steps as ``torch.optim.LBFGS(max_iter=1, line_search_fn=None)``, which a
test checks) moves a picture by about 1e-4 of its range: the evaluation that follows only
measures curvature.  That costs one step in six of ``--method fast``'s refining; with
Polyak's the loss fell as far in 6 steps as in 7-8 (docs/fast.md).  Near an optimum Polyak's
step overshoots; the guard then undoes it, at the one evaluation that the cautious step
spends anyway.  A loss that is not positive takes the cautious step.

The guard.  Without a line search a step can overshoot: the first quasi-Newton step, whose
curvature comes from one gradient step, and on a small network, or with the noisier
gradients of bfloat16, later ones too, send the loss up by orders of magnitude (and the huge
curvature pair such a point would add stalls every later step).  So every evaluated point is
compared with the last accepted one: a loss that rises by more than ``reject - 1`` times it
(default 1.5: by half), or one that is not finite, rejects the point.  The optimiser goes
back to the accepted point (whose gradient it still holds) and retries the same direction
``BACKTRACK`` (4) times shorter; the largest pixel change of a step then stays within that
trust radius, which doubles with every accepted step until it no longer binds.  A rejection
costs the one evaluation that found it; no pair is ever taken from a rejected point.
:class:`Best`, updated by the objective's closure at every evaluation (whatever the
optimiser), keeps the point with the lowest loss seen; the engine returns it at the end of
each scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


class Best:
    """The evaluated point with the lowest loss so far (a copy of it)."""

    def __init__(self) -> None:
        self.loss = float("inf")
        self.x: torch.Tensor | None = None

    def update(self, loss: float, x: torch.Tensor) -> None:
        if loss < self.loss:  # NaN never compares smaller, so it is never kept
            self.loss = loss
            self.x = x.detach().clone()

    def restore(self, x: torch.Tensor) -> None:
        """Copy the best point into ``x`` (in place), if one was seen."""
        if self.x is not None:
            with torch.no_grad():
                x.copy_(self.x)


class LBFGS:
    """Minimise ``closure()`` (which sets ``x.grad`` and returns the loss) over ``x``, in place.

    ``reject``: a point whose loss exceeds the last accepted loss f by more than
    ``(reject - 1) * |f|`` is rejected
    (see the module docstring); ``None`` turns the guard off (plain L-BFGS).  ``first``:
    the first step's length, ``"polyak"`` or ``"cautious"`` (the module docstring)."""

    BACKTRACK = 4.0  # a rejected step is retried this many times shorter
    GROW = 2.0  # after a shortened step is accepted, the next may be this much longer

    def __init__(self, x: torch.Tensor, lr: float = 1.0, history: int = 50,
                 reject: float | None = 1.5, first: str = "polyak"):
        if first not in ("polyak", "cautious"):
            raise ValueError(f"first: 'polyak' or 'cautious', not {first!r}")
        self.x = x
        self.first = first
        self.lr = lr
        self.history = max(1, history)
        self.reject = reject
        self.pairs: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (s, y, 1/ys)
        self.gamma = 1.0  # scale of the initial inverse Hessian, s.y / y.y of the newest pair
        self.rejected = 0  # how many points the guard rejected
        self.radius = float("inf")  # largest pixel change a step may make (after a rejection)
        self._prev_grad: torch.Tensor | None = None  # gradient at the last accepted point
        self._prev_step: torch.Tensor | None = None  # the step taken from it
        self._prev_loss = float("inf")

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

    def _first_step(self, g: torch.Tensor, f: float) -> torch.Tensor:
        """A gradient step of Polyak's length (a positive loss ``f``) or the cautious one."""
        if self.first == "polyak" and f > 0:
            t = f / max(float(g.dot(g)), 1e-30)
        else:
            t = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-30))
        return g.neg().mul_(t * self.lr)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor], move: bool = True) -> torch.Tensor:
        """Evaluate the objective at ``x``, then (unless ``move`` is False) step."""
        with torch.enable_grad():
            loss = closure()
        f = float(loss)
        g = self.x.grad.detach().reshape(-1).clone()
        bad = not (f == f and abs(f) != float("inf")) or (
            self.reject is not None and self._prev_grad is not None
            and f - self._prev_loss > (self.reject - 1) * abs(self._prev_loss))
        if bad and self._prev_step is not None:
            # back to the accepted point; retry the same direction, BACKTRACK times shorter
            self.rejected += 1
            self.x.sub_(self._prev_step.view_as(self.x))
            size = float(self._prev_step.abs().max())
            self.radius = size / self.BACKTRACK
            if move:
                step = self._prev_step.mul_(1.0 / self.BACKTRACK)
                self.x.add_(step.view_as(self.x))
                self._prev_step = step
            else:
                self._prev_step = None
            return loss
        if not move:
            return loss
        if self._prev_grad is not None:
            y = g - self._prev_grad
            s = self._prev_step
            ys = y.dot(s)
            if ys > 1e-10:  # keep the pair only where the curvature is positive
                if len(self.pairs) == self.history:
                    self.pairs.pop(0)
                self.pairs.append((s, y, 1.0 / ys))
                self.gamma = float(ys / y.dot(y))
            step = self.direction(g).mul_(self.lr)
        else:
            step = self._first_step(g, f)
        size = float(step.abs().max())
        if size > self.radius:  # within the trust radius left by the last rejection
            step.mul_(self.radius / size)
            self.radius *= self.GROW
        else:
            self.radius = float("inf")
        self.x.add_(step.view_as(self.x))
        self._prev_grad, self._prev_step, self._prev_loss = g, step, f
        return loss
