#!/bin/sh
# Install rig on a Raspberry Pi (Raspberry Pi OS Bookworm, Pi 4 or Pi 5) from this checkout.
#
#   sudo scripts/install-pi.sh              # install or update (idempotent; re-run after git pull)
#   scripts/install-pi.sh --dry-run         # print every step, change nothing (no sudo needed)
#   sudo scripts/install-pi.sh --kiosk no   # no touchscreen; other options: --help
#
# It runs `rig install --source <this checkout>` with the system Python (standard library
# only), which installs the apt packages, creates /opt/rig/venv and pip-installs this
# checkout into it. Afterwards the `rig` command is on the PATH: `sudo rig install`,
# `sudo rig uninstall`. Details: docs/install.md.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v python3 >/dev/null 2>&1; then
    echo "install-pi.sh: python3 is missing: sudo apt-get install python3" >&2
    exit 1
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "install-pi.sh: rig needs Python 3.11 or newer (Raspberry Pi OS Bookworm has it)" >&2
    exit 1
fi

dry=""
for arg in "$@"; do
    [ "$arg" = "--dry-run" ] && dry=1
done
if [ -z "$dry" ] && [ "$(id -u)" -ne 0 ]; then
    exec sudo -- "$0" "$@"
fi

# -P (safe path) keeps Python from importing stray modules from the current folder.
PYTHONPATH="$here" exec python3 -P -m rig.cli.cmd_install install --source "$here" "$@"
