"""Run by tests/test_nets.py under torchrun (and alone): train a tiny network for a few
steps, then every process writes the weights it holds to DIR/rank{RANK}.safetensors."""

import sys
from pathlib import Path

from safetensors.torch import save_file

from painterly.config import Runtime, make
from painterly.dist import world
from painterly.network.options import TrainOptions
from painterly.network.train import train

style, photos, out, weights, ranks_dir = sys.argv[1:6]
topts = make(TrainOptions, steps=3, batch=4, crop=32, photo_size=40, width=4, blocks=1,
             downs=2, holdout=1, precision="fp32", preview_every=0, checkpoint_every=0)
done = train(style, photos, out, topts, Runtime(weights=weights, device="cpu"), quiet=True)
state = {k: v.detach().contiguous() for k, v in done.net.state_dict().items()}
save_file(state, str(Path(ranks_dir) / f"rank{world().rank}.safetensors"))
