"""Progress bars on stderr (tqdm), set up in this one place for every command."""

from __future__ import annotations

import sys
from typing import Any


def bar(total: int, unit: str, desc: str | None = None, initial: int = 0) -> Any:
    """A plain bar: ``desc``, percentage, count, elapsed and rate."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=sys.stderr,
                dynamic_ncols=True)


def step_bar(total: int) -> Any:
    """A bar that reads like any other (elapsed<left, rate, then the losses), with the
    time left taken from the engine's estimate (set ``bar.eta``): the steps of a coarse
    scale are much cheaper than those of the output size, so tqdm's own rate-based estimate
    would be far too low."""
    from tqdm import tqdm

    class Bar(tqdm):
        eta = float("nan")

        @property
        def format_dict(self):
            d = super().format_dict
            d["left"] = "?" if self.eta != self.eta else tqdm.format_interval(self.eta)
            return d

    return Bar(total=total, unit="step", file=sys.stderr, dynamic_ncols=True,
               bar_format="{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} "
                          "[{elapsed}<{left}, {rate_fmt}{postfix}]")


def line(text: str) -> None:
    """One line on stderr, above any bar being drawn there (not glued to its end): tqdm
    clears the bars, writes the line and draws them again."""
    if "tqdm" in sys.modules:  # a bar may be on the screen
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)
    else:
        print(text, file=sys.stderr)
