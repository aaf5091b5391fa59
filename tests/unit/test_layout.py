"""The product does not depend on its tests: nothing outside tests/ imports them."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUTSIDE_TESTS = ["cti", "ivr", "migrations", "benchmarks", "docker"]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_demo_benchmarks_and_service_never_import_the_test_package() -> None:
    offenders = [
        f"{path.relative_to(REPO)} imports {module}"
        for top in OUTSIDE_TESTS
        for path in sorted((REPO / top).rglob("*.py"))
        for module in imported_modules(path)
        if module == "tests" or module.startswith("tests.")
    ]
    assert offenders == []
