"""The optimisation method (Gatys et al.): an image found by optimising the perceptual
objective (:mod:`painterly.engine`, :mod:`painterly.objective`).

* :mod:`.stylizer` -- :class:`~.stylizer.Stylizer`, the method object (``painterly.Stylizer``);
* :mod:`.clips`    -- the frames of a clip, steadied by the temporal loss.
"""
