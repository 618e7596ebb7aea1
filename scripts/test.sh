#!/usr/bin/env bash
# scripts/test.sh [pytest args...]
#
# Why this exists: zhili must behave the same on SQLite (a developer's laptop, the demo) and
# PostgreSQL (production), so every test runs on both. This script is what CI runs (after
# scripts/setup.sh --test) and what developers run before pushing:
#   1. ruff check + ruff format --check on src, tests, bench (those that exist);
#   2. pytest on SQLite (ZHILI_TEST_DATABASE_URL unset: the settings' default);
#   3. pytest on a throwaway PostgreSQL cluster (scripts/pg.sh), with
#      ZHILI_TEST_DATABASE_URL=postgresql+psycopg://...; the cluster is always stopped.
# Browser tests (marker `browser`) run in both passes. pytest's exit 5 ("no tests
# collected") counts as success for a pass; anything else non-zero fails the script, after
# both passes have run. The last line is "total: N passed, N failed[, N skipped]".
#
# Environment:
#   ZHILI_TEST_WORKERS  pytest-xdist workers (default 2; 0 or 1 = no xdist)
#   ZHILI_TEST_DBS      which passes to run (default "sqlite postgresql")
#   ZHILI_TEST_LINT     0 skips ruff (default 1)
#   RUFF_OUTPUT_FORMAT  ruff's report format (default concise)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

PY=.venv/bin/python
[[ -x $PY ]] || {
  echo "test: $PY missing; run scripts/setup.sh --test first" >&2
  exit 1
}
WORKERS="${ZHILI_TEST_WORKERS:-2}"
DBS="${ZHILI_TEST_DBS:-sqlite postgresql}"

LOG_DIR="$(mktemp -d)"
PG_STARTED=0
cleanup() {
  if ((PG_STARTED)); then
    bash scripts/pg.sh stop || true
  fi
  rm -rf "$LOG_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILED=0
SUMMARY=()
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0

# --- lint ------------------------------------------------------------------------------
RUFF_FORMAT="${RUFF_OUTPUT_FORMAT:-concise}" # "full" shows the fixes and diffs
LINT_PATHS=()
for p in src tests bench; do
  if [[ -e $p ]]; then LINT_PATHS+=("$p"); fi
done
if [[ ${ZHILI_TEST_LINT:-1} != 0 ]] && ((${#LINT_PATHS[@]})); then
  echo "== ruff check ${LINT_PATHS[*]}"
  if ! "$PY" -m ruff check --output-format "$RUFF_FORMAT" "${LINT_PATHS[@]}"; then
    FAILED=1
    SUMMARY+=("ruff: check FAILED")
  fi
  echo "== ruff format --check ${LINT_PATHS[*]}"
  if ! "$PY" -m ruff format --check --output-format "$RUFF_FORMAT" "${LINT_PATHS[@]}"; then
    FAILED=1
    SUMMARY+=("ruff: format FAILED (run: .venv/bin/ruff format ${LINT_PATHS[*]})")
  fi
fi

# --- pytest ----------------------------------------------------------------------------
PYTEST=("$PY" -m pytest -q -p no:cacheprovider -c pyproject.toml --durations=30)
if ((WORKERS > 1)) && "$PY" -c 'import xdist' 2>/dev/null; then
  PYTEST+=(-n "$WORKERS" --dist loadfile) # one file, one worker: one Spark session
fi

# Count one outcome (passed, failed, errors, skipped) in pytest's closing line.
count() {
  grep -oE "[0-9]+ $1" <<<"$2" | grep -oE '^[0-9]+' | head -n 1 || true
}

# run_pytest NAME DATABASE_URL [pytest args...]: one pass, output shown live and kept for
# the summary. An empty DATABASE_URL means the default (SQLite).
run_pytest() {
  local name=$1 url=$2 log="$LOG_DIR/$1.log" rc t=$SECONDS
  shift 2
  local envs=(env -u ZHILI_TEST_DATABASE_URL)
  [[ -z $url ]] || envs=(env "ZHILI_TEST_DATABASE_URL=$url")
  echo "== pytest on $name: ${PYTEST[*]} $*"
  set +e
  "${envs[@]}" "${PYTEST[@]}" "$@" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  local last passed failed errors skipped
  last="$(grep -E '(passed|failed|error|skipped|no tests ran).* in [0-9.]+s' "$log" | tail -n 1 || true)"
  passed="$(count passed "$last")"
  failed="$(count failed "$last")"
  errors="$(count 'errors?' "$last")"
  skipped="$(count skipped "$last")"
  passed=${passed:-0} skipped=${skipped:-0}
  failed=$((${failed:-0} + ${errors:-0}))
  local shown="pytest exit $rc"
  if ((rc == 5)); then
    rc=0 # no tests collected: not a failure of this pass
    shown+=": no tests collected"
  elif ((rc != 0 && failed == 0)); then
    failed=1 # crashed, interrupted or usage error without a count: still a failure
  fi
  if ((rc != 0)); then FAILED=1; fi
  TOTAL_PASSED=$((TOTAL_PASSED + passed))
  TOTAL_FAILED=$((TOTAL_FAILED + failed))
  TOTAL_SKIPPED=$((TOTAL_SKIPPED + skipped))
  SUMMARY+=("$name: $passed passed, $failed failed, $skipped skipped ($shown, $((SECONDS - t))s)")
}

for db in $DBS; do
  case "$db" in
    sqlite)
      run_pytest sqlite "" "$@"
      ;;
    postgresql)
      echo "== starting PostgreSQL"
      PG_STARTED=1
      if url="$(bash scripts/pg.sh start)"; then
        run_pytest postgresql "$url" "$@"
        bash scripts/pg.sh stop
        PG_STARTED=0
      else
        FAILED=1
        TOTAL_FAILED=$((TOTAL_FAILED + 1))
        SUMMARY+=("postgresql: cluster did not start")
      fi
      ;;
    *)
      echo "test: unknown database '$db' in ZHILI_TEST_DBS" >&2
      exit 2
      ;;
  esac
done

echo "== summary"
for line in "${SUMMARY[@]}"; do
  echo "$line"
done
tail_line="total: $TOTAL_PASSED passed, $TOTAL_FAILED failed"
if ((TOTAL_SKIPPED)); then tail_line+=", $TOTAL_SKIPPED skipped"; fi
echo "$tail_line"
exit "$FAILED"
