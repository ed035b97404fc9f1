"""With the real VGG-19 (when cached): a short run stylizes a small generated image."""

import pytest

import painterly
from painterly import weights

from .conftest import gradient_image, stripes_image

CACHED = weights.cached_path().exists()


@pytest.mark.slow
@pytest.mark.skipif(not CACHED, reason="real VGG-19 weights not cached "
                                       "(run 'painterly weights --fetch')")
def test_real_vgg19_short_run():
    w = weights.load_weights(weights.cached_path())
    assert (w.arch, w.preprocess) == ("vgg19", "caffe")
    seen = []
    img = painterly.stylize(gradient_image(64, 48), stripes_image(64, 64), size=64, steps=10,
                            scales=1, callback=seen.append, weights=str(weights.cached_path()))
    assert img.size == (64, 48)
    assert seen[-1].losses["style"] < 0.5 * seen[0].losses["style"]
