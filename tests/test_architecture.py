"""The package's shape: layers that import only downward, no cycles, light imports, small files.

The import contracts live in pyproject.toml ([tool.importlinter]); these tests run them on the real
package, and on a copy with one upward import added, to show that they can fail.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "charrnn"
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 350, 60


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the project's contracts, on the package found under `root`."""
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold():
    result = lint_imports(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("module, added, broken", [
    ("vocab.py", "import charrnn.trained", "layers"),  # a low layer reaching up to the facade (a cycle too)
    ("reference/stack.py", "import torch", "reference: numpy only"),
    ("serve/errors.py", "import charrnn.serve.responses", "no import cycles"),  # responses -> errors -> responses
])
def test_a_forbidden_import_breaks_a_contract(tmp_path, module, added, broken):
    shutil.copytree(PACKAGE, tmp_path / "charrnn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "charrnn" / module
    target.write_text(target.read_text() + f"\n{added}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    verdicts = [line for line in result.stdout.splitlines() if line.endswith((" KEPT", " BROKEN"))]
    assert any(v.startswith(broken) and v.endswith(" BROKEN") for v in verdicts), result.stdout


def test_no_module_imports_itself_back():
    """No cycle between any two modules, counting imports inside functions and package __init__s."""
    import grimp

    graph = grimp.build_graph("charrnn", cache_dir=None)
    cycles = [(a, b) for a in sorted(graph.modules) for b in sorted(graph.find_modules_directly_imported_by(a))
              if graph.find_shortest_chain(importer=b, imported=a)]
    assert len(graph.modules) > 50 and not cycles


@pytest.mark.parametrize("module", ["charrnn", "charrnn.cli", "charrnn.reference", "charrnn.serve"])
def test_importing_loads_no_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_reference_engine_needs_numpy_alone():
    blocked = "import sys; [sys.modules.__setitem__(m, None) for m in ('torch', 'safetensors', 'tqdm', 'fastapi')]"
    code = f"{blocked}; import charrnn.reference as r; print(sorted(r.init_params('lstm', 5, 3)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Wx" in result.stdout


def test_help_answers_without_torch():
    code = ("import sys, contextlib, io; from charrnn.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try: main(['--help'])\n"
            "    except SystemExit: pass\n"
            "assert 'train' in out.getvalue(); print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_the_public_names_resolve_lazily():
    import charrnn

    for name in charrnn.__all__:
        assert getattr(charrnn, name) is not None
    with pytest.raises(AttributeError):
        charrnn.no_such_name  # noqa: B018


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_modules_and_functions_stay_small():
    too_long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(text.splitlines())} lines")
        for node in _functions(ast.parse(text)):
            if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_long.append(f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_long, "\n".join(too_long)
