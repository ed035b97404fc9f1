"""painterly: neural style transfer (Gatys et al.) that is fast on CPUs and GPUs."""

__version__ = "0.1.0"

from .api import Stylizer, stylize  # noqa: E402
from .config import Options, options_schema  # noqa: E402
from .engine import Progress  # noqa: E402
from .errors import ImageError, Interrupted, PainterlyError, UsageError, WeightsError  # noqa: E402
from .nets import Network  # noqa: E402

__all__ = ["stylize", "Stylizer", "Options", "options_schema", "Progress", "PainterlyError",
           "UsageError", "ImageError", "WeightsError", "Interrupted", "Network", "__version__"]
