#!/bin/bash
# Kickstart renders/s over HTTP with the SQLite store against the PostgreSQL store (issue 16's
# "render throughput on PostgreSQL at least 0.7x SQLite's"): the whole service (serve.ts) twice,
# one machine in an install each, wrk on its kickstart URL (token check, store reads, render,
# event); the two take turns RUNS times and the medians are printed. PostgreSQL 15 is a
# throwaway server on loopback with fsync on, as the storm's. Loopback only.
#   usage (root, repository root): bench/storm/render-store.sh [RUNS=5] [DURATION=10s] [CONNECTIONS=32]
set -euo pipefail
runs=${1:-5}
duration=${2:-10s}
conns=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d /tmp/ks-render-store.XXXXXX)
chmod 755 "$tmp"
. "$here/../lib.sh"
trap 'bench_cleanup; pg_stop "$tmp/pg"' EXIT INT TERM

pg_port=$(free_port)
pg_start "$tmp/pg" "" "$pg_port"
pg_psql "$tmp/pg" "" "CREATE DATABASE render" >/dev/null

# Starts serve.ts as NAME on store URL $2; echoes its kickstart URL.
start() {
  local port
  port=$(free_port)
  start_node "$1" "$here/serve.ts" '{"machines":1,"kickstartUrl":true,"config":{"instance":"'$1'","dataDir":"'$tmp/$1'","inventory":"'$tmp/$1-inventory'","store":{"url":"'$2'"},"http":{"host":"127.0.0.1","port":'$port',"publicUrl":"http://127.0.0.1:'$port'"},"tftp":{"enabled":false},"assets":{"dir":"'$tmp/assets'"}}}'
  json_field "$tmp/$1.json" kickstartUrl
}
sqlite_url=$(start sqlite "sqlite:$tmp/ks.db")
pg_url=$(start pg "postgres://postgres@127.0.0.1:$pg_port/render")

# JIT warm-up, not counted
for u in "$sqlite_url" "$pg_url"; do wrk_measure 3s "$u" "$conns" >/dev/null; done

echo "wrk -t1 -c$conns -d$duration; $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-7s %10s %9s %9s %6s\n' run store 'req/s' 'p50 ms' 'p99 ms' load1
for r in $(seq 1 "$runs"); do
  for s in sqlite:"$sqlite_url" pg:"$pg_url"; do
    name=${s%%:*}
    load=$(load1)
    set -- $(wrk_measure "$duration" "${s#*:}" "$conns")
    echo "$1 $2 $3" >>"$tmp/r.$name"
    printf '%-4s %-7s %10s %9s %9s %6s\n' "$r" "$name" "$1" "$2" "$3" "$load"
  done
done
echo "medians (load $(cut -d' ' -f1-3 /proc/loadavg)):"
for name in sqlite pg; do
  printf '     %-7s %10s %9s %9s\n' "$name" "$(cut -d' ' -f1 "$tmp/r.$name" | median)" "$(cut -d' ' -f2 "$tmp/r.$name" | median)" "$(cut -d' ' -f3 "$tmp/r.$name" | median)"
done
awk -v p="$(cut -d' ' -f1 "$tmp/r.pg" | median)" -v s="$(cut -d' ' -f1 "$tmp/r.sqlite" | median)" 'BEGIN { printf "pg/sqlite req/s: %.2f\n", p / s }'
