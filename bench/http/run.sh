#!/bin/sh
# Kernel + initrd downloads from /boot/assets with 1 and 50 concurrent curl clients: kickstand vs
# nginx serving the same files (sendfile on, as Debian ships it), and vs nginx with sendfile off
# (the read-then-write copy path Node has). Each client fetches the kernel then the initrd, as
# iPXE does; aggregate MB/s = all bytes / time until the last client is done. The servers take
# turns RUNS times per concurrency; medians are printed.
#   usage: bench/http/run.sh [RUNS=5] [CONCURRENCY="1 50"]
set -eu
runs=${1:-5}
levels=${2:-1 50}
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
tmp=$(mktemp -d /tmp/ks-bench-http.XXXXXX)
chmod 755 "$tmp"
. "$here/../lib.sh"
trap bench_cleanup EXIT INT TERM

# Sizes of Rocky 9's pxeboot vmlinuz and initrd.img; random, so nothing compresses or dedups.
mkdir -p "$tmp/assets/rocky-9"
head -c $((14 * 1024 * 1024)) /dev/urandom >"$tmp/assets/rocky-9/vmlinuz"
head -c $((100 * 1024 * 1024)) /dev/urandom >"$tmp/assets/rocky-9/initrd.img"
total=$(($(stat -c %s "$tmp/assets/rocky-9/vmlinuz") + $(stat -c %s "$tmp/assets/rocky-9/initrd.img")))

start_node svc "$here/serve.ts" "$tmp/data" "$tmp/assets"
ks_port=$(json_field "$tmp/svc.json" port)

# nginx as Debian configures it for static files (sendfile, tcp_nopush), one worker, loopback;
# a second server with sendfile off copies through user space as Node must (read, then write).
nginx_port=$(free_port)
nocopy_port=$(free_port)
start_nginx <<CONF
  tcp_nopush on;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$nginx_port;
    sendfile on;
    location /boot/assets/ { alias $tmp/assets/; }
  }
  server {
    listen 127.0.0.1:$nocopy_port;
    sendfile off;
    location /boot/assets/ { alias $tmp/assets/; }
  }
CONF

# One run: N clients at once, each kernel then initrd; prints aggregate MB/s (MiB = 2^20 bytes).
measure() {
  base=$1 n=$2
  start=$(date +%s.%N)
  clients=
  for c in $(seq 1 "$n"); do
    curl -sf -o /dev/null -o /dev/null -w '%{size_download}\n' \
      "$base/boot/assets/rocky-9/vmlinuz" "$base/boot/assets/rocky-9/initrd.img" >"$tmp/got.$c" &
    clients="$clients $!"
  done
  for p in $clients; do wait "$p"; done
  end=$(date +%s.%N)
  got=$(cat "$tmp"/got.* | awk '{ s += $1 } END { printf "%.0f", s }')
  rm -f "$tmp"/got.*
  [ "$got" = "$((total * n))" ] || { echo "incomplete: $got of $((total * n)) bytes" >&2; exit 1; }
  awk -v b="$got" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f\n", b / 1048576 / (e - s) }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

ks="http://127.0.0.1:$ks_port"
ng="http://127.0.0.1:$nginx_port"
nc="http://127.0.0.1:$nocopy_port"
# Warm the page cache and the servers once.
for u in "$ks" "$ng" "$nc"; do measure "$u" 1 >/dev/null; done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { printf '%-8s %-4s %10s %10s %10s %9s %9s\n' "$@"; }
echo "kernel 14 MiB + initrd 100 MiB per client, MB/s aggregate; $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
row clients run kickstand nginx 'nginx-nsf' 'ks/nginx' 'ks/nsf'
for n in $levels; do
  for r in $(seq 1 "$runs"); do
    k=$(measure "$ks" "$n")
    g=$(measure "$ng" "$n")
    c=$(measure "$nc" "$n")
    echo "$k" >>"$tmp/ks.$n"; echo "$g" >>"$tmp/ng.$n"; echo "$c" >>"$tmp/nc.$n"
    row "$n" "$r" "$k" "$g" "$c" "$(ratio "$k" "$g")" "$(ratio "$k" "$c")"
  done
  k=$(median <"$tmp/ks.$n"); g=$(median <"$tmp/ng.$n"); c=$(median <"$tmp/nc.$n")
  row "$n" med "$k" "$g" "$c" "$(ratio "$k" "$g")" "$(ratio "$k" "$c")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)  (nginx-nsf: nginx with sendfile off)"
