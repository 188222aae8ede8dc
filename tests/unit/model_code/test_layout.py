"""The package's shape: its parts import each other without circles, and every module is reachable
under its folder's name (the layout the README describes)."""

from __future__ import annotations

import importlib
from pathlib import Path

from stacks.serving_image import imported_modules, module_files

MODEL_CODE = Path(__file__).resolve().parents[3] / "model_code"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports, counting imports under TYPE_CHECKING and in functions,
    but not a module's own parent packages (importing ``a.b`` runs ``a/__init__.py`` first by design)."""
    files = module_files(MODEL_CODE)
    graph = {}
    for module in files:
        parents = {module.rpartition(".")[0] if "." in module else "", ""} if module else set()
        graph[module] = imported_modules(MODEL_CODE, module, files) - parents - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state = [], {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return found


def test_no_module_imports_itself_through_others():
    assert cycles(import_graph()) == []


def test_the_cycle_check_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c", "a"]]


def test_payload_and_validation_no_longer_import_each_other():
    graph = import_graph()
    assert "serving.validation" not in graph["serving.payload"]
    assert {"serving.payload", "serving.errors"} <= graph["serving.validation"]


def test_every_module_imports_under_its_folder():
    for module in module_files(MODEL_CODE):
        importlib.import_module(f"model_code.{module}" if module else "model_code")
