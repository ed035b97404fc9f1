"""painterly: neural style transfer (Gatys et al.) that is fast on CPUs and GPUs.

The names below are imported on first use, so that ``import painterly.cli`` (and with it
the handling of Ctrl-C) is quick and does not wait for torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {"stylize": "api", "Stylizer": "api", "Options": "config",
          "options_schema": "config", "Progress": "engine", "PainterlyError": "errors",
          "UsageError": "errors", "ImageError": "errors", "WeightsError": "errors",
          "Interrupted": "errors"}

__all__ = ["stylize", "Stylizer", "Options", "options_schema", "Progress", "PainterlyError",
           "UsageError", "ImageError", "WeightsError", "Interrupted", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from .api import Stylizer, stylize
    from .config import Options, options_schema
    from .engine import Progress
    from .errors import ImageError, Interrupted, PainterlyError, UsageError, WeightsError


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'painterly' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
