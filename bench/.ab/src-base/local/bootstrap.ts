/**
 * The client bootstrap script of a docker site, rendered per request for the host the client
 * used: POSIX sh (checked with shellcheck in the tests), every value single-quoted once at the
 * top, `set -eu` so an unset variable stops the script instead of matching everything.
 */
export interface BootstrapTarget {
  /** Site name, for the header comment. */
  site: string;
  /** Registry host name or IPv4 address, as the client addresses it (lower case). */
  host: string;
  /** The registry's HTTPS port. */
  port: number;
  /** The CA certificate, PEM. */
  caPem: string;
  /** Where this script and the CA are served, for the usage text. */
  scriptUrl: string;
  caUrl: string;
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
const PEM = /^(?:-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/;

/** Host names and IPv4 addresses only: they name the certs.d folders and go into the script. */
export const isScriptableHost = (host: string): boolean => HOST_NAME.test(host) || IPV4.test(host);

/** One shell word, single-quoted (a `'` inside becomes `'\''`). */
export const shellQuote = (value: string): string => `'${value.replace(/'/g, `'\\''`)}'`;

/** `host` on 443, else `host:port`: how docker, containerd and podman name the registry and its certs.d folder. */
export const registryName = (host: string, port: number): string => (port === 443 ? host : `${host}:${port}`);

export function renderBootstrapScript(target: BootstrapTarget): string {
  if (!isScriptableHost(target.host)) throw new Error(`cannot write a bootstrap script for host "${target.host}"`);
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new Error(`bad port ${target.port}`);
  if (!PEM.test(target.caPem)) throw new Error('the CA file does not hold PEM certificates');
  const registry = registryName(target.host, target.port);
  const caPem = target.caPem.replace(/\r\n/g, '\n').trim();
  return `#!/bin/sh
# Client bootstrap for the registry ${registry} (registry-router site "${target.site}").
#
# Installs the registry's CA certificate for docker, containerd and podman/skopeo/buildah,
# checks that https://${registry}/v2/ answers with that CA, and prints the docker login line.
# Running it again changes nothing.
#
#   curl -fsSL ${target.scriptUrl} -o docker-init.sh && sudo sh docker-init.sh
#
# The CA is also served at ${target.caUrl}.
set -eu

REGISTRY_HOST=${shellQuote(target.host)}
REGISTRY_PORT=${shellQuote(String(target.port))}
REGISTRY=${shellQuote(registry)}
ROOT=\${ROOT:-}
REGISTRY_ADDR=\${REGISTRY_ADDR:-}
HOSTS_IP=
CHECK=yes
CHANGED=0
MARKER="# registry-router: $REGISTRY_HOST"

usage() {
  cat <<EOF
Usage: sh docker-init.sh [--hosts IP] [--no-check]

Installs the CA of $REGISTRY for docker, containerd and podman/skopeo,
checks https://$REGISTRY/v2/ with it, and prints the docker login line.

  --hosts IP    also map $REGISTRY_HOST to IP in /etc/hosts (idempotent;
                the previous file is kept as /etc/hosts.registry-router.<time>)
  --no-check    do not contact the registry
  -h, --help    this text

Environment:
  ROOT=DIR          install below DIR instead of / (tests, image builds)
  REGISTRY_ADDR=IP  check against IP instead of resolving $REGISTRY_HOST
                    (needs curl: uses --resolve)
EOF
}

say() { printf '%s\\n' "$*"; }
die() {
  printf 'docker-init: %s\\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case $1 in
    --hosts)
      [ $# -ge 2 ] || die "--hosts needs an IP address"
      HOSTS_IP=$2
      shift 2
      ;;
    --hosts=*)
      HOSTS_IP=\${1#--hosts=}
      shift
      ;;
    --no-check)
      CHECK=no
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
done

case $HOSTS_IP in
  *[!0-9A-Fa-f.:]*) die "--hosts wants an IP address, not: $HOSTS_IP" ;;
esac
if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo sh docker-init.sh), or set ROOT to install below a folder"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM

cat >"$TMP/ca.crt" <<'CA_PEM'
${caPem}
CA_PEM

# install_file SRC DEST: copies when DEST is missing or different (keeping DEST.bak), else nothing.
install_file() {
  if [ -f "$2" ] && cmp -s "$1" "$2"; then
    say "unchanged  $2"
    return 0
  fi
  mkdir -p "$(dirname "$2")"
  if [ -f "$2" ]; then
    cp -p "$2" "$2.bak"
    say "backup     $2.bak"
  fi
  cp "$1" "$2.tmp.$$"
  chmod 644 "$2.tmp.$$"
  mv -f "$2.tmp.$$" "$2"
  say "installed  $2"
  CHANGED=$((CHANGED + 1))
}

# docker: /etc/docker/certs.d/<host[:port]>/ca.crt, read on each connection, no restart needed.
install_file "$TMP/ca.crt" "$ROOT/etc/docker/certs.d/$REGISTRY/ca.crt"

# podman, skopeo, buildah, CRI-O: same layout under /etc/containers.
install_file "$TMP/ca.crt" "$ROOT/etc/containers/certs.d/$REGISTRY/ca.crt"

# containerd (ctr, nerdctl, kubelet via CRI): ca.crt plus a hosts.toml naming it.
CONTAINERD_DIR="/etc/containerd/certs.d/$REGISTRY"
install_file "$TMP/ca.crt" "$ROOT$CONTAINERD_DIR/ca.crt"
cat >"$TMP/hosts.toml" <<EOF
# Written by docker-init.sh from registry-router; it is not overwritten once it exists.
server = "https://$REGISTRY"

[host."https://$REGISTRY"]
  capabilities = ["pull", "resolve", "push"]
  ca = "$CONTAINERD_DIR/ca.crt"
EOF
if [ -f "$ROOT$CONTAINERD_DIR/hosts.toml" ] && ! cmp -s "$TMP/hosts.toml" "$ROOT$CONTAINERD_DIR/hosts.toml"; then
  say "kept       $ROOT$CONTAINERD_DIR/hosts.toml (yours; make it name ca = \\"$CONTAINERD_DIR/ca.crt\\")"
else
  install_file "$TMP/hosts.toml" "$ROOT$CONTAINERD_DIR/hosts.toml"
fi

# /etc/hosts, only when asked: one line of ours per registry host, replaced when the IP changes.
if [ -n "$HOSTS_IP" ]; then
  HOSTS_FILE="$ROOT/etc/hosts"
  HOSTS_LINE="$HOSTS_IP $REGISTRY_HOST $MARKER"
  if [ -f "$HOSTS_FILE" ] && grep -qxF "$HOSTS_LINE" "$HOSTS_FILE"; then
    say "unchanged  $HOSTS_FILE"
  else
    mkdir -p "$(dirname "$HOSTS_FILE")"
    if [ -f "$HOSTS_FILE" ]; then
      BACKUP="$HOSTS_FILE.registry-router.$(date +%Y%m%d%H%M%S)"
      [ ! -e "$BACKUP" ] || BACKUP="$BACKUP.$$"
      cp -p "$HOSTS_FILE" "$BACKUP"
      say "backup     $BACKUP"
      # Drop our earlier line for this host (it ends with the marker), keep everything else.
      awk -v m="$MARKER" '{ n = length($0); k = length(m); if (n >= k && substr($0, n - k + 1) == m) next; print }' "$HOSTS_FILE" >"$TMP/hosts"
    else
      : >"$TMP/hosts"
    fi
    printf '%s\\n' "$HOSTS_LINE" >>"$TMP/hosts"
    # Rewrite in place: /etc/hosts is often a bind mount that mv cannot replace.
    cat "$TMP/hosts" >"$HOSTS_FILE"
    say "updated    $HOSTS_FILE ($REGISTRY_HOST -> $HOSTS_IP)"
    CHANGED=$((CHANGED + 1))
  fi
  HOST_LINES=$(awk -v h="$REGISTRY_HOST" '{ sub(/#.*/, ""); for (i = 2; i <= NF; i++) if ($i == h) { c++; break } } END { print c + 0 }' "$HOSTS_FILE")
  if [ "$HOST_LINES" -gt 1 ]; then
    say "note: $HOSTS_FILE names $REGISTRY_HOST on $HOST_LINES lines; the first one wins"
  fi
fi

# The registry must answer /v2/ over TLS with the CA just installed (200, or 401 before login).
if [ "$CHECK" = yes ]; then
  CA_FILE="$ROOT/etc/docker/certs.d/$REGISTRY/ca.crt"
  URL="https://$REGISTRY/v2/"
  if command -v curl >/dev/null 2>&1; then
    if [ -n "$REGISTRY_ADDR" ]; then
      STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA_FILE" \\
        --resolve "$REGISTRY_HOST:$REGISTRY_PORT:$REGISTRY_ADDR" "$URL") || die "cannot reach $URL over TLS (see the curl error above)"
    else
      STATUS=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 --cacert "$CA_FILE" "$URL") ||
        die "cannot reach $URL over TLS (see the curl error above; --hosts IP adds an /etc/hosts entry)"
    fi
  elif command -v wget >/dev/null 2>&1; then
    [ -z "$REGISTRY_ADDR" ] || die "REGISTRY_ADDR needs curl"
    # GNU wget exits 6 on 401 (authentication required): the TLS part worked.
    if wget -q -T 20 --ca-certificate="$CA_FILE" -O /dev/null "$URL"; then
      STATUS=200
    else
      WGET_EXIT=$?
      [ "$WGET_EXIT" -eq 6 ] || die "cannot reach $URL over TLS (wget exit $WGET_EXIT)"
      STATUS=401
    fi
  else
    die "neither curl nor wget is installed: install one, or run with --no-check"
  fi
  case $STATUS in
    200 | 401) say "ok         $URL answers $STATUS over TLS with the installed CA" ;;
    *) die "$URL answered HTTP $STATUS" ;;
  esac
fi

if [ "$CHANGED" -eq 0 ]; then
  say "nothing to change: $REGISTRY was already set up"
fi
say ""
say "containerd reads these files when its CRI registry config_path is /etc/containerd/certs.d."
say "Log in with:"
say "  docker login $REGISTRY"
`;
}
