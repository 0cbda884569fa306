#!/usr/bin/env bash
# End to end from a clean copy: `bin/kms up` in the background on a free port, wait for
# /health/ready, `bin/kms demo` against it, check its exit code, stop the server with SIGINT (as
# Ctrl-C) and check that it stopped cleanly. Run by `bin/kms test` after `mvn -B verify`.
#
#   .ci/e2e-up-demo.sh [--head] [--keep]
#
# The copy is the working tree as the next commit would hold it (tracked files plus untracked
# files that are not git-ignored; so no var/, no target/), or with --head a `git clone` of HEAD.
# It builds the distribution in the copy (bin/kms up: mvn package of kms-dist), creates
# its own SoftHSM2 token, keys, TLS material and credentials under the copy's var/, and deletes
# the copy at the end unless --keep. Nothing is left running.
#
# Exit codes: 0 ok, 1 failure (the log of `up` is printed), 64 usage error.
set -euo pipefail

readonly READY_TIMEOUT_S=${KMS_E2E_READY_TIMEOUT_S:-600}
readonly STOP_TIMEOUT_S=30
SRC=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
readonly SRC

say() { printf 'e2e: %s\n' "$*" >&2; }

from_head=0 keep=0
for arg in "$@"; do
  case $arg in
    --head) from_head=1 ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,14p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument: $arg"; exit 64 ;;
  esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-e2e.XXXXXX")
work="$tmp/repo"
up_pid=''

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if [[ -n $up_pid ]] && kill -0 "$up_pid" 2>/dev/null; then
    say "stopping the leftover server (pid $up_pid)"
    # up runs in its own process group (setsid): stop the build, token set-up or server with it.
    kill -TERM -- "-$up_pid" 2>/dev/null || kill -TERM "$up_pid" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$up_pid" 2>/dev/null || kill -KILL "$up_pid" 2>/dev/null || true
  fi
  if ((keep)); then
    say "kept $tmp"
  else
    rm -rf -- "$tmp"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# shellcheck source=.ci/worktree-copy.sh
. "$SRC/.ci/worktree-copy.sh"
if ((from_head)); then
  say "cloning HEAD of $SRC into $work"
  clone_head "$SRC" "$work"
else
  say "copying the working tree of $SRC (tracked and untracked, not ignored) into $work"
  copy_worktree "$SRC" "$work"
fi

# A free TCP port: nothing accepts a connection on it.
port=''
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    port=$p
    break
  fi
done
[[ -n $port ]] || { say "no free port found"; exit 1; }

# The copy must use only its own token and files: none of the caller's SOFTHSM2_CONF or KMS_*
# settings (which could point at the caller's dev token or at a real HSM) reach it.
clean_env=(env -u SOFTHSM2_CONF)
while IFS= read -r var; do
  clean_env+=(-u "$var")
done < <(compgen -e | grep '^KMS_' || true)

log="$tmp/up.log"
say "bin/kms up on port $port (log: $log)"
(cd -- "$work" && exec setsid "${clean_env[@]}" KMS_HTTP_PORT="$port" bin/kms up) >"$log" 2>&1 &
up_pid=$!

ready() {
  if command -v curl >/dev/null 2>&1 && [[ -r $work/var/tls/ca.pem ]]; then
    [[ $(curl -s --max-time 5 -o /dev/null -w '%{http_code}' --cacert "$work/var/tls/ca.pem" \
      "https://localhost:$port/health/ready" 2>/dev/null) == 200 ]]
  else
    grep -q 'KMS ready on' "$log"
  fi
}

started=$SECONDS
until ready; do
  if ! kill -0 "$up_pid" 2>/dev/null; then
    say "bin/kms up ended before the KMS was ready:"
    cat -- "$log" >&2
    up_pid=''
    exit 1
  fi
  if ((SECONDS - started > READY_TIMEOUT_S)); then
    say "the KMS was not ready after ${READY_TIMEOUT_S}s:"
    cat -- "$log" >&2
    exit 1
  fi
  sleep 1
done
say "KMS ready after $((SECONDS - started))s (build included)"

rc=0
(cd -- "$work" && timeout 300 "${clean_env[@]}" bin/kms demo --server "https://localhost:$port") ||
  rc=$?
say "bin/kms demo exited $rc"

say "stopping the KMS with SIGINT (Ctrl-C)"
if ! kill -INT "$up_pid" 2>/dev/null; then
  say "the KMS was already gone before the stop"
  rc=1
fi
for _ in $(seq 1 "$STOP_TIMEOUT_S"); do
  kill -0 "$up_pid" 2>/dev/null || break
  sleep 1
done
if kill -0 "$up_pid" 2>/dev/null; then
  say "the KMS did not stop within ${STOP_TIMEOUT_S}s"
  rc=1
else
  up_rc=0
  wait "$up_pid" || up_rc=$?
  up_pid=''
  if ((up_rc != 0)); then
    say "bin/kms up exited $up_rc after Ctrl-C (0 = stopped cleanly)"
    rc=1
  fi
  if ! grep -q 'kms: stopped' "$log"; then
    say "the KMS ended without its clean-stop message:"
    tail -n 20 -- "$log" >&2
    rc=1
  fi
fi
if ((rc == 0)); then
  # The audit trail of what just ran, verified offline through the checkout's bin/kms: the
  # node's log and the per-host CLI log (token init and the demo enrolments of bin/kms up).
  say "bin/kms audit verify of var/audit (the node's log and the CLI's)"
  node_key=$(cd -- "$work" && "${clean_env[@]}" bin/kms audit key 2>/dev/null) || node_key=''
  cli_key=$(cd -- "$work" && "${clean_env[@]}" bin/kms audit key --cli 2>/dev/null) || cli_key=''
  if [[ -z $node_key || -z $cli_key ]]; then
    say "bin/kms audit key printed no verifier key"
    rc=1
  else
    mapfile -t audit_dirs < <(find "$work/var/audit" -mindepth 0 -maxdepth 1 -type d \
      \( -path "$work/var/audit" -o -name 'cli-*' \) | sort)
    if ! (cd -- "$work" && "${clean_env[@]}" bin/kms audit verify --key "$node_key" \
      --key "$cli_key" "${audit_dirs[@]}" >&2); then
      say "bin/kms audit verify failed on ${audit_dirs[*]}"
      rc=1
    fi
  fi
fi
if ((rc != 0)); then
  say "FAILED; log of bin/kms up:"
  cat -- "$log" >&2
else
  say "PASSED: bin/kms up + bin/kms demo from a clean copy"
fi
exit "$rc"
