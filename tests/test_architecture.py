"""The package's shape: layers that import only downward, no cycles, light imports, small files.

The import contracts live in pyproject.toml ([tool.importlinter]); these tests run them on the real
package, and on a copy with one upward import added, to show that they can fail.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import typing
from pathlib import Path

import pytest

import charrnn

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


@pytest.mark.parametrize("module", ["charrnn", "charrnn.commands.main", "charrnn.reference", "charrnn.serve"])
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
    code = ("import sys, contextlib, io; from charrnn.commands.main import main\n"
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


def listed_modules(docstring: str) -> set[str]:
    """The file names (x.py) and folders (x/) that a package docstring's indented listing names."""
    names = set()
    for line in docstring.splitlines():
        if line.startswith("    "):
            head = re.split(r"\s{2,}", line.strip())[0]
            names |= {t for t in re.split(r" \| |, ", head) if re.fullmatch(r"\w+\.py|\w+/", t)}
    return names


def test_every_package_docstring_names_its_modules():
    """Each package's docstring lists every module and sub-package in it, and nothing that is gone."""
    wrong = []
    for init in sorted(PACKAGE.rglob("__init__.py")):
        folder = init.parent
        actual = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
        actual |= {p.name + "/" for p in folder.iterdir() if (p / "__init__.py").is_file()}
        listed = listed_modules(ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")), clean=False) or "")
        missing, gone = actual - listed, {n for n in listed - actual if not (folder / n).exists()}
        if missing or gone:
            wrong.append(f"{folder.relative_to(REPO)}: not named {sorted(missing)}, named but gone {sorted(gone)}")
    assert not wrong, "\n".join(wrong)


def test_flags_are_made_only_by_the_commands():
    """Every argparse flag is made in charrnn/commands/ (the reference engine's own __main__ stands apart)."""
    apart = {PACKAGE / "reference" / "__main__.py"}
    found = [f"{path.relative_to(REPO)}:{n}" for path in sorted(PACKAGE.rglob("*.py"))
             if "commands" not in path.relative_to(PACKAGE).parts and path not in apart
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if "add_argument" in line]
    assert not found, found


def test_the_writers_are_typed_and_take_a_network():
    """Every function of writers/ has a type on every parameter, and the entry points take a Network."""
    from charrnn.generation.network import Network
    from charrnn.writers.names import write_names
    from charrnn.writers.poems import write_poems

    untyped = []
    for path in sorted((PACKAGE / "writers").glob("*.py")):
        for node in _functions(ast.parse(path.read_text(encoding="utf-8"))):
            args = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            args += [a for a in (node.args.vararg, node.args.kwarg) if a is not None]
            untyped += [f"{path.name}:{node.lineno} {node.name}({a.arg})" for a in args
                        if a.annotation is None and a.arg not in ("self", "cls")]
    assert not untyped, untyped
    for writer in (write_poems, write_names):
        assert typing.get_type_hints(writer)["network"] is Network


def test_nothing_below_the_facade_calls_it(tiny_run, tiny_lines_run, poems_run, shakespeare_text):
    """writers/, generation/, inside/ and training/ are handed a Network, never a TrainedModel: whatever the
    facade is asked, no call into it comes from them."""
    from charrnn.writers.poem_form import PoemForm

    below = tuple(str(PACKAGE / name) + os.sep for name in ("writers", "generation", "inside", "training"))
    facade, calls = str(PACKAGE / "trained.py"), []

    def watch(frame, event, arg):
        caller = frame.f_back
        if event == "call" and frame.f_code.co_filename == facade and caller is not None \
                and caller.f_code.co_filename.startswith(below):
            calls.append(f"{frame.f_code.co_name} from {caller.f_code.co_filename}:{caller.f_lineno}")

    story, names, poems = (charrnn.load(run, device="cpu") for run in (tiny_run, tiny_lines_run, poems_run))
    sys.setprofile(watch)
    try:
        story.generate("ROMEO:", length=20, seed=1, stop="\n")
        "".join(story.stream("ROMEO:", length=20, seed=1))
        story.samples("ROMEO:", length=10, num=2, temperature=[0.5, 1.0], seed=1)
        story.generate("ROMEO:", length=10, beam=2)
        story.evaluate(shakespeare_text[:500])
        story.neuron_report(shakespeare_text[:300], top=3)
        names.name_samples(5, new_only=True, min_len=3, seed=1)
        names.names(3, seed=2)
        poems.poem("wujue", rhyme=True, seed=1)
        poems.poem_samples(PoemForm.from_options("wujue", meter="loose"), 2, seed=2)
    finally:
        sys.setprofile(None)
    assert not calls, calls
