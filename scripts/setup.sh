#!/usr/bin/env bash
# scripts/setup.sh [--test]
#
# Why this exists: every machine (a developer's, CI's) starts from the bare image, and
# nothing installed by hand survives; this script is the one place that makes a checkout
# runnable. It is idempotent and quick when everything is already there:
#   - .venv (python3 -m venv) with `pip install -e ".[test,bench]"`, redone only when
#     pyproject.toml changed (hash stamp in .venv/.zhili-pyproject.sha256);
#   - `npm ci --prefix frontend`, redone only when node_modules is missing or
#     package-lock.json changed (stamp in frontend/node_modules/.zhili-lock.sha256);
#   - scripts/vendor.py: copies htmx / ECharts / Leaflet into src/zhili/web/static/vendor/.
# With --test, also the Debian packages the tests need, installed only when missing
# (apt-get install chromium drags in system upgrades, so never "just in case"):
#   chromium, fonts-wqy-microhei (or Chinese renders as boxes), PostgreSQL server binaries.
# Browsers are never installed through Playwright: tests use /usr/bin/chromium.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

WANT_TEST=0
for arg in "$@"; do
  case "$arg" in
    --test) WANT_TEST=1 ;;
    -h | --help)
      sed -n '2,16p' "$0"
      exit 0
      ;;
    *)
      echo "setup: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
START=$SECONDS
say() { echo "setup: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

# --- Debian packages (only with --test, only when missing) -------------------------------
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

deb_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

install_test_packages() {
  local missing=()
  if ! command -v chromium >/dev/null 2>&1 && [[ ! -x /usr/bin/chromium ]]; then
    missing+=(chromium)
  fi
  deb_installed fonts-wqy-microhei || missing+=(fonts-wqy-microhei)
  if ! pg_bin_dir >/dev/null; then
    missing+=(postgres)
  fi
  if ((${#missing[@]} == 0)); then
    say "debian: chromium, fonts-wqy-microhei, postgresql ($(pg_bin_dir)) present"
    return 0
  fi

  local sudo=()
  if ((EUID != 0)); then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "setup: missing Debian packages (${missing[*]}) and not root; install them" >&2
      exit 1
    fi
  fi

  say "debian: missing ${missing[*]}; apt-get update"
  "${sudo[@]}" apt-get update -q
  local pkgs=() p
  for p in "${missing[@]}"; do
    if [[ $p == postgres ]]; then
      # The versioned package when the archive has it (bookworm: postgresql-15), else the
      # distribution's default metapackage.
      if apt-cache show postgresql-15 >/dev/null 2>&1; then
        pkgs+=(postgresql-15)
      else
        pkgs+=(postgresql)
      fi
    else
      pkgs+=("$p")
    fi
  done
  say "debian: apt-get install ${pkgs[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  pg_bin_dir >/dev/null || {
    echo "setup: PostgreSQL installed but initdb/pg_ctl not found" >&2
    exit 1
  }
}

if ((WANT_TEST)); then
  install_test_packages
  # pg.sh runs the server as the postgres OS user when root; the Debian package creates it.
  if ((EUID == 0)) && ! id -u postgres >/dev/null 2>&1; then
    say "creating system user postgres"
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
fi

# --- Python virtualenv ------------------------------------------------------------------
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv ($(python3 --version))"
  python3 -m venv .venv
fi

STAMP=.venv/.zhili-pyproject.sha256
WANT_HASH="$(sha pyproject.toml)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" == "$WANT_HASH" ]] \
  && .venv/bin/python -c 'import importlib.util as u, sys; sys.exit(u.find_spec("zhili") is None)'; then
  say "python: .venv up to date with pyproject.toml"
else
  say "python: pip install -e .[test,bench] (takes a while on a fresh machine)"
  t=$SECONDS
  .venv/bin/python -m pip install -q -e ".[test,bench]"
  echo "$WANT_HASH" >"$STAMP"
  say "python: installed in $((SECONDS - t))s"
fi

# --- Front-end assets -------------------------------------------------------------------
LOCK_STAMP=frontend/node_modules/.zhili-lock.sha256
LOCK_HASH="$(sha frontend/package-lock.json)"
if [[ -d frontend/node_modules && "$(cat "$LOCK_STAMP" 2>/dev/null || true)" == "$LOCK_HASH" ]]; then
  say "npm: frontend/node_modules up to date with package-lock.json"
else
  say "npm: npm ci --prefix frontend"
  npm ci --prefix frontend --no-audit --no-fund --loglevel=error
  echo "$LOCK_HASH" >"$LOCK_STAMP"
fi
.venv/bin/python scripts/vendor.py

say "done in $((SECONDS - START))s"
