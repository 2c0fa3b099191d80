#!/usr/bin/env bash
# Shared by deploy.sh and run-sample-tests.sh: dry runs, tool checks, one-line errors.

DRY_RUN=${DRY_RUN:-0}

die() {
  echo "error: $*" >&2
  exit 1
}

# Run a command, or print it (quoted where the shell needs it) with --dry-run.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    local arg line="+"
    for arg in "$@"; do
      if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then line+=" $arg"; else line+=" $(printf '%q' "$arg")"; fi
    done
    printf '%s\n' "$line"
  else
    "$@"
  fi
}

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed or not on PATH: install it first (see docs/production.md)"
  done
}
