# shellcheck shell=bash
# Helpers shared by deploy/*.sh. Sourced, never run.
#
# Conventions of every script that sources this file:
# - the result (zip path, image digest, task definition ARN, version) is the only thing on stdout,
#   so `x="$(deploy/script.sh)"` works; progress and errors go to stderr;
# - with --dry-run, commands that change something are printed to stderr as `dry-run: <command>`
#   and not run; read-only AWS calls still run so the plan shown is the real one.

PROG="$(basename "$0")"
# shellcheck disable=SC2034 # used by the scripts that source this file
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0

die() {
  printf '%s: %s\n' "$PROG" "$*" >&2
  exit 1
}

# Bad command line: exit 2 like most CLIs, and point at --help.
usage_error() {
  printf "%s: %s\nTry '%s --help'.\n" "$PROG" "$*" "$PROG" >&2
  exit 2
}

log() {
  printf '%s: %s\n' "$PROG" "$*" >&2
}

require_cmd() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd is required but was not found on PATH"
  done
}

# require_var NAME [FLAG]: NAME must be non-empty (set from the environment or from FLAG).
require_var() {
  [[ -n "${!1:-}" ]] || die "$1 is not set (export $1${2:+ or pass $2})"
}

# flag_value FLAG "$@": the value following FLAG, or a usage error when it is missing.
flag_value() {
  [[ $# -ge 2 && -n "$2" && "$2" != --* ]] || usage_error "$1 needs a value"
  printf '%s' "$2"
}

# Shell-quoted rendering of a command, for dry-run output a person can paste.
quote_cmd() {
  local out="" arg
  for arg in "$@"; do
    out+="${out:+ }$(printf '%q' "$arg")"
  done
  printf '%s' "$out"
}

# run CMD...: run a command that changes something, or only print it under --dry-run.
run() {
  if [[ "$DRY_RUN" == 1 ]]; then
    printf 'dry-run: %s\n' "$(quote_cmd "$@")" >&2
  else
    "$@"
  fi
}
