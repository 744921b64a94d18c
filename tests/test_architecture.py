"""The house rules of docs/ARCHITECTURE.md, checked on the source so the next change that breaks one fails CI.

The layers and the torch-free rooms are import-linter contracts (pyproject.toml), run here and by
``tox -e lint``; the rest is read from the source with ``ast``: no module takes another module's
underscore names, no module is over 500 lines, no function over 60 unless a comment says why.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "harness"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
#: The comment that lets a function stay longer, on the line above its ``def`` (or its first decorator).
KEPT_WHOLE = "# kept whole:"


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def lint_imports_command() -> str:
    beside = Path(sys.executable).with_name("lint-imports")
    command = str(beside) if beside.exists() else shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]' brings import-linter")
    return command


def test_the_import_linter_contracts_hold():
    result = subprocess.run(
        [lint_imports_command(), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def private_imports(name: str, path: Path) -> list[str]:
    """``from harness.x import _name`` of another module, as 'importer takes _name from harness.x'."""
    known = modules()
    taken = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
            continue
        if not node.module.startswith("harness"):
            continue
        for alias in node.names:
            if f"{node.module}.{alias.name}" in known:  # a submodule, not a name
                continue
            if alias.name.startswith("_") and not alias.name.startswith("__") and node.module != name:
                taken.append(f"{name} takes {alias.name} from {node.module}")
    return taken


def test_no_module_takes_another_modules_private_names():
    taken = [line for name, path in modules().items() for line in private_imports(name, path)]
    assert not taken, "\n".join(taken)


def test_no_module_is_over_the_line_limit():
    long = {name: n for name, path in modules().items() if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def long_functions(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    found = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        length = node.end_lineno - node.lineno + 1
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        above = lines[first - 2].strip() if first > 1 else ""
        if length > MAX_FUNCTION_LINES and not above.startswith(KEPT_WHOLE):
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            found.append(f"{shown}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_over_the_line_limit_without_a_reason():
    long = [line for path in modules().values() for line in long_functions(path)]
    assert not long, "\n".join(long)


def test_the_checks_see_what_they_check(tmp_path):
    """A check that finds nothing because it reads nothing would pass forever."""
    assert {"harness.records", "harness.train.runner", "harness.launch.local", "harness.reporting.cells"} <= set(
        modules()
    )
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from harness.manager import _PluginManager\n\n"
        + "def long():\n"
        + "    x = 1\n" * MAX_FUNCTION_LINES
        + "\n"
        + f"{KEPT_WHOLE} one table, read top to bottom\n"
        + "def allowed():\n"
        + "    x = 1\n" * MAX_FUNCTION_LINES
    )
    assert private_imports("harness.bad", bad) == ["harness.bad takes _PluginManager from harness.manager"]
    assert [line.split()[1] for line in long_functions(bad)] == ["long"]
