# Sourced by scripts/serve and scripts/test: make .venv and install the project into it.
# Re-installs only when pyproject.toml changed, so the second run starts at once.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CONSENT_GATEWAY_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

ensure_venv() {  # $1: pip extras, e.g. "test" or ""
    local extras="${1:-}"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "consent-gateway needs Python 3.11 or newer ($PYTHON is $("$PYTHON" -V))" >&2; exit 1; }
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    local stamp="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)-${extras:-base}"
    if [ ! -e "$stamp" ]; then
        echo "installing consent-gateway${extras:+[$extras]} into $VENV ..." >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e "$ROOT${extras:+[$extras]}"
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}
