"""The shape the code keeps (issue: the poll phase as one readable decision): no class over 200 lines, no
function over 50, in every module of lvmove_hooks."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lvmove_hooks"
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


if __name__ == "__main__":  # python3 tests/test_structure.py: the largest of each
    for kind in ("class", "function"):
        for _, name, lines in sorted((s for s in sizes() if s[0] == kind), key=lambda s: -s[2])[:8]:
            print(f"{kind:8} {lines:4}  {name}")
