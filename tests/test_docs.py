"""The README's options table is generated from the Options dataclass and kept in sync."""

from painterly.config import options_markdown

from .conftest import ROOT


def test_readme_options_table_is_current():
    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- OPTIONS:BEGIN -->") + len("<!-- OPTIONS:BEGIN -->\n")
    end = text.index("<!-- OPTIONS:END -->")
    assert text[start:end] == options_markdown(), \
        "README options table is stale: run 'python tools/update_readme.py'"


def test_readme_training_options_table_is_current():
    from painterly.nets.options import TrainOptions

    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- TRAIN-OPTIONS:BEGIN -->") + len("<!-- TRAIN-OPTIONS:BEGIN -->\n")
    end = text.index("<!-- TRAIN-OPTIONS:END -->")
    assert text[start:end] == options_markdown([TrainOptions]), \
        "README training options table is stale: run 'python tools/update_readme.py'"


def test_readme_clip_options_table_is_current():
    from painterly.config import ClipOutput

    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- CLIP-OPTIONS:BEGIN -->") + len("<!-- CLIP-OPTIONS:BEGIN -->\n")
    end = text.index("<!-- CLIP-OPTIONS:END -->")
    assert text[start:end] == options_markdown([ClipOutput]), \
        "README clip options table is stale: run 'python tools/update_readme.py'"
