#!/usr/bin/env bash
# cluster.sh: a local KMS cluster on the dev token (docs/scaling.md): one redis-server (the shared
# replay cache), N KMS nodes from the installed distribution, and HAProxy in TCP mode in front,
# passing TLS through to the nodes (mutual TLS still ends at the node). Run through
# `bin/kms cluster up|status|down`, which first makes the dev token, keys, directory, demo
# credentials and the distribution (as `bin/kms up` does) and sets KMS_CLUSTER_KMS.
#
#   cluster.sh up [--nodes N]     start redis, node 1 (alone: it makes var/tls/ on a first start),
#                                 nodes 2..N, then HAProxy; wait until each is ready
#   cluster.sh status             each process (pid, alive), each node's /health/ready, HAProxy's
#                                 view of each server; exit 0 if all are up and ready, else 1
#   cluster.sh down               stop everything it started, by PID (idempotent)
#   cluster.sh add-node           start one more node; HAProxy sends it traffic once its health
#                                 check passes
#   cluster.sh kill-node I        kill -9 node I (failure tests)
#   cluster.sh stop-node I | start-node I | redis-stop | redis-start
#
# Environment (read at `up`, then remembered in <dir>/cluster.env for the other commands):
#   KMS_CLUSTER_DIR        state folder (default var/cluster): pid files, logs, configs,
#                          nodeI/audit
#   KMS_CLUSTER_LB_PORT    HAProxy's port (default 8443, the address of `bin/kms up`)
#   KMS_CLUSTER_NODE_PORT  node 1's port (default 8444); node I listens on NODE_PORT + I - 1
#   KMS_CLUSTER_REDIS_PORT redis-server's port (default 6390, not 6379: leave a system Redis be)
#   KMS_CLUSTER_STATS_PORT HAProxy's CSV stats page on 127.0.0.1 (default 8404)
#   KMS_CLUSTER_SLOTS      servers declared in HAProxy (default 8, at least N): a node started
#                          later on a spare slot's port joins once its health check passes
#   KMS_CLUSTER_KMS        the distribution's bin/kms (set by bin/kms)
#   KMS_CLUSTER_JAVA_OPTS  JVM options of every node (default -Xms64m -Xmx256m)
#   KMS_CLUSTER_READY_S    how long to wait for a node to be ready (default 180)
#
# Exit codes: 0 ok, 1 failure, 2 missing prerequisite, 64 usage error.
set -euo pipefail

REPO_ROOT=$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/.." && pwd -P)
readonly REPO_ROOT
cd -- "$REPO_ROOT"

say() { printf 'cluster: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  printf 'cluster: error: %s\n' "$*" >&2
  exit "$code"
}

DIR=${KMS_CLUSTER_DIR:-$REPO_ROOT/var/cluster}
[[ $DIR == /* ]] || DIR=$REPO_ROOT/$DIR
STATE=$DIR/cluster.env
CONFIG=config/kms.yaml
CA=var/tls/ca.pem

# The settings of a running cluster win over the environment: status/down/add-node must talk to
# the ports `up` used.
load_settings() {
  if [[ -r $STATE ]]; then
    # shellcheck disable=SC1090
    . "$STATE"
  else
    LB_PORT=${KMS_CLUSTER_LB_PORT:-8443}
    NODE_PORT=${KMS_CLUSTER_NODE_PORT:-8444}
    REDIS_PORT=${KMS_CLUSTER_REDIS_PORT:-6390}
    STATS_PORT=${KMS_CLUSTER_STATS_PORT:-8404}
    SLOTS=${KMS_CLUSTER_SLOTS:-8}
    JAVA_OPTS=${KMS_CLUSTER_JAVA_OPTS:--Xms64m -Xmx256m}
    KMS_BIN=${KMS_CLUSTER_KMS:-}
  fi
}

save_settings() {
  mkdir -p -- "$DIR"
  {
    printf 'LB_PORT=%q\nNODE_PORT=%q\nREDIS_PORT=%q\nSTATS_PORT=%q\nSLOTS=%q\n' \
      "$LB_PORT" "$NODE_PORT" "$REDIS_PORT" "$STATS_PORT" "$SLOTS"
    printf 'JAVA_OPTS=%q\nKMS_BIN=%q\n' "$JAVA_OPTS" "$KMS_BIN"
  } >"$STATE.tmp"
  mv -f -- "$STATE.tmp" "$STATE"
}

is_number() { [[ $1 =~ ^[0-9]+$ ]]; }

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_port() { printf '%d\n' $((NODE_PORT + $1 - 1)); }

# The pid recorded in $1.pid if that process is alive and is what we started (its command line
# contains $2): a stale pid file never makes us signal an unrelated process.
live_pid() {
  local file=$DIR/$1.pid pid
  [[ -r $file ]] || return 1
  pid=$(<"$file")
  is_number "$pid" || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$2" || return 1
  printf '%s\n' "$pid"
}

# Signals the process of pid file $1 (matching $2) with TERM, then KILL after $3 seconds.
stop_proc() {
  local name=$1 match=$2 wait_s=${3:-30} pid i
  if pid=$(live_pid "$name" "$match"); then
    say "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait_s * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) did not stop within ${wait_s}s: kill -9"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f -- "$DIR/$name.pid"
}

http_code() {
  curl -s --max-time "${2:-3}" -o /dev/null -w '%{http_code}' --cacert "$CA" "$1" 2>/dev/null ||
    true
}

# --- redis ----------------------------------------------------------------------------------

redis_start() {
  local pid
  if pid=$(live_pid redis redis-server); then
    say "redis already running (pid $pid)"
    return 0
  fi
  port_in_use "$REDIS_PORT" && die 1 "port $REDIS_PORT (redis) is in use by something else"
  mkdir -p -- "$DIR/redis"
  chmod 700 -- "$DIR/redis"
  # 127.0.0.1 only, protected mode; append-only file so that a restart keeps the replay entries
  # (a restarted Redis without them would accept a replay of a request seen before the stop).
  setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$DIR/redis" \
    --protected-mode yes --save '' --appendonly yes --appendfsync everysec \
    --maxmemory-policy noeviction --daemonize no --logfile "$DIR/redis/redis.log" \
    </dev/null >/dev/null 2>&1 &
  printf '%s\n' "$!" >"$DIR/redis.pid"
  local i
  for ((i = 0; i < 100; i++)); do
    if [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; then
      say "redis ready on 127.0.0.1:$REDIS_PORT (pid $(<"$DIR/redis.pid"))"
      return 0
    fi
    kill -0 "$(<"$DIR/redis.pid")" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 -- "$DIR/redis/redis.log" >&2 || true
  die 1 "redis-server did not start (log: $DIR/redis/redis.log)"
}

redis_stop() { stop_proc redis redis-server 10; }

# --- nodes ----------------------------------------------------------------------------------

node_start() {
  local i=$1 port pid dir
  port=$(node_port "$i")
  dir=$DIR/node$i
  if pid=$(live_pid "node$i" io.imskms); then
    say "node $i already running (pid $pid)"
    return 0
  fi
  port_in_use "$port" && die 1 "port $port (node $i) is in use by something else"
  [[ -n $KMS_BIN && -x $KMS_BIN ]] || die 2 "no KMS distribution (run through bin/kms cluster)"
  mkdir -p -- "$dir/audit"
  chmod 700 -- "$dir"
  # config/kms.yaml (dev mode, the dev token) with this node's port, audit log and name, and the
  # replay cache shared on Redis. SOFTHSM2_CONF comes from bin/kms; the SO PIN never reaches it.
  (
    unset KMS_HSM_SO_PIN
    export KMS_HTTP_PORT=$port KMS_AUDIT_DIR=$dir/audit KMS_AUDIT_NODE=node-$i
    export KMS_AUDIT_ORIGIN=imskms.example/audit/node-$i
    export KMS_REPLAY_STORE=redis KMS_REDIS_TYPE=standalone
    export KMS_REDIS_ENDPOINTS=redis://127.0.0.1:$REDIS_PORT
    # 750 ms instead of the default 250: on a shared development machine (load average above 10)
    # a freshly started node's first Redis round trips took longer, and were refused with 503.
    export KMS_REDIS_TIMEOUT_MILLIS=${KMS_REDIS_TIMEOUT_MILLIS:-750}
    export KMS_JAVA_OPTS="$JAVA_OPTS"
    exec setsid "$KMS_BIN" serve --config "$CONFIG" </dev/null >"$dir/kms.log" 2>&1
  ) &
  printf '%s\n' "$!" >"$DIR/node$i.pid"
  say "node $i starting on https://localhost:$port (pid $!, log $dir/kms.log)"
}

node_wait_ready() {
  local i=$1 port pid started=$SECONDS limit=${KMS_CLUSTER_READY_S:-180}
  port=$(node_port "$i")
  pid=$(<"$DIR/node$i.pid")
  until [[ -r $CA && $(http_code "https://localhost:$port/health/ready") == 200 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 -- "$DIR/node$i/kms.log" >&2 || true
      die 1 "node $i exited before it was ready (log: $DIR/node$i/kms.log)"
    fi
    if ((SECONDS - started > limit)); then
      tail -n 30 -- "$DIR/node$i/kms.log" >&2 || true
      die 1 "node $i not ready after ${limit}s (log: $DIR/node$i/kms.log)"
    fi
    sleep 0.5
  done
  say "node $i ready on https://localhost:$port ($((SECONDS - started))s)"
}

# The highest node number with a pid file.
node_count() {
  local n=0 f i
  for f in "$DIR"/node*.pid; do
    [[ -e $f ]] || continue
    i=$(basename -- "$f" .pid)
    i=${i#node}
    ((i > n)) && n=$i
  done
  printf '%d\n' "$n"
}

# What the command line of a pid file's process contains.
match_of() {
  case $1 in
    node*) printf 'io.imskms\n' ;;
    redis) printf 'redis-server\n' ;;
    *) printf '%s\n' "$1" ;;
  esac
}

# --- haproxy --------------------------------------------------------------------------------

haproxy_config() {
  local i port
  mkdir -p -- "$DIR/haproxy"
  {
    cat <<CFG
# Written by cluster/cluster.sh up (docs/scaling.md). TCP mode: TLS passes through to the nodes,
# so the client's certificate (mutual TLS of mailboxes) reaches the node that checks it.
global
    maxconn 4096
    stats socket $DIR/haproxy/admin.sock mode 600 level admin

defaults
    mode tcp
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    # A connection refused by a node is tried again on another (every retry redispatches).
    retries 3
    option redispatch 1

frontend kms
    bind 127.0.0.1:$LB_PORT
    default_backend nodes

listen stats
    mode http
    bind 127.0.0.1:$STATS_PORT
    stats enable
    stats uri /
    stats refresh 5s

backend nodes
    balance roundrobin
    # Health: GET /health/ready over TLS 1.3 every second; 2 failures = DOWN, 2 passes = UP.
    # verify none for the health check only (it carries no secret and no client certificate);
    # client traffic is end-to-end TLS between the client and the node.
    option httpchk
    http-check send meth GET uri /health/ready ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    default-server check check-ssl verify none check-sni localhost ssl-min-ver TLSv1.3 inter 1s fastinter 500ms fall 2 rise 2 on-marked-down shutdown-sessions
CFG
    for ((i = 1; i <= SLOTS; i++)); do
      port=$(node_port "$i")
      printf '    server node%d 127.0.0.1:%d\n' "$i" "$port"
    done
    printf '    # When every node fails its health check (Redis down: all answer 503), send clients on\n'
    printf '    # anyway, so they get the explicit 503 REPLAY_STORE_UNAVAILABLE, not a closed connection.\n'
    printf '    option allbackups\n'
    for ((i = 1; i <= SLOTS; i++)); do
      port=$(node_port "$i")
      printf '    server node%d-unchecked 127.0.0.1:%d backup no-check\n' "$i" "$port"
    done
  } >"$DIR/haproxy/haproxy.cfg"
  haproxy -c -q -f "$DIR/haproxy/haproxy.cfg" >&2 || die 1 "HAProxy refuses $DIR/haproxy/haproxy.cfg"
}

haproxy_start() {
  local pid i
  if pid=$(live_pid haproxy haproxy); then
    say "haproxy already running (pid $pid)"
    return 0
  fi
  port_in_use "$LB_PORT" && die 1 "port $LB_PORT is in use (a KMS from bin/kms up?): the load" \
    "balancer must be the only thing on it; stop it, or set KMS_CLUSTER_LB_PORT"
  port_in_use "$STATS_PORT" && die 1 "port $STATS_PORT (HAProxy stats) is in use"
  haproxy_config
  # -db: stays in the foreground of its own session, so the pid is HAProxy's own.
  setsid haproxy -db -f "$DIR/haproxy/haproxy.cfg" </dev/null >"$DIR/haproxy/haproxy.log" 2>&1 &
  printf '%s\n' "$!" >"$DIR/haproxy.pid"
  for ((i = 0; i < 100; i++)); do
    port_in_use "$LB_PORT" && break
    kill -0 "$(<"$DIR/haproxy.pid")" 2>/dev/null || break
    sleep 0.1
  done
  port_in_use "$LB_PORT" || {
    cat -- "$DIR/haproxy/haproxy.log" >&2 || true
    die 1 "HAProxy did not start (log: $DIR/haproxy/haproxy.log)"
  }
  say "haproxy on 127.0.0.1:$LB_PORT (pid $(<"$DIR/haproxy.pid")), stats http://127.0.0.1:$STATS_PORT/"
}

# name,status of each checked server, from HAProxy's CSV stats.
haproxy_servers() {
  curl -s --max-time 3 "http://127.0.0.1:$STATS_PORT/;csv" 2>/dev/null |
    awk -F, '$1 == "nodes" && $2 ~ /^node[0-9]+$/ { print $2 "," $18 }'
}

haproxy_wait_up() {
  local name=$1 started=$SECONDS
  until haproxy_servers | grep -q "^$name,UP"; do
    ((SECONDS - started < 30)) || die 1 "HAProxy does not see $name UP after 30s"
    sleep 0.3
  done
}

# --- commands -------------------------------------------------------------------------------

cmd_up() {
  local n=3
  while (($# > 0)); do
    case $1 in
      --nodes)
        (($# >= 2)) || die 64 "--nodes needs a number"
        n=$2
        shift 2
        ;;
      --nodes=*) n=${1#--nodes=}; shift ;;
      *) die 64 "up: unexpected argument '$1' (usage: cluster up [--nodes N])" ;;
    esac
  done
  is_number "$n" && ((n >= 1 && n <= 32)) || die 64 "--nodes must be 1 to 32"
  local f name
  for f in "$DIR"/*.pid; do
    [[ -e $f ]] || continue
    name=$(basename -- "$f" .pid)
    if live_pid "$name" "$(match_of "$name")" >/dev/null; then
      die 1 "a cluster is already running here ($name); bin/kms cluster status / down"
    fi
  done
  rm -f -- "$STATE"
  load_settings
  ((SLOTS >= n)) || SLOTS=$n
  for f in LB_PORT NODE_PORT REDIS_PORT STATS_PORT SLOTS; do
    is_number "${!f}" || die 64 "KMS_CLUSTER_${f%_PORT}... must be a number: ${!f}"
  done
  command -v redis-server >/dev/null && command -v haproxy >/dev/null &&
    command -v curl >/dev/null || die 2 "needs redis-server, haproxy and curl (bin/kms installs them)"
  # Everything is checked before anything starts: a half-started cluster is stopped on failure.
  port_in_use "$LB_PORT" && die 1 "port $LB_PORT is in use (a KMS from bin/kms up?): the load" \
    "balancer must be the only thing on it; stop it, or set KMS_CLUSTER_LB_PORT"
  for ((f = 1; f <= n; f++)); do
    port_in_use "$(node_port "$f")" && die 1 "port $(node_port "$f") (node $f) is in use"
  done
  save_settings
  # A failed start (die exits) or an interrupt stops whatever was started.
  trap 'rc=$?; if ((rc != 0)); then say "start failed: stopping what was started"; cmd_down >&2 || true; fi; exit "$rc"' EXIT
  trap 'exit 1' INT TERM
  redis_start
  # Node 1 alone first: on a first start it makes the dev TLS material the others read.
  node_start 1
  node_wait_ready 1
  for ((f = 2; f <= n; f++)); do
    node_start "$f"
  done
  for ((f = 2; f <= n; f++)); do
    node_wait_ready "$f"
  done
  haproxy_start
  for ((f = 1; f <= n; f++)); do
    haproxy_wait_up "node$f"
  done
  trap - EXIT INT TERM
  say "cluster up: https://localhost:$LB_PORT -> $n nodes (https://localhost:$NODE_PORT..$(node_port "$n")), redis 127.0.0.1:$REDIS_PORT"
  say "try: bin/kms demo    (or bin/kms demo --server https://localhost:$LB_PORT);  bin/kms cluster status;  bin/kms cluster down"
}

cmd_status() {
  local rc=0 f name pid port code body servers state
  if ! compgen -G "$DIR/*.pid" >/dev/null; then
    say "no cluster running (nothing in $DIR)"
    return 1
  fi
  servers=$(haproxy_servers || true)
  printf '%-9s %-8s %-6s %-28s %s\n' process pid alive address health
  if pid=$(live_pid redis redis-server); then
    state=$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null || true)
    printf '%-9s %-8s %-6s %-28s %s\n' redis "$pid" yes "127.0.0.1:$REDIS_PORT" "${state:-no answer}"
    [[ $state == PONG ]] || rc=1
  else
    printf '%-9s %-8s %-6s %-28s %s\n' redis - no "127.0.0.1:$REDIS_PORT" -
    rc=1
  fi
  for f in "$DIR"/node*.pid; do
    [[ -e $f ]] || continue
    name=$(basename -- "$f" .pid)
    port=$(node_port "${name#node}")
    if pid=$(live_pid "$name" io.imskms); then
      body=$(curl -s --max-time 3 --cacert "$CA" -w ' %{http_code}' \
        "https://localhost:$port/health/ready" 2>/dev/null || true)
      code=${body##* }
      state=$(printf '%s' "$servers" | awk -F, -v n="$name" '$1 == n { print $2 }')
      printf '%-9s %-8s %-6s %-28s %s\n' "$name" "$pid" yes "https://localhost:$port" \
        "ready=$([[ $code == 200 ]] && echo yes || echo "no ($code)") haproxy=${state:-?}"
      [[ $code == 200 ]] || rc=1
    else
      printf '%-9s %-8s %-6s %-28s %s\n' "$name" - no "https://localhost:$port" -
      rc=1
    fi
  done
  if pid=$(live_pid haproxy haproxy); then
    code=$(http_code "https://localhost:$LB_PORT/health/ready")
    printf '%-9s %-8s %-6s %-28s %s\n' haproxy "$pid" yes "https://localhost:$LB_PORT" \
      "ready through it: $([[ $code == 200 ]] && echo yes || echo "no ($code)")"
    [[ $code == 200 ]] || rc=1
  else
    printf '%-9s %-8s %-6s %-28s %s\n' haproxy - no "https://localhost:$LB_PORT" -
    rc=1
  fi
  return "$rc"
}

cmd_down() {
  local f name
  if ! compgen -G "$DIR/*.pid" >/dev/null; then
    say "nothing running"
    return 0
  fi
  stop_proc haproxy haproxy 10
  for f in "$DIR"/node*.pid; do
    [[ -e $f ]] || continue
    name=$(basename -- "$f" .pid)
    stop_proc "$name" io.imskms 30
  done
  redis_stop
  say "cluster stopped"
}

cmd_add_node() {
  local i
  i=$(($(node_count) + 1))
  ((i <= SLOTS)) || die 1 "HAProxy has $SLOTS server slots, all taken (KMS_CLUSTER_SLOTS at up)"
  node_start "$i"
  node_wait_ready "$i"
  haproxy_wait_up "node$i"
  say "node $i up and in HAProxy's rotation"
  printf '%d\n' "$i"
}

need_node() {
  [[ -n ${1:-} ]] && is_number "$1" && (($1 >= 1 && $1 <= SLOTS)) || die 64 "no node '${1:-}'"
}

main() {
  local cmd=${1:-}
  (($# == 0)) || shift
  load_settings
  case $cmd in
    up) cmd_up "$@" ;;
    status) cmd_status ;;
    down) cmd_down ;;
    add-node) cmd_add_node ;;
    kill-node)
      need_node "${1:-}"
      local pid
      pid=$(live_pid "node$1" io.imskms) || die 1 "node $1 is not running"
      kill -KILL "$pid"
      say "node $1 (pid $pid) killed with SIGKILL"
      ;;
    stop-node) need_node "${1:-}"; stop_proc "node$1" io.imskms 30 ;;
    start-node) need_node "${1:-}"; node_start "$1"; node_wait_ready "$1" ;;
    redis-stop) redis_stop ;;
    redis-start) redis_start ;;
    -h | --help | help) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' ;;
    *) die 64 "usage: cluster.sh up [--nodes N] | status | down | add-node | kill-node I | stop-node I | start-node I | redis-stop | redis-start" ;;
  esac
}

main "$@"
