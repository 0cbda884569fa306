#!/usr/bin/env bash
# Reproducible build check: builds the distribution tarball a second time, from a copy of the
# working tree in another folder (as the next commit would hold it), and compares it byte for
# byte with kms-dist/target/ims-kms-*.tar.gz of this checkout (built first when missing). Run
# by `bin/kms test` right after `mvn -B verify`, which built the first one.
#
#   .ci/reproducible.sh [--keep]
#
# Exit codes: 0 identical, 1 different or a build failed, 64 usage error.
set -euo pipefail

SRC=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
readonly SRC
say() { printf 'reproducible: %s\n' "$*" >&2; }

keep=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument: $arg"; exit 64 ;;
  esac
done

tarball_in() { compgen -G "$1/kms-dist/target/ims-kms-*.tar.gz" | head -n 1; }

first=$(tarball_in "$SRC" || true)
if [[ -z $first ]]; then
  say "no tarball in $SRC/kms-dist/target: building it (mvn -B -q -DskipTests package)"
  (cd -- "$SRC" && mvn -B -q -DskipTests package -pl kms-dist -am) || exit 1
  first=$(tarball_in "$SRC")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-repro.XXXXXX")
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if ((keep)); then say "kept $tmp"; else rm -rf -- "$tmp"; fi
  exit "$rc"
}
trap cleanup EXIT

# shellcheck source=.ci/worktree-copy.sh
. "$SRC/.ci/worktree-copy.sh"
copy_worktree "$SRC" "$tmp/repo"
say "second build in $tmp/repo (mvn -B -q -DskipTests package -pl kms-dist -am)"
(cd -- "$tmp/repo" && mvn -B -q -DskipTests package -pl kms-dist -am) >&2 || exit 1
second=$(tarball_in "$tmp/repo")
[[ -n $second ]] || { say "the second build made no tarball"; exit 1; }

a=$(sha256sum <"$first" | cut -d' ' -f1)
b=$(sha256sum <"$second" | cut -d' ' -f1)
say "first:  $a  ${first#"$SRC"/}"
say "second: $b  (built in another folder, $(date -u +%H:%M:%S) UTC)"
if [[ $a != "$b" ]]; then
  say "FAILED: the two tarballs differ; entries that differ:"
  diff <(tar -tvzf "$first") <(tar -tvzf "$second") >&2 || true
  exit 1
fi
say "PASSED: byte-identical ($(stat -c %s "$first") bytes)"
