# Sourced by scripts/serve, scripts/test and scripts/cg: make .venv and install the project into it.
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
    local prefix="$VENV/.installed-$(sha256sum "$ROOT/pyproject.toml" | cut -c1-16)"
    local stamp="$prefix-${extras:-base}"
    # The test extras include the base install: after ./scripts/test, ./scripts/serve starts at once.
    if [ ! -e "$stamp" ] && { [ -n "$extras" ] || [ ! -e "$prefix-test" ]; }; then
        echo "installing consent-gateway${extras:+[$extras]} into $VENV ..." >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -e "$ROOT${extras:+[$extras]}"
        touch "$stamp"
    fi
    export PATH="$VENV/bin:$PATH"
}

absolute_settings() {  # relative paths in these settings mean the caller's folder, though we run in $ROOT
    local name value
    for name in GATEWAY_CONFIG GATEWAY_DATA_DIR GATEWAY_GEOIP_CITY_DB GATEWAY_GEOIP_ASN_DB; do
        value="${!name:-}"
        case "$value" in
            "" | /*) ;;
            "~" | "~/"*) [ -z "${HOME:-}" ] || export "$name=$HOME${value#"~"}" ;;  # as expanduser reads it
            "~"*) ;;  # ~user/...: the gateway expands it
            *) export "$name=$PWD/$value" ;;
        esac
    done
}

ensure_browser_tools() {  # Node packages of consent_banner/, tracker_js/ and dashboard_js/, and Debian's chromium
    command -v npm >/dev/null \
        || { echo "the browser tests need Node.js 18+ with npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
    local folder lock stamp
    for folder in consent_banner tracker_js dashboard_js; do
        lock="$ROOT/$folder/package-lock.json"
        stamp="$ROOT/$folder/node_modules/.installed-$(sha256sum "$lock" | cut -c1-16)"
        [ -e "$stamp" ] && continue
        echo "installing $folder's build and test packages (npm ci) ..." >&2
        (cd "$ROOT/$folder" && npm ci --no-audit --no-fund --loglevel=error) \
            || { echo "npm ci failed in $folder/" >&2; exit 1; }
        touch "$stamp"
    done
    # Debian's chromium, and a CJK font so screenshots of the Chinese banner show its text.
    local missing=()
    command -v chromium >/dev/null || missing+=(chromium)
    dpkg-query -W -f='${Status}' fonts-wqy-microhei 2>/dev/null | grep -q "ok installed" \
        || missing+=(fonts-wqy-microhei)
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing Debian packages for the browser tests: ${missing[*]} ..." >&2
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
        export DEBIAN_FRONTEND=noninteractive  # CI has no terminal: a debconf question must not wait
        { $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
            || { $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends \
                 "${missing[@]}" >/dev/null; }; } \
            || { echo "could not install ${missing[*]}: run 'apt-get install ${missing[*]}' as root" >&2; exit 1; }
    fi
}
