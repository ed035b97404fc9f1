"""Regenerate the options tables of README.md from painterly's options dataclasses."""

from pathlib import Path

from painterly.config import ClipOutput, Extras, FolderFormat, SweepOptions, options_markdown
from painterly.fast.options import FastTrainOptions
from painterly.network.options import ApplyOptions, TrainFiles, TrainOptions
from painterly.optimise.clips import ClipOptions
from painterly.web.options import ServeOptions

COMMANDS = [  # (what, option classes) of the commands' own options
    ("`stylize` of a clip", [ClipOptions, ClipOutput]),
    ("`stylize`: what else is written", [Extras]),
    ("`apply` (also `--device`)", [ApplyOptions, FolderFormat, ClipOutput]),
    ("`sweep`", [SweepOptions, FolderFormat]),
    ("`train`: files", [TrainFiles]),
    ("`serve` (also `--weights`, `--device`, `--photos`)", [ServeOptions]),
]


def command_tables() -> str:
    return "\n".join(f"{what}:\n\n{options_markdown(classes)}" for what, classes in COMMANDS)


TABLES = {"OPTIONS": lambda: options_markdown(),
          "COMMAND-OPTIONS": command_tables,
          "TRAIN-OPTIONS": lambda: options_markdown([TrainOptions]),
          "FAST-TRAIN-OPTIONS": lambda: options_markdown([FastTrainOptions])}


def updated(text: str) -> str:
    for name, table in TABLES.items():
        begin, end = f"<!-- {name}:BEGIN -->\n", f"<!-- {name}:END -->"
        a, b = text.index(begin) + len(begin), text.index(end)
        text = text[:a] + table() + text[b:]
    return text


if __name__ == "__main__":
    readme = Path(__file__).resolve().parents[1] / "README.md"
    readme.write_text(updated(readme.read_text()))
    print(f"updated {readme}")
