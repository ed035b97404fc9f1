"""Regenerate the options tables of README.md and docs/ from painterly's options dataclasses."""

from pathlib import Path

from painterly.config import ClipOutput, Extras, FolderFormat, SweepOptions, options_markdown
from painterly.fast.options import FastTrainOptions
from painterly.network.options import ApplyOptions, TrainFiles, TrainOptions
from painterly.optimise.clips import ClipOptions
from painterly.web.options import ServeOptions

ROOT = Path(__file__).resolve().parents[1]

COMMANDS = [  # (what, option classes) of the commands' own options
    ("`stylize` of a clip", [ClipOptions, ClipOutput]),
    ("`stylize`: what else is written", [Extras]),
    ("`apply` (also `--device`)", [ApplyOptions, FolderFormat, ClipOutput]),
    ("`sweep`", [SweepOptions, FolderFormat]),
    ("`train`: files", [TrainFiles]),
    ("`serve` (also `--weights`, `--fast-model`, `--device`, `--photos`)",
     [ServeOptions]),
]


def command_tables() -> str:
    return "\n".join(f"{what}:\n\n{options_markdown(classes)}" for what, classes in COMMANDS)


# marker -> (the file that holds the table, the table)
TABLES = {"OPTIONS": ("README.md", lambda: options_markdown()),
          "COMMAND-OPTIONS": ("docs/options.md", command_tables),
          "CLIP-OPTIONS": ("docs/video.md", lambda: options_markdown([ClipOutput])),
          "TRAIN-OPTIONS": ("docs/networks.md", lambda: options_markdown([TrainOptions])),
          "FAST-TRAIN-OPTIONS": ("docs/fast.md", lambda: options_markdown([FastTrainOptions]))}


def table_span(text: str, name: str) -> tuple[int, int]:
    """Where the generated table of marker ``name`` starts and ends in ``text``."""
    begin, end = f"<!-- {name}:BEGIN -->\n", f"<!-- {name}:END -->"
    return text.index(begin) + len(begin), text.index(end)


def updated(text: str, names: list[str]) -> str:
    """``text`` with the tables ``names`` regenerated."""
    for name in names:
        a, b = table_span(text, name)
        text = text[:a] + TABLES[name][1]() + text[b:]
    return text


def main() -> None:
    files: dict[str, list[str]] = {}
    for name, (rel, _) in TABLES.items():
        files.setdefault(rel, []).append(name)
    for rel, names in files.items():
        path = ROOT / rel
        path.write_text(updated(path.read_text(), names))
        print(f"updated {', '.join(names)} in {path}")


if __name__ == "__main__":
    main()
