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
# access log off, and the http-block directives read from stdin. Usage: start_nginx <<CONF … CONF
start_nginx() {
  mkdir -p "$tmp/nginx"
  {
    printf 'worker_processes 1;\npid %s/nginx/nginx.pid;\nerror_log %s/nginx/error.log warn;\n' "$tmp" "$tmp"
    printf 'events { worker_connections 1024; }\nhttp {\n  access_log off;\n'
    cat
    printf '}\n'
  } >"$tmp/nginx/nginx.conf"
  nginx -c "$tmp/nginx/nginx.conf" -p "$tmp/nginx/"
}

# Stops what start_node and nginx (pid file $tmp/nginx/nginx.pid) started, then removes $tmp.
bench_cleanup() {
  for f in "$tmp"/*.pid "$tmp"/nginx/nginx.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true; done
  sleep 0.5
  rm -rf "$tmp"
}
