"""The package's layout rules (CONTRIBUTING.md): no import cycles, config imports nothing of the package,
command-line code only in cli.py, and no module over ~500 lines without a stated reason."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "mmlesson"
MODULES = {".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): path
           for path in sorted(PACKAGE.rglob("*.py"))}
MAX_LINES = 500


def top_level_imports(name: str, path: Path) -> set[str]:
    """mmlesson modules imported when ``name`` is imported (module level, not inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found |= {candidate for candidate in candidates if candidate in MODULES and candidate != name}
    return found


def test_no_import_cycles():
    graph = {name: top_level_imports(name, path) for name, path in MODULES.items()}
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for imported in graph[name]:
            if state.get(imported) == "open":
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(imported):] + [name, imported])
                            if imported in trail else f"import cycle through {name} -> {imported}")
            if imported not in state:
                visit(imported, trail + [name])
        state[name] = "done"

    for name in graph:
        if name not in state:
            visit(name, [])


def test_config_imports_nothing_of_the_package():
    source = MODULES["mmlesson.config"].read_text()
    assert top_level_imports("mmlesson.config", MODULES["mmlesson.config"]) == set()
    assert "from ." not in source and "import mmlesson" not in source


def test_command_line_code_lives_in_cli():
    for name, path in MODULES.items():
        functions = [node.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.FunctionDef)]
        if name != "mmlesson.cli":
            assert not [f for f in functions if f.endswith("_command")], f"{name} defines a command adapter"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_long_modules_say_why(name):
    path = MODULES[name]
    lines = len(path.read_text().splitlines())
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert lines <= MAX_LINES or "Over 500 lines because" in docstring, \
        f"{name} has {lines} lines; split it, or say in its docstring why it is one idea ('Over 500 lines because')"
