"""The layers of CONTRIBUTING.md hold: each package imports only the layers below it, counting imports
inside functions and indirect chains (the contracts are in setup.cfg, checked by import-linter).
"""
import pathlib
import subprocess
import sys

import pytest

pytest.importorskip("importlinter.cli")

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    # in a child process: import-linter configures logging, which other tests check
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'setup.cfg')!r}, no_cache=True, "
            "no_logo=True))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr


def _function_level_imports(path: pathlib.Path):
    """(line number, source line) of each import of a tensorweave module inside a function."""
    import ast
    src = path.read_text().split("\n")
    for fn in ast.walk(ast.parse("\n".join(src))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for n in ast.walk(fn):
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").startswith(
                    "tensorweave")):
                yield n.lineno, src[n.lineno - 1]
            elif isinstance(n, ast.Import) and any(a.name.startswith("tensorweave")
                                                    for a in n.names):
                yield n.lineno, src[n.lineno - 1]


def test_imports_inside_functions_say_which_cycle_forces_them():
    missing = []
    for path in sorted((ROOT / "src" / "tensorweave").rglob("*.py")):
        for lineno, line in _function_level_imports(path):
            if "#" not in line:
                missing.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not missing, ("imports inside functions without a reason (move them to the top of "
                         "the module, or say which import cycle forces them):\n"
                         + "\n".join(missing))
