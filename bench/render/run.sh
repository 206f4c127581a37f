#!/bin/sh
# Kickstart renders/s and latency over HTTP: kickstand (token check, store reads, render, event)
# vs nginx serving a static file of the same size, plus a bare fastify app answering a constant
# of that size (the floor Node + fastify set). wrk on the same machine; the servers take turns,
# RUNS times, and the medians are printed.
#   usage: bench/render/run.sh [RUNS=5] [DURATION=10s] [CONNECTIONS=32]
set -eu
runs=${1:-5}
duration=${2:-10s}
conns=${3:-32}
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
tmp=$(mktemp -d /tmp/ks-bench-render.XXXXXX)
chmod 755 "$tmp"
. "$here/../lib.sh"
trap bench_cleanup EXIT INT TERM

# Starts a node server (see start_node) and echoes FIELD of its ready line.
start() {
  out=$1 field=$2
  shift 2
  start_node "$out" "$@"
  json_field "$tmp/$out.json" "$field"
}

# kickstand with one machine in an install: the URL carries its install token
ks_url=$(start svc url "$here/serve.ts" "$tmp/data")
bytes=$(json_field "$tmp/svc.json" bytes)
floor_url="http://127.0.0.1:$(start floor port "$here/floor.ts" "$bytes")/boot/kickstart"

# nginx: one worker, loopback, its own prefix, a static file of the rendered kickstart's size
mkdir -p "$tmp/nginx/www"
head -c "$bytes" /dev/urandom | base64 -w 76 | head -c "$bytes" >"$tmp/nginx/www/kickstart.cfg"
nginx_port=$(free_port)
start_nginx <<CONF
  default_type text/plain;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/nginx/www;
  }
CONF
ng_url="http://127.0.0.1:$nginx_port/kickstart.cfg"
for u in "$ks_url" "$floor_url" "$ng_url"; do
  [ "$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "$u")" = "200 $bytes" ] || { echo "bad answer from $u" >&2; exit 1; }
done

measure() { wrk_measure "$1" "$2" "$conns"; }
row() { printf '%-4s %-9s %10s %9s %9s\n' "$@"; }

# JIT warm-up, not counted
for u in "$ks_url" "$floor_url" "$ng_url"; do measure 3s "$u" >/dev/null; done

echo "kickstart $bytes bytes; wrk -t1 -c$conns -d$duration; $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
row run server 'req/s' 'p50 ms' 'p99 ms'
for r in $(seq 1 "$runs"); do
  for s in kickstand:"$ks_url" fastify:"$floor_url" nginx:"$ng_url"; do
    name=${s%%:*}
    out=$(measure "$duration" "${s#*:}") || exit 1
    set -- $out
    echo "$1 $2 $3" >>"$tmp/r.$name"
    row "$r" "$name" "$1" "$2" "$3"
  done
done
col() { awk -v c="$2" '{ print $c }' "$tmp/r.$1" | median; }
for name in kickstand fastify nginx; do row med "$name" "$(col $name 1)" "$(col $name 2)" "$(col $name 3)"; done
awk -v a="$(col kickstand 1)" -v f="$(col fastify 1)" -v n="$(col nginx 1)" \
  'BEGIN { printf "req/s ratios (medians): kickstand/nginx %.2f, kickstand/fastify %.2f, fastify/nginx %.2f\n", a / n, a / f, f / n }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
