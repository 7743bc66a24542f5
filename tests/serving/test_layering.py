"""The core package never needs MONAI Label: only ``raddino_monai/serving/label/`` imports it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "raddino_monai"
LABEL = PACKAGE / "serving" / "label"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_only_the_serving_app_imports_monailabel() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if LABEL in path.parents:
            continue
        bad = {n for n in _imports(path)
               if n.split(".")[0] == "monailabel" or n.startswith("raddino_monai.serving.label")}
        if bad:
            offenders.append(f"{path.relative_to(PACKAGE)}: {sorted(bad)}")
    assert offenders == []
    # and the app's own modules do import it (the scan sees imports at all)
    assert "monailabel.interfaces.app" in _imports(LABEL / "app.py")


def test_bundle_export_imports_without_monailabel() -> None:
    code = ("import sys, raddino_monai.serving.bundle_export, raddino_monai.serving.label as l; l.app_dir(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('monailabel', 'torchvision')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
