# scripts/lib.sh: shell helpers shared by setup.sh and pg.sh (sourced, not run).

# Directory holding initdb/pg_ctl/createdb.
pg_bin_dir() {
  # Prefer initdb/pg_ctl on PATH (this image: /usr/local/bin, symlinks into
  # /usr/lib/postgresql/15/bin, where createdb also is); else Debian's layout.
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  local d
  while IFS= read -r d; do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
      echo "$d"
      return 0
    fi
  done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V -r)
  return 1
}
