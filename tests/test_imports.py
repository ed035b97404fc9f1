"""The import graph of painterly: no circle, no arrow back up, and a light ``--help``."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "painterly"


def _module(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the painterly modules it imports anywhere: in functions, for type hints
    only, and by name (``__import__("painterly.x")``) too."""
    mods = {_module(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        out: set[str] = set()
        todo = list(ast.parse(path.read_text()).body)
        while todo:
            node = todo.pop()
            todo.extend(ast.iter_child_nodes(node))
            if isinstance(node, ast.Constant) and node.value in mods and "." in node.value:
                out.add(node.value)  # a module named in a string, imported dynamically
            elif isinstance(node, ast.Import):
                out |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level \
                    else node.module
                subs = {f"{target}.{a.name}" for a in node.names} & set(mods)
                out |= subs or ({target} & set(mods))
        graph[name] = out - {name}
    return graph


def test_the_import_graph_has_no_circle():
    graph = imports()
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for n in sorted(graph[m]):
            assert state.get(n) != 1, "import circle: " + " -> ".join(path + [n])
            if n not in state:
                visit(n, path + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


# The floors, from the bottom: shared modules, the contract, the rooms (one per way of
# stylizing), the registry, the callers.  An arrow may only point down.
CONTRACT = "painterly.method"
REGISTRY = "painterly.methods"
CALLERS = ("painterly.cli", "painterly.__main__", "painterly.render", "painterly.clip",
           "painterly.apply", "painterly.sweep", "painterly.pyapi", "painterly.demo",
           "painterly.web")


def rooms() -> set[str]:
    """The room packages: those the registry names (a new room is held to the rules as soon
    as it is registered)."""
    from painterly.methods import ROOMS

    return {".".join(m.split(".")[:2]) for m in ROOMS.values()}


def floor(m: str) -> str:
    if m == CONTRACT:
        return "contract"
    if m == REGISTRY:
        return "registry"
    if any(m == r or m.startswith(r + ".") for r in rooms()):
        return "room"
    if any(m == c or m.startswith(c + ".") for c in CALLERS):
        return "caller"
    return "shared" if m != "painterly" else "face"


def test_the_rooms_are_the_registered_packages():
    assert rooms() >= {"painterly.optimise", "painterly.network"}
    graph = imports()
    for r in rooms():
        assert r in graph, f"{r} is registered but is not a package of painterly"


def test_no_import_points_up_a_floor():
    order = ["shared", "contract", "room", "registry", "caller"]
    for m, deps in imports().items():
        if floor(m) == "face":
            continue
        for d in deps - {"painterly"}:
            assert order.index(floor(d)) <= order.index(floor(m)), \
                f"{m} ({floor(m)}) imports {d} ({floor(d)}), a floor above it"


def test_rooms_never_import_each_other():
    graph = imports()
    for m, deps in graph.items():
        mine = {r for r in rooms() if m == r or m.startswith(r + ".")}
        for d in deps:
            other = {r for r in rooms() if d == r or d.startswith(r + ".")} - mine
            assert not (mine and other), f"{m} imports {d}: rooms meet only through the contract"


def test_the_contract_imports_no_room():
    deps = imports()[CONTRACT]
    assert all(floor(d) == "shared" for d in deps), deps


def test_lower_modules_never_import_the_entry_points():
    graph = imports()
    low = ("config", "errors", "images", "vgg", "weights", "losses", "objective", "engine",
           "scoring",
           "masks", "color", "device", "optim", "plot", "temporal", "video", "bars")
    for m in low:
        up = {d for d in graph[f"painterly.{m}"] if floor(d) != "shared"}
        assert not up, f"painterly.{m} imports {up}"
    # the package's face hands names on from below; nothing under it imports it back
    face = [m for m, deps in graph.items() if "painterly" in deps and m != "painterly.cli"
            and m != "painterly.__main__"]
    assert not face, f"{face} import the package painterly itself"


def test_the_measures_sit_on_the_lowest_floor():
    """painterly.scoring (the measures of a picture) stands on images and the VGG only, so
    that benchmarks, training and the studio can all use it."""
    allowed = {"painterly.images", "painterly.vgg", "painterly.statistics", "painterly.errors"}
    deps = imports()["painterly.scoring"]
    assert deps <= allowed, deps - allowed


def test_help_does_not_import_torch():
    code = ("import sys, painterly.cli as c; c.build_parser().format_help(); "
            "print(sorted(m for m in ('torch', 'numpy', 'PIL', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PKG.parent, check=True).stdout
    assert out.strip() == "[]"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "painterly", "--help"],
                       capture_output=True, text=True, cwd=PKG.parent)
    assert r.returncode == 0 and "stylize" in r.stdout
    assert "| torch" not in r.stderr


def test_plot_leaves_matplotlib_alone():
    code = "import matplotlib, painterly.plot; print(matplotlib.get_backend() == 'svg')"
    env = {**os.environ, "MPLBACKEND": "svg"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=PKG.parent, env=env, check=True).stdout
    assert out.strip() == "True"


def test_the_version_is_the_one_in_pyproject():
    import tomllib

    from painterly import __version__

    meta = tomllib.loads((PKG.parent / "pyproject.toml").read_text())
    assert meta["project"]["version"] == __version__
