#!/usr/bin/env bash
# Docker Engine 26 (fetched by scripts/provision.sh) beside the machine's own engine, in a network namespace of its
# own with its own socket, data root, exec root, pid file and containerd namespaces: the main engine is not touched.
#   engine26.sh start        create the namespace, start the engine, wait until it answers
#   engine26.sh stop         stop the engine (and what it left in the namespace), remove the namespace
#   engine26.sh run CMD...   run CMD inside the namespace with DOCKER_HOST set to this engine
#   engine26.sh env          print the DOCKER_HOST and namespace to use
# The ports the engine publishes live in its namespace: the client side of a test must run there too (run).
# Needs root.
set -euo pipefail

NAME="${ENGINE26_NETNS:-bg-engine26}"
BIN="${ENGINE26_BIN:-$HOME/.cache/bluegreen/engine26/bin}"
DATA="${ENGINE26_DATA:-/var/lib/bluegreen/engine26}"
# Short: unix socket paths must stay under 108 bytes.
RUN="${ENGINE26_RUN:-/run/bg-engine26}"
SOCK="$RUN/docker.sock"
PIDFILE="$RUN/docker.pid"
LOG="${ENGINE26_LOG:-/tmp/bg-engine26-dockerd.log}"
NETNS="/var/run/netns/$NAME"
export DOCKER_HOST="unix://$SOCK"

die() {
  echo "engine26: $*" >&2
  exit 1
}
answers() { [ -S "$SOCK" ] && timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
in_ns() { nsenter "--net=$NETNS" "$@"; }
engine_pid() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

start() {
  [ "$(id -u)" = 0 ] || die "root is needed (network namespace, dockerd)"
  [ -x "$BIN/dockerd" ] || die "no Engine 26 in $BIN: run scripts/provision.sh"
  if [ -e "$NETNS" ] && answers; then
    echo "engine26: already running ($(docker version --format '{{.Server.Version}}'), $DOCKER_HOST in $NETNS)"
    return 0
  fi
  [ -e "$NETNS" ] || ip netns add "$NAME"
  in_ns ip link set lo up
  # Sysctls are per namespace: the fresh-connection load tests need this here too (see provision.sh).
  in_ns sysctl -qw net.ipv4.tcp_tw_reuse=1
  mkdir -p "$DATA" "$RUN"
  echo "engine26: starting $("$BIN/dockerd" --version) in $NETNS, log in $LOG"
  # nsenter --net, not `ip netns exec`: the latter remounts /sys and dockerd then finds no devices cgroup (v1).
  setsid nsenter "--net=$NETNS" env "PATH=$BIN:$PATH" dockerd -H "$DOCKER_HOST" --data-root "$DATA" \
    --exec-root "$RUN/exec" --pidfile "$PIDFILE" --containerd-namespace "$NAME" \
    --containerd-plugins-namespace "$NAME-plugins" >"$LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    answers && break
    sleep 1
  done
  if ! answers; then
    echo "engine26: the engine did not answer within 60 s. Last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2 || true
    stop >&2 || true
    exit 1
  fi
  echo "engine26: Engine $(docker version --format '{{.Server.Version}}') answers at $DOCKER_HOST in $NETNS"
}

stop() {
  local pid
  if pid="$(engine_pid)"; then
    echo "engine26: stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "engine26: dockerd still runs after 30 s: killing it" >&2
      kill -KILL "$pid" || true
    fi
  fi
  if [ -e "$NETNS" ]; then
    # Whatever the engine left in its namespace (containerd, shims, docker-proxy), by process id.
    local pids
    pids="$(ip netns pids "$NAME" 2>/dev/null || true)"
    if [ -n "$pids" ]; then
      echo "engine26: ending what is left in $NAME: $(echo $pids)"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sleep 2
      pids="$(ip netns pids "$NAME" 2>/dev/null || true)"
      # shellcheck disable=SC2086
      [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
    fi
    ip netns delete "$NAME"
  fi
  rm -f "$PIDFILE" "$SOCK"
  echo "engine26: stopped, namespace $NAME removed"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) echo "ENGINE26_NETNS=$NETNS DOCKER_HOST=$DOCKER_HOST" ;;
  run)
    shift
    [ $# -gt 0 ] || die "run needs a command"
    [ -e "$NETNS" ] || die "no namespace $NETNS: run '$0 start' first"
    exec nsenter "--net=$NETNS" env "DOCKER_HOST=$DOCKER_HOST" "$@"
    ;;
  *) die "usage: $0 start|stop|env|run CMD..." ;;
esac
