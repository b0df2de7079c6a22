#!/usr/bin/env bash
# A "fleet" of two extra Docker engines (a and b) for end-to-end tests of a multi-host deploy, beside the machine's
# own engine, which is not touched. Each runs in a network namespace of its own with its own socket, data root, exec
# root, pid file, containerd namespaces and cgroup parent, and is joined to the root namespace by a veth pair: the
# runner (root namespace) reaches the ports an engine publishes at the namespace's address, as it would another host's.
# Engine b is also reachable over ssh:// (an sshd in its namespace), the way a runner drives a remote host.
#   fleet.sh start   create the namespaces and veths, start the engines (and b's sshd), wait until they answer, build
#                    the test images (scripts/images.mjs) in each engine, check a published port answers at each address
#   fleet.sh stop    stop the engines and sshd, end what they left, remove the veths and namespaces
#   fleet.sh env     one line per endpoint: NAME DOCKER_HOST ADDRESS (ADDRESS: where its published ports answer), e.g.
#                      a unix:///run/bg-fleet-a/docker.sock 10.213.1.2
#                      b unix:///run/bg-fleet-b/docker.sock 10.213.2.2
#                      b-ssh ssh://root@10.213.2.2 10.213.2.2
# Published ports answer at ADDRESS only when bound to 0.0.0.0 or to ADDRESS, never when bound to 127.0.0.1.
# Environment: FLEET_PREFIX (bg-fleet: namespaces bg-fleet-a/-b, root-side veths of the same names), FLEET_NET
# (10.213: engine a gets 10.213.1.0/30, b 10.213.2.0/30; runner side .1, engine side .2), FLEET_BIN (a bin
# directory with dockerd, containerd, runc... first on PATH, e.g. Engine 26's, see engine26.sh; default: the
# machine's own), FLEET_BIN_A / FLEET_BIN_B (the same, for one engine), FLEET_DATA (/var/lib/bluegreen/fleet: data
# roots a-VERSION and b-VERSION, kept across runs for the images), FLEET_LOG_DIR (/tmp), FLEET_SSH (1: b over
# ssh:// or fail; 0: no sshd), FLEET_IMAGES (1: build the test images in each engine and check a published port;
# 0: neither).
# Needs root. Fails loudly: an end-to-end suite must never skip itself.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${FLEET_PREFIX:-bg-fleet}"
NET="${FLEET_NET:-10.213}"
DATA="${FLEET_DATA:-/var/lib/bluegreen/fleet}"
LOG_DIR="${FLEET_LOG_DIR:-/tmp}"
SSH="${FLEET_SSH:-1}"
IMAGES="${FLEET_IMAGES:-1}"
ENGINES=(a b)
SSH_ENGINE=b
# Inside a namespace the veth end has this name; names are per namespace, so both may use it.
NS_IF=fleet0
# Keys, configs and pid of b's sshd (short path under /run: gone at reboot, like the engines).
SSH_DIR="/run/$PREFIX/ssh"
# The runner's ssh finds its key and known_hosts through this drop-in (Debian's /etc/ssh/ssh_config includes
# ssh_config.d/*.conf): the docker CLI runs the system ssh and takes no ssh options from the environment.
SSH_CLIENT_CONF="/etc/ssh/ssh_config.d/$PREFIX.conf"
APP_IMAGE=bluegreen-test-app:local
# DOCKER_HOST is set per engine below; a context from the caller must not win over it.
unset DOCKER_CONTEXT

die() {
  echo "fleet: $*" >&2
  exit 1
}
need_root() { [ "$(id -u)" = 0 ] || die "root is needed (network namespaces, veths, dockerd, sshd): run as root"; }

# Per engine n (a, b): its index, namespace, veth, addresses, directories and files.
index() { case "$1" in a) echo 1 ;; b) echo 2 ;; esac }
ns() { echo "$PREFIX-$1"; }
netns() { echo "/var/run/netns/$PREFIX-$1"; }
veth() { echo "$PREFIX-$1"; }
host_addr() { echo "$NET.$(index "$1").1"; }
ns_addr() { echo "$NET.$(index "$1").2"; }
# Short: unix socket paths must stay under 108 bytes (containerd's socket lives under the exec root).
run_dir() { echo "/run/$PREFIX-$1"; }
sock() { echo "$(run_dir "$1")/docker.sock"; }
pidfile() { echo "$(run_dir "$1")/docker.pid"; }
log() { echo "$LOG_DIR/$PREFIX-$1-dockerd.log"; }
bin_of() {
  case "$1" in
    a) echo "${FLEET_BIN_A:-${FLEET_BIN:-}}" ;;
    b) echo "${FLEET_BIN_B:-${FLEET_BIN:-}}" ;;
  esac
}
ssh_addr() { ns_addr "$SSH_ENGINE"; }
ssh_host() { echo "ssh://root@$(ssh_addr)"; }
SSHD_LOG="$LOG_DIR/$PREFIX-sshd.log"
# The dockerd pid of each engine that start launched or found; sshd_started once start ran sshd.
declare -A LAUNCHED=()
sshd_started=''

in_ns() {
  local n="$1"
  shift
  # nsenter --net, not `ip netns exec`: the latter remounts /sys and dockerd then finds no devices cgroup (v1).
  nsenter "--net=$(netns "$n")" "$@"
}
dk() {
  local n="$1"
  shift
  DOCKER_HOST="unix://$(sock "$n")" timeout 60 docker "$@"
}
answers() { [ -S "$(sock "$1")" ] && DOCKER_HOST="unix://$(sock "$1")" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# A process that exited but is not reaped yet (a zombie: dockerd's parent is init once start exits) is not alive.
alive() { kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }
live_pid() {
  local pid
  pid="$(cat "$1" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && echo "$pid"
}
engine_pid() { live_pid "$(pidfile "$1")"; }
sshd_pid() { live_pid "$SSH_DIR/sshd.pid"; }

# fail MESSAGE: what went wrong, every engine's log tail, then everything started is undone.
FAILING=''
fail() {
  local n
  FAILING=1
  trap - EXIT
  echo "fleet: $*" >&2
  for n in "${ENGINES[@]}"; do
    if [ -s "$(log "$n")" ]; then
      echo "fleet: last lines of $(log "$n"):" >&2
      tail -n 20 "$(log "$n")" >&2 || true
    fi
  done
  if [ -n "$sshd_started" ] && [ -s "$SSHD_LOG" ]; then
    echo "fleet: last lines of $SSHD_LOG:" >&2
    tail -n 20 "$SSHD_LOG" >&2 || true
  fi
  echo "fleet: cleaning up" >&2
  stop >&2 || true
  exit 1
}

# Installs Debian packages the way scripts/provision.sh does.
install_packages() {
  local policy=/usr/sbin/policy-rc.d made='' rc=0
  echo "fleet: installing $*"
  # openssh-server's postinst would start an sshd on port 22 of the machine: forbid service starts meanwhile.
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 0755 "$policy"
    made=1
  fi
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } || rc=$?
  [ -z "$made" ] || rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get could not install $* (exit $rc): install them by hand, or run with FLEET_SSH=0"
}

check_config() {
  local n name
  [[ "$NET" =~ ^([0-9]{1,3})\.([0-9]{1,3})$ ]] || die "FLEET_NET must be two octets such as 10.213, not '$NET'"
  for n in "${ENGINES[@]}"; do
    name="$(veth "$n")"
    [ ${#name} -le 15 ] || die "interface name '$name' is longer than 15 characters: choose a shorter FLEET_PREFIX"
  done
  [ "$SSH" = 0 ] || [ "$SSH" = 1 ] || die "FLEET_SSH must be 0 or 1, not '$SSH'"
  [ "$IMAGES" = 0 ] || [ "$IMAGES" = 1 ] || die "FLEET_IMAGES must be 0 or 1, not '$IMAGES'"
}

# The pair's addresses must not shadow anything the root namespace already reaches (eth0, docker0, bridges...);
# the fleet's own veth may hold them already (start when running).
check_addresses() {
  local n dev subnet clash
  for n in "${ENGINES[@]}"; do
    dev="$(veth "$n")"
    subnet="$NET.$(index "$n").0/30"
    clash="$({
      ip -4 -o addr show to "$subnet" | awk -v dev="$dev" '$2 != dev'
      ip -4 route show to match "$(ns_addr "$n")" | grep -v '^default ' | grep -v " dev $dev " || true
    } 2>/dev/null)"
    [ -z "$clash" ] || die "$subnet is already in use in the root namespace: choose another FLEET_NET. In use: $clash"
  done
}

# The namespace, lo, the sysctl and the veth pair of engine n (each step only if missing).
setup_net() {
  local n="$1" name dev
  name="$(ns "$n")"
  dev="$(veth "$n")"
  [ -e "$(netns "$n")" ] || ip netns add "$name"
  in_ns "$n" ip link set lo up
  # Sysctls are per namespace: the fresh-connection load tests need this here too (see provision.sh).
  in_ns "$n" sysctl -qw net.ipv4.tcp_tw_reuse=1
  # A root-side end whose peer is not in this namespace (a namespace removed by hand) is stale: make a new pair.
  if ip link show "$dev" >/dev/null 2>&1 && ! in_ns "$n" ip link show "$NS_IF" >/dev/null 2>&1; then
    ip link delete "$dev"
  fi
  ip link show "$dev" >/dev/null 2>&1 || ip link add "$dev" type veth peer name "$NS_IF" netns "$name"
  ip addr replace "$(host_addr "$n")/30" dev "$dev"
  ip link set "$dev" up
  in_ns "$n" ip addr replace "$(ns_addr "$n")/30" dev "$NS_IF"
  in_ns "$n" ip link set "$NS_IF" up
}

# Starts engine n's dockerd in the background unless it runs already.
launch_engine() {
  local n="$1" bin dockerd run path version data
  LAUNCHED[$n]="$(engine_pid "$n" || true)"
  if answers "$n"; then
    echo "fleet: engine $n already running ($(dk "$n" version --format '{{.Server.Version}}'), unix://$(sock "$n") in $(ns "$n"))"
    return 0
  fi
  if [ -n "${LAUNCHED[$n]}" ]; then
    echo "fleet: engine $n (pid ${LAUNCHED[$n]}) is starting: waiting for it"
    return 0
  fi
  bin="$(bin_of "$n")"
  dockerd=dockerd
  path="$PATH"
  if [ -n "$bin" ]; then
    [ -x "$bin/dockerd" ] || die "no dockerd in $bin (FLEET_BIN / FLEET_BIN_${n^^}): run scripts/provision.sh, or fix the path"
    dockerd="$bin/dockerd"
    path="$bin:$PATH"
  fi
  PATH="$path" command -v "$dockerd" >/dev/null || die "no dockerd on PATH: run scripts/provision.sh"
  run="$(run_dir "$n")"
  version="$(PATH="$path" "$dockerd" --version)"
  # A data root per engine version: an older engine must not meet what a newer one wrote.
  data="$DATA/$n-$(echo "$version" | sed -n 's/^Docker version \([0-9][0-9.]*\).*/\1/p')"
  [ "$data" != "$DATA/$n-" ] || die "cannot read the version of $dockerd ('$version')"
  mkdir -p "$data" "$run"
  rm -f "$(sock "$n")"
  # A config file of its own: settings meant for the machine's engine (/etc/docker/daemon.json) stay out.
  echo '{}' >"$run/daemon.json"
  echo "fleet: starting engine $n: $version in $(ns "$n"), data in $data, log in $(log "$n")"
  # --cgroup-parent: the engine's containers are found (and ended) by their cgroup if dockerd had to be killed.
  setsid nsenter "--net=$(netns "$n")" env "PATH=$path" "$dockerd" --config-file "$run/daemon.json" \
    -H "unix://$(sock "$n")" --data-root "$data" --exec-root "$run/exec" --pidfile "$(pidfile "$n")" \
    --containerd-namespace "$(ns "$n")" --containerd-plugins-namespace "$(ns "$n")-plugins" \
    --cgroup-parent "/$(ns "$n")" >"$(log "$n")" 2>&1 </dev/null &
  # setsid, nsenter and env exec in turn (no job control here: setsid need not fork), so this is dockerd's pid; the
  # pid file comes later.
  LAUNCHED[$n]=$!
}

# Builds the test images in engine n (scripts/images.mjs skips an image whose content is unchanged), then checks
# that a published port answers at the namespace's address from here.
images_and_probe() {
  local n="$1" host addr port probe="$PREFIX-probe" ok=''
  host="unix://$(sock "$n")"
  addr="$(ns_addr "$n")"
  command -v node >/dev/null || fail "node is needed to build the test images (scripts/images.mjs); or set FLEET_IMAGES=0"
  echo "fleet: test images in engine $n"
  DOCKER_HOST="$host" node "$ROOT/scripts/images.mjs" >/dev/null || fail "scripts/images.mjs failed for engine $n ($host)"
  dk "$n" rm -f "$probe" >/dev/null 2>&1 || true
  dk "$n" run -d --name "$probe" -p 8000 "$APP_IMAGE" >/dev/null || fail "engine $n could not run $APP_IMAGE"
  port="$(dk "$n" port "$probe" 8000/tcp | head -n 1 | sed 's/.*://')"
  for _ in $(seq 1 40); do
    if curl -fsS --max-time 2 -o /dev/null "http://$addr:$port/health" 2>/dev/null; then
      ok=1
      break
    fi
    sleep 0.5
  done
  dk "$n" rm -f "$probe" >/dev/null 2>&1 || true
  if [ -z "$ok" ]; then
    echo "fleet: NAT rules in $(ns "$n"):" >&2
    in_ns "$n" iptables -t nat -S >&2 || true
    fail "a port published by engine $n does not answer at http://$addr:$port from the root namespace"
  fi
  echo "fleet: engine $n: a published port answers at $addr"
}

# b over ssh://: an sshd in b's namespace that runs `docker system dial-stdio` against b's socket.
start_ssh() {
  local n="$SSH_ENGINE" addr pid
  addr="$(ssh_addr)"
  if pid="$(sshd_pid)" && [ -f "$SSH_DIR/works" ]; then
    echo "fleet: sshd already running (pid $pid): $(ssh_host)"
    return 0
  fi
  [ -z "${pid:-}" ] || kill -TERM "$pid" 2>/dev/null || true
  local missing=()
  [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
  command -v ssh >/dev/null || missing+=(openssh-client)
  # Compose v1 (docker-py) refuses ssh:// without paramiko, although it runs the system ssh by default.
  if command -v docker-compose >/dev/null && ! /usr/bin/python3 -c 'import paramiko' 2>/dev/null; then
    missing+=(python3-paramiko)
  fi
  [ ${#missing[@]} -eq 0 ] || install_packages "${missing[@]}"
  grep -qsE '^[[:space:]]*Include[[:space:]]+/etc/ssh/ssh_config\.d/\*\.conf' /etc/ssh/ssh_config ||
    fail "/etc/ssh/ssh_config does not include /etc/ssh/ssh_config.d/*.conf (Debian's default): cannot point ssh at the fleet's key"

  mkdir -p "$SSH_DIR"
  chmod 0700 "$SSH_DIR"
  rm -f "$SSH_DIR/works"
  [ -f "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$PREFIX runner" -f "$SSH_DIR/id_ed25519"
  [ -f "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "$PREFIX-$n host" -f "$SSH_DIR/host_ed25519"
  cp "$SSH_DIR/id_ed25519.pub" "$SSH_DIR/authorized_keys"
  echo "$addr $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >"$SSH_DIR/known_hosts"
  cat >"$SSH_DIR/sshd_config" <<EOF
# Written by scripts/fleet.sh: the sshd of engine $n's namespace, for DOCKER_HOST=$(ssh_host).
ListenAddress $addr:22
HostKey $SSH_DIR/host_ed25519
PidFile $SSH_DIR/sshd.pid
AuthorizedKeysFile $SSH_DIR/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
X11Forwarding no
AllowTcpForwarding no
PrintMotd no
# Compose opens several connections at once (one per API connection): do not drop them as a flood.
MaxStartups 200:30:400
MaxSessions 100
# The docker CLI on this side must reach engine $n, not the machine's engine (/var/run/docker.sock).
SetEnv DOCKER_HOST=unix://$(sock "$n")
EOF
  cat >"$SSH_CLIENT_CONF" <<EOF
# Written by bluegreen-action's scripts/fleet.sh for its test engine $n at $addr ONLY; removed by 'fleet.sh stop'.
Host $addr
    User root
    IdentityFile $SSH_DIR/id_ed25519
    IdentitiesOnly yes
    UserKnownHostsFile $SSH_DIR/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    GSSAPIAuthentication no
EOF
  chmod 0644 "$SSH_CLIENT_CONF"
  # A ~/.ssh/config that sets these for every host would win over the drop-in (ssh takes the first value).
  ssh -G "$addr" 2>/dev/null | grep -qx "userknownhostsfile $SSH_DIR/known_hosts" ||
    fail "ssh does not use $SSH_CLIENT_CONF for $addr (does ~/.ssh/config set UserKnownHostsFile for every host?)"
  # sshd refuses to start without its privilege separation directory.
  mkdir -p /run/sshd
  chmod 0755 /run/sshd
  /usr/sbin/sshd -t -f "$SSH_DIR/sshd_config" || fail "sshd rejects $SSH_DIR/sshd_config"
  echo "fleet: starting sshd in $(ns "$n") at $addr:22, log in $SSHD_LOG"
  : >"$SSHD_LOG"
  sshd_started=1
  in_ns "$n" /usr/sbin/sshd -f "$SSH_DIR/sshd_config" -E "$SSHD_LOG" || fail "sshd did not start"
  for _ in $(seq 1 30); do
    if DOCKER_HOST="$(ssh_host)" timeout 20 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      touch "$SSH_DIR/works"
      echo "fleet: engine $n answers at $(ssh_host) too"
      return 0
    fi
    sleep 1
  done
  DOCKER_HOST="$(ssh_host)" timeout 20 docker version >&2 || true
  fail "engine $n does not answer at $(ssh_host)"
}

start() {
  local n waiting
  need_root
  check_config
  command -v nsenter >/dev/null || die "nsenter is needed (util-linux)"
  command -v ip >/dev/null || die "ip is needed (iproute2)"
  command -v docker >/dev/null || die "no docker CLI: run scripts/provision.sh"
  check_addresses
  # From here on, any failure (a die, a command under set -e) undoes what was started.
  trap 'rc=$?; [ "$rc" = 0 ] || [ -n "$FAILING" ] || fail "start failed (exit $rc)"' EXIT
  for n in "${ENGINES[@]}"; do setup_net "$n"; done
  for n in "${ENGINES[@]}"; do launch_engine "$n"; done
  for _ in $(seq 1 60); do
    waiting=''
    for n in "${ENGINES[@]}"; do answers "$n" || waiting=1; done
    [ -z "$waiting" ] && break
    for n in "${ENGINES[@]}"; do
      answers "$n" || alive "${LAUNCHED[$n]}" || fail "engine $n exited while starting"
    done
    sleep 1
  done
  for n in "${ENGINES[@]}"; do
    answers "$n" || fail "engine $n did not answer at unix://$(sock "$n") within 60 s"
    echo "fleet: engine $n: Engine $(dk "$n" version --format '{{.Server.Version}}') at unix://$(sock "$n"), ports at $(ns_addr "$n")"
  done
  if [ "$IMAGES" = 1 ]; then
    for n in "${ENGINES[@]}"; do images_and_probe "$n"; done
  fi
  [ "$SSH" = 0 ] || start_ssh
  trap - EXIT
  echo "fleet: running; 'bash $0 env' lists the endpoints"
}

# Ends the processes of cgroup $1 (under every v1 controller) and removes its directories.
end_cgroup() {
  local group="$1" procs pids
  for procs in /sys/fs/cgroup/pids/"$group"/*/cgroup.procs; do
    [ -f "$procs" ] || continue
    pids="$(cat "$procs")"
    # shellcheck disable=SC2086
    [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
  done
  sleep 0.2
  # Empty cgroup directories can be removed (deepest first); any still busy stay.
  find /sys/fs/cgroup/*/"$group" -depth -type d -exec rmdir {} + 2>/dev/null || true
}

# Unmounts whatever is still mounted at paths starting with $1 (deepest first): a killed engine leaves its mounts.
unmount_under() {
  local prefix="$1" m
  awk -v p="$prefix" 'index($5, p) == 1 { print $5 }' /proc/self/mountinfo | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || echo "fleet: could not unmount $m" >&2
  done
}

stop() {
  local n pid pids stopping=() name
  need_root
  if pid="$(sshd_pid)"; then
    echo "fleet: stopping sshd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rm -f "$SSH_CLIENT_CONF"
  rm -rf "$SSH_DIR"
  rmdir "/run/$PREFIX" 2>/dev/null || true
  # TERM to every engine first: they stop their containers in parallel.
  for n in "${ENGINES[@]}"; do
    if pid="$(engine_pid "$n")"; then
      echo "fleet: stopping engine $n (dockerd pid $pid)"
      kill -TERM "$pid"
      stopping+=("$pid")
    fi
  done
  if [ ${#stopping[@]} -gt 0 ]; then
    for _ in $(seq 1 30); do
      pids=''
      for pid in "${stopping[@]}"; do alive "$pid" && pids+=" $pid"; done
      [ -n "$pids" ] || break
      sleep 1
    done
    for pid in "${stopping[@]}"; do
      if alive "$pid"; then
        echo "fleet: dockerd $pid still runs after 30 s: killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
  fi
  for n in "${ENGINES[@]}"; do
    name="$(ns "$n")"
    if [ -e "$(netns "$n")" ]; then
      # Whatever is left in the namespace (containerd, shims, docker-proxy, sshd sessions), by process id.
      pids="$(ip netns pids "$name" 2>/dev/null || true)"
      if [ -n "$pids" ]; then
        echo "fleet: ending what is left in $name: $(echo "$pids" | tr '\n' ' ')"
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        sleep 2
        pids="$(ip netns pids "$name" 2>/dev/null || true)"
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
      fi
    fi
    # Containers live in namespaces of their own: those of a killed engine are found by its cgroup parent.
    end_cgroup "$name"
    unmount_under "$(run_dir "$n")"
    unmount_under "$DATA/$n-"
    ! ip link show "$(veth "$n")" >/dev/null 2>&1 || ip link delete "$(veth "$n")"
    [ ! -e "$(netns "$n")" ] || ip netns delete "$name"
    rm -f "$(pidfile "$n")" "$(sock "$n")"
    # The exec root is per run; the data root (images) stays for the next start.
    if ! awk -v d="$(run_dir "$n")" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
      rm -rf "$(run_dir "$n")"
    fi
  done
  echo "fleet: stopped; namespaces, veths and sshd removed (images stay in $DATA)"
}

env_lines() {
  local n
  for n in "${ENGINES[@]}"; do
    [ -S "$(sock "$n")" ] || die "engine $n is not running: run 'bash $0 start' first"
  done
  for n in "${ENGINES[@]}"; do echo "$n unix://$(sock "$n") $(ns_addr "$n")"; done
  if [ -f "$SSH_DIR/works" ] && sshd_pid >/dev/null; then
    echo "$SSH_ENGINE-ssh $(ssh_host) $(ssh_addr)"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env) env_lines ;;
  *) die "usage: $0 start|stop|env" ;;
esac
