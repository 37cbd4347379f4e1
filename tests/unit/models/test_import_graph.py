"""``models/`` has no import cycles (function-local imports included) and never imports ``planner``."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def _graph() -> dict[str, set[str]]:
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "models").rglob("*.py")}
    modules = {m.removesuffix(".__init__"): p for m, p in modules.items()}
    return {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}


def test_models_never_import_planner():
    for path in (ROOT / "models").rglob("*.py"):
        assert not any(i == "planner" or i.startswith("planner.") for i in _imports(path)), path


def test_no_import_cycles_in_models():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n, stack + [n])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert "models.packing.bounds" in graph and "models.packing.prices" in graph["models.packing.heuristics"]
