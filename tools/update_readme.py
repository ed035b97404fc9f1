"""Regenerate the options tables of README.md from painterly's options dataclasses."""

from pathlib import Path

from painterly.config import options_markdown
from painterly.fast.options import FastTrainOptions
from painterly.nets.options import TrainOptions

TABLES = {"OPTIONS": lambda: options_markdown(),
          "TRAIN-OPTIONS": lambda: options_markdown([TrainOptions]),
          "FAST-TRAIN-OPTIONS": lambda: options_markdown([FastTrainOptions])}

readme = Path(__file__).resolve().parents[1] / "README.md"
text = readme.read_text()
for name, table in TABLES.items():
    begin, end = f"<!-- {name}:BEGIN -->\n", f"<!-- {name}:END -->"
    a, b = text.index(begin) + len(begin), text.index(end)
    text = text[:a] + table() + text[b:]
readme.write_text(text)
print(f"updated {readme}")
