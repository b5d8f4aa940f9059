"""The shape the code keeps (issue: the poll phase as one readable decision): no class over 200 lines, no
function over 50, in every module of lvmove_hooks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "lvmove_hooks"
CLASS_LINES = 200
FUNCTION_LINES = 50


def sizes() -> list[tuple[str, str, int]]:
    """(kind, module:name, lines) of every class and function (methods included)."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                kind = "class" if isinstance(node, ast.ClassDef) else "function"
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append((kind, f"{path.stem}:{node.name}", lines))
    return found


def test_no_class_over_200_lines_and_no_function_over_50() -> None:
    found = sizes()
    assert any(kind == "class" for kind, _, _ in found) and any(kind == "function" for kind, _, _ in found)
    too_big = [(name, n) for kind, name, n in found
               if n > (CLASS_LINES if kind == "class" else FUNCTION_LINES)]
    assert not too_big, too_big


# The poll machinery: only `lvmove run` (the unit) and `lvmove move` need it.
POLL_PHASE = {"lvmove_hooks.poller", "lvmove_hooks.pollrules", "lvmove_hooks.lvmpoller", "lvmove_hooks.kernelwatch",
              "lvmove_hooks.service", "lvmove_hooks.carry", "lvmove_hooks.recopy", "concurrent.futures"}


def imported_by(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint('\\n'.join(sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=True)
    return set(result.stdout.split())


def test_a_short_command_imports_only_what_it_runs() -> None:
    """Each command imports its modules when it runs (cli.py): under emulation the import of the whole package
    costs seconds, and `lvmove status`, `watch` or `--version` need none of the poll machinery."""
    assert not imported_by("import lvmove_hooks.cli") & POLL_PHASE
    assert not imported_by("import lvmove_hooks.cli, lvmove_hooks.status, lvmove_hooks.units") & POLL_PHASE
    unit = imported_by("import lvmove_hooks.cli, lvmove_hooks.service")  # the probe sees them where they are
    assert POLL_PHASE - {"concurrent.futures", "lvmove_hooks.recopy"} <= unit


if __name__ == "__main__":  # python3 tests/test_structure.py: the largest of each
    for kind in ("class", "function"):
        for _, name, lines in sorted((s for s in sizes() if s[0] == kind), key=lambda s: -s[2])[:8]:
            print(f"{kind:8} {lines:4}  {name}")
