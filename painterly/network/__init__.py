"""Feed-forward style networks (Johnson et al. 2016): train once per style, apply in a
fraction of a second.

* :mod:`.transform` -- the network;
* :mod:`.modelfile` -- its file (safetensors + JSON, checked on reading);
* :mod:`.network`   -- :class:`~.network.Network`, the in-process API (``painterly.Network``);
* :mod:`.apply`     -- ``painterly apply``;
* :mod:`.train`     -- ``painterly train``;
* :mod:`.export`    -- ``painterly export``: the network as an ONNX graph;
* :mod:`.dist`      -- torchrun ranks and the process group;
* :mod:`.cli`       -- the subcommands' flags (no torch needed to build them).
"""
