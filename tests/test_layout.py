"""The package layout stays the architecture: no import loops between the folders of pipeline/, lower layers
never reach up into the app, and every exception lives under the one base in pipeline/errors.py."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"


def _unit(module: str) -> str:
    """A folder of pipeline/ ("store") or a top-level module ("config"): the nodes of the layering."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _modules() -> dict[str, ast.Module]:
    trees = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(part for part in relative.parts if part != "__init__")
        trees[name] = ast.parse(path.read_text(), filename=str(path))
    return trees


def _imports(tree: ast.Module) -> set[str]:
    """Every module named by an import anywhere in the file (imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pipeline import ocr`
    return names


def _folder_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, tree in _modules().items():
        if module in ("pipeline", "pipeline.__main__"):
            continue
        for imported in _imports(tree):
            if imported.startswith("pipeline.") and _unit(imported) != _unit(module):
                graph[_unit(module)].add(_unit(imported))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import loop, as the path that closes it, or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        state[node] = "done"
        path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_loop_finder_finds_a_loop():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_loops_between_folders_of_pipeline():
    loop = _cycle(_folder_graph())
    assert loop is None, "import loop between parts of pipeline/: " + " -> ".join(loop or [])


def test_the_library_never_imports_the_app():
    offenders = [
        module
        for module, tree in _modules().items()
        if any(name.split(".")[0] == "streamlit_app" for name in _imports(tree))
    ]
    assert offenders == []


def test_only_entry_points_import_the_command_line_layer():
    """typer belongs to the CLI modules; a library module that imports it has grown an interface."""
    cli_modules = {"pipeline.cli", "pipeline.access.cli", "pipeline.moderation.cli", "pipeline.insights.cli"}
    offenders = [
        module for module, tree in _modules().items() if "typer" in _imports(tree) and module not in cli_modules
    ]
    assert offenders == []


def test_every_exception_class_lives_in_errors_py():
    defined_elsewhere = []
    for module, tree in _modules().items():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ClassDef)
                and any(
                    isinstance(base, ast.Name)
                    and (base.id.endswith(("Error", "Exception")) or base.id == "VlsearchError")
                    for base in node.bases
                )
                and module != "pipeline.errors"
            ):
                defined_elsewhere.append(f"{module}.{node.name}")
    assert defined_elsewhere == []
