"""painterly: neural style transfer (Gatys et al.) that is fast on CPUs and GPUs.

The names that need torch (``stylize``, ``Stylizer``, ``Progress``, ``PerceptualLoss``,
``Network``) are imported on first use, so that ``import painterly.cli`` (and ``painterly
--help``) does not load torch."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import Options, Runtime, options_schema
from .errors import ImageError, Interrupted, PainterlyError, UsageError, WeightsError
from .version import __version__

_LAZY = {"stylize": "pyapi", "Stylizer": "optimise.stylizer", "Progress": "engine",
         "PerceptualLoss": "objective", "Network": "network.network"}

__all__ = ["stylize", "Stylizer", "Options", "Runtime", "options_schema", "Progress",
           "PerceptualLoss", "PainterlyError", "UsageError", "ImageError", "WeightsError",
           "Interrupted", "Network", "__version__"]

if TYPE_CHECKING:
    from .engine import Progress
    from .network.network import Network
    from .objective import PerceptualLoss
    from .optimise.stylizer import Stylizer
    from .pyapi import stylize


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
