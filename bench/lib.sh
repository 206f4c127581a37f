# Shared by the bench scripts (sourced; needs $tmp). Node does the JSON and the free port so
# the scripts need nothing beyond the project's own toolchain.

# A free TCP port on loopback.
free_port() {
  node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# FIELD of the JSON object in FILE.
json_field() {
  node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"))[process.argv[2]])' "$1" "$2"
}

# Starts `node --import tsx ARGS…` whose first stdout line is a JSON object once it is ready;
# waits for it (60 s at most) and leaves the PID in $tmp/NAME.pid for cleanup, the line in
# $tmp/NAME.json. Usage: start_node NAME ARGS…
start_node() {
  name=$1
  shift
  node --import tsx "$@" >"$tmp/$name.json" 2>"$tmp/$name.err" &
  echo $! >"$tmp/$name.pid"
  i=0
  until [ -s "$tmp/$name.json" ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 "$(cat "$tmp/$name.pid")" 2>/dev/null; then cat "$tmp/$name.err" >&2; exit 1; fi
    sleep 0.1
  done
}

# Starts nginx with one worker, its own prefix $tmp/nginx (pid file there for bench_cleanup),
# access log off, and the http-block directives read from stdin; inside network namespace
# $bench_netns when set. Usage: start_nginx <<CONF … CONF
start_nginx() {
  mkdir -p "$tmp/nginx"
  {
    printf 'worker_processes 1;\npid %s/nginx/nginx.pid;\nerror_log %s/nginx/error.log warn;\n' "$tmp" "$tmp"
    printf 'events { worker_connections 1024; }\nhttp {\n  access_log off;\n'
    cat
    printf '}\n'
  } >"$tmp/nginx/nginx.conf"
  ${bench_netns:+ip netns exec "$bench_netns"} nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx/"
}

# Stops what start_node and nginx (pid file $tmp/nginx/nginx.pid) started, then removes $tmp.
bench_cleanup() {
  for f in "$tmp"/*.pid "$tmp"/nginx/nginx.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$tmp"
}

# Two network namespaces joined by a veth pair, server side SNS/vs with SADDR, client side
# CNS/vc with CADDR (both with their prefix length), loopback up in each. The caller deletes them
# (netns_cleanup). Usage: netns_pair SNS CNS 10.201.0.1/24 10.201.0.2/24
netns_pair() {
  ip netns add "$1"
  ip netns add "$2"
  ip -n "$1" link set lo up
  ip -n "$2" link set lo up
  ip -n "$1" link add vs type veth peer name vc netns "$2"
  ip -n "$1" addr add "$3" dev vs
  ip -n "$2" addr add "$4" dev vc
  ip -n "$1" link set vs up
  ip -n "$2" link set vc up
}

# Deletes the namespaces given (killing what still runs in them first).
netns_cleanup() {
  for ns in "$@"; do
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -n "$pids" ] && kill $pids 2>/dev/null
  done
  sleep 0.3
  for ns in "$@"; do ip netns del "$ns" 2>/dev/null || true; done
}

PG_BIN=/usr/lib/postgresql/15/bin

# A throwaway PostgreSQL 15 in DIR (initdb as the postgres user, trust), listening on
# 127.0.0.1:PORT (and on ADDR, trusting clients from NET, when given) inside network namespace
# NS (the servers under test run there; "" = this one), with fsync on: kickstand's SQLite store
# syncs every commit, so PostgreSQL does too. pg_stop DIR stops it.
# Usage: pg_start DIR NS [PORT=5432 [ADDR NET]]; then pg_psql DIR NS SQL. PG_EXTRA_OPTS: more server flags.
pg_start() {
  mkdir -p "$1"
  chown postgres: "$1"
  echo "${3:-5432}" >"$1/port"
  runuser -u postgres -- "$PG_BIN/initdb" -D "$1/data" -A trust -U postgres -E UTF8 --locale=C >/dev/null
  [ -n "${5:-}" ] && echo "host all all $5 trust" >>"$1/data/pg_hba.conf"
  ${2:+ip netns exec "$2"} runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/log" \
    -o "-p ${3:-5432} -k $1 -c listen_addresses=127.0.0.1${4:+,$4} -c max_connections=200 ${PG_EXTRA_OPTS:-}" -w -t 60 start >/dev/null
}
pg_psql() {
  ${2:+ip netns exec "$2"} runuser -u postgres -- "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$(cat "$1/port")" -U postgres -d postgres -c "$3"
}
pg_stop() {
  [ -f "$1/data/postmaster.pid" ] && runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$1/data" -m fast -w stop >/dev/null 2>&1 || true
}

# CPU seconds (user + system, with reaped children) of the given PIDs, from /proc/PID/stat.
cpu_seconds() {
  tck=$(getconf CLK_TCK)
  for p in "$@"; do [ -r "/proc/$p/stat" ] && sed 's/^.*) //' "/proc/$p/stat"; done |
    awk -v t="$tck" '{ s += $12 + $13 + $14 + $15 } END { printf "%.1f\n", s / t }'
}

# Peak resident set (VmHWM) of PID in MB.
peak_rss_mb() {
  awk '/^VmHWM:/ { printf "%.0f\n", $2 / 1024 }' "/proc/$1/status"
}

# The 1-minute load average.
load1() {
  cut -d' ' -f1 /proc/loadavg
}

# wrk -t1 -cCONNS for DURATION against URL: prints "req/s p50_ms p99_ms"; any non-2xx answer is
# fatal. Usage: wrk_measure DURATION URL [CONNS=32]
wrk_measure() {
  wrk -t1 -c"${3:-32}" -d"$1" --latency "$2" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^ +50%/ { p50 = ms($2) } /^ +99%/ { p99 = ms($2) } /^Requests\/sec:/ { rps = $2 }
    /Non-2xx/ { bad = $NF } /Socket errors/ { sub(/^ +/, ""); err = $0 }
    END { if (bad) { print "non-2xx answers: " bad > "/dev/stderr"; exit 1 }
          if (err) print "  (" err ")" > "/dev/stderr"
          printf "%.0f %.3f %.3f\n", rps, p50, p99 }'
}

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
