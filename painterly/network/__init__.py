"""The room of feed-forward style networks (Johnson et al. 2016): train once per style,
apply in a fraction of a second.  Kind ``network`` (:mod:`painterly.methods`).

* :mod:`.transform` -- the network;
* :mod:`.modelfile` -- its file (safetensors + JSON naming the kind, checked on reading);
* :mod:`.network`   -- :class:`~.network.Network`, the in-process API (``painterly.Network``);
* :mod:`.method`    -- the method (:mod:`painterly.method`'s contract) and ``load``;
* :mod:`.steady`    -- the steadier of clips: grid lock and flow blend;
* :mod:`.options`   -- ApplyOptions, TrainOptions, TrainFiles;
* :mod:`.train`     -- ``painterly train`` (on :mod:`painterly.training`'s shared helpers);
* :mod:`.guard`     -- the checks of its outputs, a resume and the previews folder;
* :mod:`.estimate`  -- how long a training run will take here, measured before it starts;
* :mod:`.quality`   -- the quality figure kept in the model file, and its verdict;
* :mod:`.export`    -- ``painterly export``: the network as an ONNX graph;
* :mod:`.cli`       -- the flags of train and export (no torch needed to build them).
"""
