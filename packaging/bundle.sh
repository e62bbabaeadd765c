#!/usr/bin/env bash
# Build the offline bundle for an air-gapped host: dist/lls-<version>-offline.tar.gz.
#
#   make bundle                        # wheels for this machine's Python and platform
#   make bundle BUNDLE_TARGET="--python-version 3.12 --platform manylinux2014_x86_64"
#                                      # wheels for another target (binary wheels only)
#
# The bundle holds the project's wheel, a wheel of every dependency for the target
# Python, the systemd unit, the example config and install.sh, which installs with
# `pip install --no-index --find-links` (no network) into /opt/lls and creates the
# service user. Run on a machine that reaches PyPI; carry the tarball across.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
DIST=${DIST:-dist}
TARGET=${BUNDLE_TARGET:-}
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
NAME="lls-${VERSION}-offline"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STAGE="$WORK/$NAME"
mkdir -p "$STAGE/wheels" "$DIST"

# The project's own wheel (pure Python), then every dependency as a binary wheel for the
# target: no sdist, since an air-gapped host may have no compiler.
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$WORK/own" .
OWN=$(ls "$WORK"/own/lls-*.whl)
cp "$OWN" "$STAGE/wheels/"
# shellcheck disable=SC2086 # TARGET is a list of pip options on purpose
"$PYTHON" -m pip download --quiet --only-binary=:all: --dest "$STAGE/wheels" $TARGET "$OWN"

install -m 0644 systemd/lls.service "$STAGE/lls.service"
install -m 0644 config/lls.yaml "$STAGE/lls.yaml"
install -m 0755 packaging/install.sh "$STAGE/install.sh"
"$PYTHON" - "$STAGE" "$VERSION" "$TARGET" <<'PY'
import sys, platform, pathlib
stage, version, target = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
wheels = sorted(p.name for p in (stage / "wheels").glob("*.whl"))
built_for = target or f"CPython {platform.python_version()} on {platform.machine()} ({sys.platform})"
(stage / "MANIFEST.txt").write_text(
    f"LLS {version} offline bundle\nwheels for: {built_for}\n\n"
    "install: sudo ./install.sh   (./install.sh --help for options)\n\n"
    + "\n".join(wheels) + "\n"
)
PY
tar -C "$WORK" -czf "$DIST/$NAME.tar.gz" "$NAME"
echo "$DIST/$NAME.tar.gz"
