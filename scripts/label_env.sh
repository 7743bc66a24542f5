#!/usr/bin/env bash
# The MONAI Label serving environment (.venv-label, pinned by requirements/constraints-label.txt) and the server on
# our app (docs/monai_label.md). Separate from .venv: MONAI Label needs torchvision, numpy<2 and pydicom<3.
#
#   bash scripts/label_env.sh build                                   # build or reuse .venv-label (~4 min, ~8.5 GB)
#   bash scripts/label_env.sh serve --bundles DIR --studies DIR [--port 8000] [--host 127.0.0.1] [-- start_server args]
#   bash scripts/label_env.sh test [pytest args]                      # the tests against a real server
#                                   (tests/serving/label; pytest args are added, e.g. -x or -k train)
#
# serve builds the environment first if needed; --bundles is a bundle folder or a folder of bundle folders
# (written by tools/linear_probe.py / tools/segment.py train --bundle_dir). Nothing is downloaded at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-label
CONSTRAINTS=requirements/constraints-label.txt

build() {
    local stamp="$VENV/.constraints.sha256" want
    want="$(sha256sum "$CONSTRAINTS" setup.cfg | sha256sum | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "serving environment $VENV is up to date"
        return
    fi
    local start=$SECONDS
    python3 -m venv "$VENV"
    # torch + torchvision first: sam2 (a monailabel dependency) is an sdist whose build needs torch installed
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -c "$CONSTRAINTS" torch torchvision
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-build-isolation -c "$CONSTRAINTS" \
        -e ".[label,dicom]" pytest
    "$VENV/bin/python" - <<'PY'
import monai, monailabel, numpy, pydicom, torch, torchvision
print(f"serving environment: monailabel {monailabel.__version__}, monai {monai.__version__}, torch {torch.__version__},"
      f" torchvision {torchvision.__version__}, numpy {numpy.__version__}, pydicom {pydicom.__version__}")
PY
    echo "$want" > "$stamp"
    echo "built $VENV in $((SECONDS - start)) s ($(du -sh "$VENV" | cut -f1))"
}

serve() {
    local bundles="" studies="" port=8000 host=127.0.0.1
    while [ "$#" -gt 0 ]; do
        case "$1" in
            --bundles) bundles="$2"; shift 2 ;;
            --studies) studies="$2"; shift 2 ;;
            --port) port="$2"; shift 2 ;;
            --host) host="$2"; shift 2 ;;
            --) shift; break ;;
            *) echo "unknown option $1; valid: --bundles --studies --port --host -- <start_server args>" >&2; exit 2 ;;
        esac
    done
    if [ -z "$bundles" ] || [ -z "$studies" ]; then
        echo "serve needs --bundles DIR and --studies DIR" >&2
        exit 2
    fi
    build
    local app
    app="$("$VENV/bin/python" -c 'from raddino_monai.serving.label import app_dir; print(app_dir())')"
    # monailabel's own launcher calls `python` from PATH, so the serving venv goes first
    PATH="$PWD/$VENV/bin:$PATH" exec "$VENV/bin/python" -m monailabel.main start_server --app "$app" \
        --studies "$studies" --conf bundles "$bundles" --host "$host" --port "$port" "$@"
}

command="${1:-}"
[ "$#" -gt 0 ] && shift
case "$command" in
    build) build ;;
    serve) serve "$@" ;;
    test)
        build
        start=$SECONDS
        RADDINO_LABEL_TESTS=1 "$VENV/bin/python" -m pytest -p no:cacheprovider tests/serving/label "$@"
        echo "real-server tests took $((SECONDS - start)) s"
        ;;
    *) echo "usage: bash scripts/label_env.sh build | serve --bundles DIR --studies DIR | test [pytest args]" >&2; exit 2 ;;
esac
