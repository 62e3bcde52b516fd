"""Ray stays optional: one module imports it, and the local runtime never loads it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "efficientzero"
RAY_MODULE = PACKAGE / "run" / "ray.py"


def imports_ray(path: Path) -> bool:
    """Whether the module at ``path`` imports ray (or a submodule) anywhere, top level or not."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "ray" or name.startswith("ray.") for name in names):
            return True
    return False


def test_only_run_ray_imports_ray():
    importers = sorted(p.relative_to(PACKAGE) for p in PACKAGE.rglob("*.py") if imports_ray(p))
    assert importers == [RAY_MODULE.relative_to(PACKAGE)]


def test_local_runtime_does_not_load_ray():
    """Every module but run/ray.py imports without loading ray (in a fresh interpreter)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import efficientzero\n"
        "for m in pkgutil.walk_packages(efficientzero.__path__, 'efficientzero.'):\n"
        "    if m.name != 'efficientzero.run.ray':\n"
        "        importlib.import_module(m.name)\n"
        "import efficientzero.run.local, efficientzero.cli\n"
        "assert 'efficientzero.run.local' in sys.modules\n"
        "loaded = sorted(n for n in sys.modules if n == 'ray' or n.startswith('ray.'))\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr


def package_imports(path: Path) -> set[str]:
    """Modules of this package that ``path`` imports anywhere (top level, functions, TYPE_CHECKING)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    package = package.removesuffix(".__init__")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("efficientzero")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                base = ".".join(
                    [*package.split(".")[: len(package.split(".")) - node.level + 1], base]
                )
            if not base.startswith("efficientzero"):
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                sub = f"{base}.{alias.name}"
                found.add(
                    sub if (PACKAGE.parent / (sub.replace(".", "/") + ".py")).is_file() else base
                )
    return {name for name in found if name != module}


def test_no_import_cycles():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = package_imports(path)
    # Depth-first search for a back edge; the message names the cycle.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(name: str) -> None:
        state[name] = 1
        stack.append(name)
        for target in sorted(modules.get(name, ())):
            if state.get(target) == 1:
                cycle = [*stack[stack.index(target) :], target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[name] = 2

    for name in sorted(modules):
        if name not in state:
            visit(name)
