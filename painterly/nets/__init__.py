"""Feed-forward style networks (Johnson et al. 2016): train once per style, apply in a
fraction of a second.

* :mod:`.transform` -- the network;
* :mod:`.modelfile` -- its file (safetensors + JSON, checked on reading);
* :mod:`.network`   -- :class:`Network`, the in-process API;
* :mod:`.apply`     -- ``painterly apply``;
* :mod:`.dist`      -- torchrun ranks and the process group.
"""

from .modelfile import ModelError, load_model, save_model
from .network import Network
from .transform import Arch, TransformNet

__all__ = ["Arch", "TransformNet", "Network", "ModelError", "load_model", "save_model"]
