"""Regenerate the options tables of README.md and docs/ from painterly's options dataclasses."""

from pathlib import Path

from painterly.config import options_markdown
from painterly.nets.options import TrainOptions

ROOT = Path(__file__).resolve().parents[1]
# marker name -> (file that holds the table, the table)
TABLES = {"OPTIONS": ("README.md", lambda: options_markdown()),
          "TRAIN-OPTIONS": ("docs/networks.md", lambda: options_markdown([TrainOptions]))}


def table_span(text: str, name: str) -> tuple[int, int]:
    """Where the generated table of marker ``name`` starts and ends in ``text``."""
    begin, end = f"<!-- {name}:BEGIN -->\n", f"<!-- {name}:END -->"
    return text.index(begin) + len(begin), text.index(end)


def main() -> None:
    for name, (rel, table) in TABLES.items():
        path = ROOT / rel
        text = path.read_text()
        a, b = table_span(text, name)
        path.write_text(text[:a] + table() + text[b:])
        print(f"updated {name} in {path}")


if __name__ == "__main__":
    main()
