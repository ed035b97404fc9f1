"""Layer names, truncation, frozen weights, preprocessing."""

import pytest
import torch

from painterly import vgg, weights
from painterly.errors import UsageError


def test_layer_names_and_aliases():
    names = vgg.layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert "conv5_4" in names and "conv5_4" not in vgg.layer_names("vgg16")
    assert vgg.canonical("block4_conv2") == "relu4_2"
    assert vgg.canonical("block4_relu2") == "relu4_2"
    assert vgg.canonical("block3_pool") == "pool3"
    assert vgg.canonical("RELU4_2") == "relu4_2"
    with pytest.raises(UsageError):
        vgg.canonical("relu9_1")
    with pytest.raises(UsageError):
        vgg.canonical("conv5_4", "vgg16")


def test_truncated_after_deepest_layer_and_frozen():
    w = weights.random_weights("vgg19", width=1 / 16)
    net = vgg.build(w, ["relu1_1", "relu3_1"])
    assert net.names[-1] == "relu3_1"
    assert "conv3_2" not in net.convs
    assert all(not p.requires_grad for p in net.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    out = net(x, {"relu1_1", "relu3_1", "conv3_1"} - {"conv3_1"})
    assert set(out) == {"relu1_1", "relu3_1"}
    assert out["relu3_1"].shape[-1] == 8
    out["relu3_1"].sum().backward()
    assert x.grad is not None and all(p.grad is None for p in net.parameters())


def test_avg_pooling_and_conv_outputs_kept():
    w = weights.random_weights("vgg16", width=1 / 16)
    net = vgg.build(w, ["conv2_1", "relu2_1", "pool2"], pooling="avg")
    out = net(torch.rand(1, 3, 16, 16), ["conv2_1", "relu2_1", "pool2"])
    assert torch.equal(out["relu2_1"], out["conv2_1"].clamp(min=0))
    assert out["pool2"].shape[-1] == 4


def test_preprocessing_conventions():
    x = torch.full((1, 3, 2, 2), 0.5)
    caffe = vgg.build(weights.random_weights(preprocess="caffe", width=1 / 16), ["relu1_1"])
    y = caffe.prepare(x)
    # BGR order, 0..255, mean pixel subtracted
    assert torch.allclose(y[0, :, 0, 0], torch.tensor([127.5 - 103.939, 127.5 - 116.779,
                                                       127.5 - 123.68]), atol=1e-3)
    tv = vgg.build(weights.random_weights(preprocess="torch", width=1 / 16), ["relu1_1"])
    z = tv.prepare(x)
    assert torch.allclose(z[0, :, 0, 0], (0.5 - torch.tensor([0.485, 0.456, 0.406]))
                          / torch.tensor([0.229, 0.224, 0.225]), atol=1e-5)
