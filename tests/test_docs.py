"""The options tables of README.md and docs/ are generated from the options dataclasses and
kept in sync (tools/update_readme.py writes them); the documents' links point at files."""

import importlib.util
import re

import pytest

from .conftest import ROOT


def _tool():
    spec = importlib.util.spec_from_file_location("update_readme", ROOT / "tools/update_readme.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TOOL = _tool()


@pytest.mark.parametrize("name", sorted(TOOL.TABLES))
def test_options_tables_are_current(name):
    rel, table = TOOL.TABLES[name]
    text = (ROOT / rel).read_text()
    a, b = TOOL.table_span(text, name)
    assert text[a:b] == table(), f"{rel}: the {name} table is stale: run " \
                                 "'python tools/update_readme.py'"


def test_links_point_at_files():
    docs = ["README.md", *(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
    for rel in docs:
        text = (ROOT / rel).read_text()
        for link in re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", text):
            if link.startswith(("http://", "https://", "mailto:")):
                continue
            assert ((ROOT / rel).parent / link).exists(), f"{rel}: broken link {link}"
