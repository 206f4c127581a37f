#!/bin/sh
# Kickstart renders/s and latency over HTTP, kickstand vs nginx serving a static file of the same
# size, wrk on the same machine. Alternates the two servers RUNS times and prints medians.
#   usage: bench/render/run.sh [RUNS=5] [DURATION=10s] [CONNECTIONS=32]
set -eu
runs=${1:-5}
duration=${2:-10s}
conns=${3:-32}
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
repo=$(dirname "$(dirname "$here")")
tmp=$(mktemp -d /tmp/ks-bench-render.XXXXXX)
chmod 755 "$tmp"
svc_pid=
cleanup() {
  [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null || true
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  sleep 0.5
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

# kickstand, with one machine in an install; serve.ts prints {port,url,bytes} when ready
node --import tsx "$here/serve.ts" "$tmp/data" >"$tmp/svc.json" 2>"$tmp/svc.err" &
svc_pid=$!
i=0
until [ -s "$tmp/svc.json" ]; do
  i=$((i + 1))
  if [ $i -gt 600 ] || ! kill -0 "$svc_pid" 2>/dev/null; then cat "$tmp/svc.err" >&2; exit 1; fi
  sleep 0.1
done
ks_url=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).url)' "$tmp/svc.json")
bytes=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).bytes)' "$tmp/svc.json")

# nginx: one worker, loopback, its own prefix, a static file of the rendered kickstart's size
mkdir -p "$tmp/nginx/www"
head -c "$bytes" /dev/urandom | base64 -w 76 | head -c "$bytes" >"$tmp/nginx/www/kickstart.cfg"
nginx_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  default_type text/plain;
  server {
    listen 127.0.0.1:$nginx_port;
    root $tmp/nginx/www;
  }
}
CONF
nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx/"
ng_url="http://127.0.0.1:$nginx_port/kickstart.cfg"
[ "$(curl -s -o /dev/null -w '%{size_download}' "$ng_url")" = "$bytes" ]

# wrk's "Requests/sec" and the 50%/99% latency lines (us/ms/s → ms)
measure() {
  wrk -t1 -c"$conns" -d"$duration" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    /Non-2xx/ { bad = $NF } /Socket errors/ { sub(/^ +/, ""); err = $0 }
    END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
          if (err) print "  (" err ")" > "/dev/stderr"
          printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "kickstart $bytes bytes; wrk -t1 -c$conns -d$duration; $runs runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-4s %-9s %10s %9s %9s\n' run server 'req/s' 'p50 ms' 'p99 ms'
for r in $(seq 1 "$runs"); do
  set -- $(measure "$ks_url"); echo "$1 $2 $3" >>"$tmp/ks"
  printf '%-4s %-9s %10s %9s %9s\n' "$r" kickstand "$1" "$2" "$3"
  set -- $(measure "$ng_url"); echo "$1 $2 $3" >>"$tmp/ng"
  printf '%-4s %-9s %10s %9s %9s\n' "$r" nginx "$1" "$2" "$3"
done
col() { awk -v c="$2" '{ print $c }' "$1" | median; }
ks_rps=$(col "$tmp/ks" 1); ng_rps=$(col "$tmp/ng" 1)
printf '%-4s %-9s %10s %9s %9s\n' med kickstand "$ks_rps" "$(col "$tmp/ks" 2)" "$(col "$tmp/ks" 3)"
printf '%-4s %-9s %10s %9s %9s\n' med nginx "$ng_rps" "$(col "$tmp/ng" 2)" "$(col "$tmp/ng" 3)"
awk -v a="$ks_rps" -v b="$ng_rps" 'BEGIN { printf "kickstand/nginx req/s: %.2f\n", a / b }'
