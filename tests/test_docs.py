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
    from painterly.network.options import TrainOptions

    text = (ROOT / "README.md").read_text()
    start = text.index("<!-- TRAIN-OPTIONS:BEGIN -->") + len("<!-- TRAIN-OPTIONS:BEGIN -->\n")
    end = text.index("<!-- TRAIN-OPTIONS:END -->")
    assert text[start:end] == options_markdown([TrainOptions]), \
        "README training options table is stale: run 'python tools/update_readme.py'"


def test_readme_command_options_tables_are_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("update_readme",
                                                  ROOT / "tools" / "update_readme.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = (ROOT / "README.md").read_text()
    assert tool.updated(text) == text, \
        "README options tables are stale: run 'python tools/update_readme.py'"
