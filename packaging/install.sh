#!/bin/sh
# Install LLS from this offline bundle: no network, only the wheels beside this script.
#
#   sudo ./install.sh                    # /opt/lls, user lls, /etc/lls, /var/lib/lls, the unit
#   ./install.sh --prefix DIR --no-service   # only the program, into DIR (no root needed)
#
# Options: --prefix DIR (default /opt/lls, or $LLS_PREFIX), --python PY (default python3,
# 3.11 or newer, the version the bundle was built for), --no-service (skip the service
# user, its directories, the config and the systemd unit). Running it again upgrades
# the program in place and leaves an existing /etc/lls/lls.yaml alone.
set -eu

PREFIX=${LLS_PREFIX:-/opt/lls}
PYTHON=${PYTHON:-python3}
SERVICE=1
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) PREFIX=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --no-service) SERVICE=0; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
HERE=$(cd "$(dirname "$0")" && pwd)

# Only the wheels here: no index, and no pip configuration of this host pointing elsewhere.
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL PIP_FIND_LINKS PIP_CONSTRAINT PIP_REQUIREMENT
export PIP_CONFIG_FILE=/dev/null PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1

"$PYTHON" -m venv "$PREFIX"
"$PREFIX/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" --upgrade lls
echo "installed $("$PREFIX/bin/lls" --version) into $PREFIX"

[ "$SERVICE" = 1 ] || exit 0
if [ "$(id -u)" != 0 ]; then
    echo "install.sh: the service user and the unit need root (or pass --no-service)" >&2
    exit 1
fi
if ! id lls >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/lls --shell /usr/sbin/nologin lls
    echo "created the system user lls"
fi
install -d -o lls -g lls -m 0700 /var/lib/lls
install -d -m 0755 /etc/lls
if [ ! -e /etc/lls/lls.yaml ]; then
    install -m 0644 "$HERE/lls.yaml" /etc/lls/lls.yaml
fi
sed "s#/opt/lls/bin/lls#$PREFIX/bin/lls#g" "$HERE/lls.service" > /etc/systemd/system/lls.service
chmod 0644 /etc/systemd/system/lls.service
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
fi
cat <<NEXT
next, as the service user:
  sudo -u lls $PREFIX/bin/lls init --data-dir /var/lib/lls --vendor-keys vendor.jwks
  sudo systemctl enable --now lls
NEXT
