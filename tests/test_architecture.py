"""The package layers of docs/architecture.md hold: every import inside ``raddino_monai`` is one its table allows.

The table on that page is the only statement of the rule; this test reads it, so the picture cannot drift from the
code. Imports inside functions count as much as module-level ones (a lazy import still ties the layers).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "raddino_monai"
DOC = ROOT / "docs" / "architecture.md"


def allowed_imports(doc: str) -> dict[str, set[str]]:
    """``package -> packages it may import``, parsed from the ``| package | may import |`` table of ``doc``."""
    table = doc[doc.index("| package | may import |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        package, targets = (cell.strip() for cell in line.strip("|").split("|"))
        rows[package.strip("`")] = set(re.findall(r"`([\w.]+)`", targets))
    return rows


def package_of(path: Path) -> str:
    """``raddino_monai/<package>/...`` -> ``<package>`` (``_compat`` for the top-level module)."""
    parts = path.relative_to(PACKAGE).parts
    return parts[0][: -len(".py")] if len(parts) == 1 else parts[0]


def imported_packages(source: str, module_parts: tuple[str, ...]) -> set[str]:
    """The ``raddino_monai`` packages (and ``tools``) that a module's source imports, anywhere in the file.

    Args:
        source: the module's code.
        module_parts: its path inside ``raddino_monai``, e.g. ``("losses", "koleo.py")`` (resolves relative imports).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level:
            base = list(module_parts[:-1])[: len(module_parts) - node.level]
            names = [".".join(["raddino_monai", *base, *([node.module] if node.module else [])])]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tools":
                found.add("tools")
            elif parts[0] == "raddino_monai" and len(parts) > 1:
                found.add(parts[1])
    return found


def violations(rows: dict[str, set[str]]) -> list[str]:
    """``file: package -> imported package`` for every import the table does not allow."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == PACKAGE:
            continue  # the package's own face
        package = package_of(path)
        if package not in rows:
            out.append(f"{path.relative_to(ROOT)}: package {package!r} has no row in docs/architecture.md")
            continue
        parts = path.relative_to(PACKAGE).parts
        for target in sorted(imported_packages(path.read_text(encoding="utf-8"), parts) - {package}):
            if target not in rows[package]:
                out.append(f"{path.relative_to(ROOT)}: {package} imports {target}, not in its allowed list")
    return out


def test_every_import_follows_the_documented_layers() -> None:
    rows = allowed_imports(DOC.read_text(encoding="utf-8"))
    assert {"losses", "data", "engines", "experiments"} <= set(rows) and rows["losses"] == {"_compat"}
    assert "evaluation" not in rows["engines"] and "tools" not in set().union(*rows.values())
    assert violations(rows) == []


@pytest.mark.parametrize(
    "package, source, forbidden",
    [
        ("losses", "from raddino_monai.models import DINOHead\n", "models"),
        ("data", "def f():\n    from raddino_monai.engines import SSLTrainer\n", "engines"),
        ("evaluation", "import tools.linear_probe\n", "tools"),
        ("engines", "from ..evaluation import runners\n", "evaluation"),
    ],
)
def test_a_forbidden_import_is_found(package: str, source: str, forbidden: str) -> None:
    rows = allowed_imports(DOC.read_text(encoding="utf-8"))
    found = imported_packages(source, (package, "module.py"))
    assert forbidden in found and forbidden not in rows[package]
