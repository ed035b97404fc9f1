"""Export a ``painterly train-fast`` checkpoint as the shipped fast model.

    PYTHONPATH=. python tools/export_fast.py RUN/fast.safetensors.ckpt \
        [-o painterly/data/fast.safetensors] [--planned-steps N]

The optimizer state is left out; the metadata keeps how the model was made (photos, steps,
options, seconds trained, painterly version) and says whether it is an intermediate model.
Prints the file's size and sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    from painterly.fast.modelfile import SHIPPED, export, load_fast

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("-o", "--output", default=str(SHIPPED))
    ap.add_argument("--planned-steps", type=int, default=None)
    a = ap.parse_args()
    p = export(a.checkpoint, a.output, a.planned_steps)
    mf = load_fast(p)
    sha = hashlib.sha256(p.read_bytes()).hexdigest()
    print(f"wrote {p}: {p.stat().st_size / 2 ** 20:.1f} MB, {mf.meta['steps']} steps, "
          f"intermediate {mf.meta['intermediate']}, file sha256 {sha}")


if __name__ == "__main__":
    main()
