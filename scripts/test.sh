#!/usr/bin/env bash
# README command 2: install and run the test suite. .ci/run calls this script, so README and CI cannot drift.
# The report extra (peft, gguf, accelerate, rouge-score, sacrebleu) is installed: its tests are part of the suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh --runslow` or `bash scripts/test.sh tests/losses`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The report extra (rouge-score, sacrebleu, peft; ~10 s more) lets the default run exercise the report metrics.
bash scripts/install.sh test,dicom,report
# CI (CI=true) also runs the tests marked slow (bundle runs, CLI subprocesses, SSL evidence; ~1 minute more).
if [ "${CI:-}" = "true" ]; then
    set -- --runslow "$@"
fi
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
