#!/usr/bin/env bash
# The cluster against real processes (docs/scaling.md, "Tests"), from a clean copy: in a copy of
# the working tree, `bin/kms cluster up --nodes 2` on free ports (never 8443: a developer's
# `bin/kms up` or cluster may be there), `bin/kms demo --server` through HAProxy, then
# io.imskms.bench.ClusterCheck: (a) a request captured at node 1 refused as a replay at node 2,
# (b) kill -9 of a node under a bounded load through HAProxy with no failed operation,
# (d) a node added while running serving traffic after its health check, (c) Redis stopped under
# load (503 REPLAY_STORE_UNAVAILABLE and not ready within 2 s, no replay accepted, serving again
# within 5 s of Redis returning). `bin/kms cluster down` at the end, whatever happened.
# Run by `bin/kms test` after `mvn -B verify` (which builds the tarball and kms-bench used here).
#
#   .ci/e2e-cluster.sh [--keep]
#
# Needs redis-server, haproxy and curl (bin/kms test installs them). Exit codes: 0 ok, 1 failure
# (the logs of the cluster's processes are printed), 64 usage error.
set -euo pipefail

SRC=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
readonly SRC

say() { printf 'e2e-cluster: %s\n' "$*" >&2; }

keep=0
for arg in "$@"; do
  case $arg in
    --keep) keep=1 ;;
    -h | --help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) say "unknown argument: $arg"; exit 64 ;;
  esac
done

bench=$SRC/kms-bench/target
if [[ ! -d $bench/classes || ! -r $bench/bench.classpath ]]; then
  say "kms-bench is not built: mvn -B -DskipTests install -pl kms-bench -am (bin/kms test builds it)"
  exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kms-e2e-cluster.XXXXXX")
work="$tmp/repo"
started=0

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  if ((started)); then
    say "bin/kms cluster down"
    (cd -- "$work" && "${clean_env[@]}" bin/kms cluster down) || rc=1
    # Nothing of ours may be left: each pid file names a process cluster down must have ended.
    if compgen -G "$work/var/cluster/*.pid" >/dev/null; then
      say "pid files left after cluster down: $(ls "$work/var/cluster/"*.pid)"
      rc=1
    fi
  fi
  if ((rc != 0)) && [[ -d $work/var/cluster ]]; then
    for log in "$work"/var/cluster/node*/kms.log "$work"/var/cluster/haproxy/haproxy.log \
      "$work"/var/cluster/redis/redis.log; do
      [[ -r $log ]] || continue
      say "--- tail of $log"
      tail -n 40 -- "$log" >&2
    done
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
say "copying the working tree of $SRC into $work"
copy_worktree "$SRC" "$work"

# The distribution `mvn verify` just built, unpacked where bin/kms looks for it, so the copy does
# not build it again (bin/kms rebuilds if anything is newer than the stamp).
tarball=$(compgen -G "$SRC/kms-dist/target/ims-kms-*.tar.gz" | head -n 1 || true)
if [[ -n $tarball ]]; then
  mkdir -p -- "$work/kms-dist/target/installed"
  tar -xzf "$tarball" -C "$work/kms-dist/target/installed"
  touch -- "$work/kms-dist/target/kms-build.stamp"
fi

# A run of free ports: nothing accepts a connection on any of them.
free_run() {
  local n=$1 base p ok _
  for _ in $(seq 1 100); do
    base=$((20000 + RANDOM % 40000))
    ok=1
    for ((p = base; p < base + n; p++)); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        ok=0
        break
      fi
    done
    if ((ok)); then
      printf '%d\n' "$base"
      return 0
    fi
  done
  return 1
}
slots=4
base=$(free_run $((slots + 3))) || { say "no free ports found"; exit 1; }

# Only the copy's own token and files: none of the caller's SOFTHSM2_CONF or KMS_* settings.
clean_env=(env -u SOFTHSM2_CONF)
while IFS= read -r var; do
  clean_env+=(-u "$var")
done < <(compgen -e | grep '^KMS_' || true)
clean_env+=(KMS_CLUSTER_LB_PORT="$base" KMS_CLUSTER_STATS_PORT=$((base + 1))
  KMS_CLUSTER_REDIS_PORT=$((base + 2)) KMS_CLUSTER_NODE_PORT=$((base + 3))
  KMS_CLUSTER_SLOTS="$slots")

say "bin/kms cluster up --nodes 2 (HAProxy on $base, nodes from $((base + 3)), redis $((base + 2)))"
started=1
t0=$SECONDS
(cd -- "$work" && "${clean_env[@]}" timeout 900 bin/kms cluster up --nodes 2) >&2
say "cluster up after $((SECONDS - t0))s"
(cd -- "$work" && "${clean_env[@]}" bin/kms cluster status) >&2

say "bin/kms demo --server https://localhost:$base (through HAProxy)"
(cd -- "$work" && "${clean_env[@]}" timeout 300 bin/kms demo --server "https://localhost:$base") \
  >"$tmp/demo.log" 2>&1 || { cat -- "$tmp/demo.log" >&2; say "the demo through HAProxy failed"; exit 1; }
grep 'DEMO PASSED' "$tmp/demo.log" >&2

say "ClusterCheck: (a) replay across nodes, (b) kill -9 under load, (d) add a node, (c) Redis outage"
(cd -- "$work" && "${clean_env[@]}" timeout 600 java -Xmx256m -Djava.io.tmpdir="$tmp" \
  -cp "$bench/classes:$(cat -- "$bench/bench.classpath")" io.imskms.bench.ClusterCheck \
  --repo "$work" --nodes 2)
say "PASSED: the cluster against real processes ($((SECONDS - t0))s)"
