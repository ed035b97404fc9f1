"""Rules of the code's shape: short functions, and every option's flag made in one place."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "painterly"
MAX_LINES = 60
MAX_HAND_FLAGS = 4  # flags that take a value but are no option (-o, a file to check ...)


def _functions():
    for path in sorted(PKG.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield path, node


def _length(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from ``def`` to the end, its docstring aside."""
    doc = node.body[0] if ast.get_docstring(node) is not None else None
    skipped = doc.end_lineno - doc.lineno + 1 if doc is not None else 0
    return node.end_lineno - node.lineno + 1 - skipped


def test_no_function_is_longer_than_60_lines():
    long = [f"{p.relative_to(PKG.parent)}:{n.lineno} {n.name} {_length(n)}"
            for p, n in _functions() if _length(n) > MAX_LINES]
    assert not long, f"functions over {MAX_LINES} lines: {long}"


def _hand_written_flags(switches: bool = False) -> dict[str, list[str]]:
    """Flags given to ``add_argument`` by hand (not made from an options class by
    ``config.add_flags``) that take a value (and, with ``switches``, those that do not),
    with where they are written."""
    found: dict[str, list[str]] = {}
    for path in sorted(PKG.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument" and node.args):
                continue
            first = node.args[0]
            if not (isinstance(first, ast.Constant) and str(first.value).startswith("-")):
                continue
            action = next((k.value.value for k in node.keywords if k.arg == "action"
                           and isinstance(k.value, ast.Constant)), None)
            if action in ("store_true", "store_false", "version", "help") and not switches:
                continue
            found.setdefault(str(first.value), []).append(f"{path.name}:{node.lineno}")
    return found


def test_flags_that_take_a_value_come_from_the_options_classes():
    twice = {f: w for f, w in _hand_written_flags(switches=True).items() if len(w) > 1}
    assert not twice, f"flags written by hand in two places: {twice}"
    found = _hand_written_flags()
    assert len(found) <= MAX_HAND_FLAGS, f"hand-written flags that take a value: {found}"


def test_every_command_parses_and_each_flag_is_defined_once_per_command():
    from painterly.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.choices and "stylize" in a.choices)
    for name, p in sub.choices.items():
        strings = [s for a in p._actions for s in a.option_strings]
        assert len(strings) == len(set(strings)), name
        p.format_help()
