#!/usr/bin/env bash
# The package must also run in the MONAI Label serving environment (monai 1.5.2, pydicom 2.4, numpy 1.26,
# ignite 0.4.11; docs/environment.md). This builds that environment (without MONAI Label and torchvision, which
# need a different torch) in ./.venv-compat and runs the loading, model, evaluation and bundle tests in it.
# Usage: bash scripts/test_compat.sh [pytest args]      (CI runs it after scripts/test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-compat
.venv-compat/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements/constraints-compat.txt "torch==2.13.0"
.venv-compat/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements/constraints-compat.txt -e ".[test,dicom]"
.venv-compat/bin/python - <<'PY'
import monai, numpy, pydicom, ignite
print(f"compat environment: monai {monai.__version__}, numpy {numpy.__version__}, "
      f"pydicom {pydicom.__version__}, ignite {ignite.__version__}")
assert monai.__version__.startswith("1.5") and numpy.__version__.startswith("1.26"), "not the serving versions"
PY
if [ "$#" -eq 0 ]; then
    set -- tests/transforms tests/data tests/models tests/inference tests/evaluation tests/bundles
fi
.venv-compat/bin/python -m pytest -n 2 --dist loadfile "$@"
