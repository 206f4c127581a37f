#!/bin/bash
# Boot storm: N simulated machines power on within SPREAD seconds and each walks the install path
# (PXE DHCP through a relay → TFTP ipxe.efi → iPXE DHCP → iPXE script → kernel and initrd, a HEAD
# and 1 MiB each → kickstart → start, progress, hostkeys, built callbacks); see machine.ts.
# Setups, in turns for every N, each from a fresh store:
#   baseline  dnsmasq (DHCP, lease file) + tftpd-hpa (TFTP) + nginx (static script and kickstart,
#             callbacks answered `return 200`): the floor
#   sqlite    one kickstand, SQLite store
#   pg        one kickstand, PostgreSQL 15 store (fsync on), the server in the same namespace
#   pg2       two kickstands on one PostgreSQL database; machines dealt alternately to each for
#             TFTP and HTTP; DHCP answered by the first, the second its hot standby (dhcp.standby)
#   pg2off    the same with DHCP off on the second (install tokens then bound on first use there)
# Usage (root, repository root): bench/storm/run.sh [ROUNDS=1] ["N …"="100 500 1000"] ["SETUP …"]
# One line per run; rounds alternate the setups so a noisy neighbour hits every side alike.
# LOGS=DIR keeps the servers' logs and per-machine results; KS_NODE_ARGS adds node flags to
# kickstand, as KICKSTAND_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=DIR" to profile it).
# STATEMENTS=FILE appends what PostgreSQL was asked in each pg run (pg_stat_statements, by calls).
# NEIGHBOUR="SPIN:SLEEP …" runs one burn.mjs per pair (µs spinning, µs asleep) beside each storm,
# in this script's session: e.g. "300:600 250:700" draws ~35 s of CPU per storm, what kickstand does.
# Topology: the first server in namespace S (10.201.0.1, PostgreSQL there too), the second
# kickstand in SB (10.201.0.3: a host of its own, as DHCP standby needs its own port 67, reaching
# the database over the network), both on bridge br0 in namespace C with the relay (10.201.0.2).
# The machines sit in C behind the relay (giaddr 10.202.0.1, client subnet 10.202.0.0/16 routed
# through 10.201.0.2). C holds the whole client subnet as local (an AnyIP route), so each machine
# binds its sockets to the address DHCP gave it without 1,000 `ip addr add` calls competing with
# the servers for CPU.
set -euo pipefail
ROUNDS=${1:-1}
SIZES=${2:-"100 500 1000"}
SETUPS=${3:-"baseline sqlite pg pg2"}
SPREAD=${SPREAD:-60}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
tmp=$(mktemp -d /tmp/ks-storm.XXXXXX)
chmod 755 "$tmp"
. "$here/../lib.sh"
S=ksss$$ SB=kssb$$ C=kssc$$
bench_netns=$S
BURNERS=()
stop_burners() {
  for b in "${BURNERS[@]}"; do kill "$b" 2>/dev/null || true; done
  BURNERS=()
}
cleanup() {
  stop_burners
  stop_servers
  pg_stop "$tmp/pg"
  netns_cleanup "$S" "$SB" "$C"
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

A=10.201.0.1 B=10.201.0.3 GIADDR=10.202.0.1
netns_pair "$S" "$C" $A/24 10.201.0.2/24
ip netns add "$SB"
ip -n "$SB" link set lo up
ip -n "$SB" link add vs type veth peer name vb netns "$C"
ip -n "$SB" addr add $B/24 dev vs
ip -n "$SB" link set vs up
ip -n "$C" addr del 10.201.0.2/24 dev vc
ip -n "$C" link add br0 type bridge
ip -n "$C" link set vc master br0
ip -n "$C" link set vb master br0
ip -n "$C" addr add 10.201.0.2/24 dev br0
ip -n "$C" link set vb up
ip -n "$C" link set br0 up
for ns in "$S" "$SB"; do ip -n "$ns" route add 10.202.0.0/16 via 10.201.0.2; done
ip -n "$C" route add local 10.202.0.0/16 dev lo

# Boot assets at their Rocky 9 sizes; only the first MiB of each is read, so the initrd's tail
# is sparse. kickstand's assets.dir and nginx's document root are the same files.
www=$tmp/www
mkdir -p "$www/boot/assets/rocky-9" "$tmp/pg"
head -c $((14 << 20)) /dev/urandom >"$www/boot/assets/rocky-9/vmlinuz"
head -c $((1 << 20)) /dev/urandom >"$www/boot/assets/rocky-9/initrd.img"
truncate -s $((100 << 20)) "$www/boot/assets/rocky-9/initrd.img"
# Debian's ipxe.efi is a symlink into /boot, which tftpd-hpa's chroot cannot follow: a copy
# serves both TFTP servers.
mkdir -p "$tmp/tftp"
cp -L /usr/lib/ipxe/ipxe.efi "$tmp/tftp/"
chmod -R a+rX "$tmp"

# STATEMENTS=FILE: what PostgreSQL was asked in each pg run (pg_stat_statements, setup included),
# the busiest statements by calls, appended to FILE.
[ -n "${STATEMENTS:-}" ] && PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements"
case " $SETUPS " in *" pg"*) pg_start "$tmp/pg" "$S" 5432 "$A" 10.201.0.0/24 ;; esac

# kickstand's config for instance NAME at ADDR; DHCP "dhcp" (answering), "standby" (a hot
# standby for the same subnet, dhcp.standby) or "nodhcp".
ks_config() {
  local name=$1 addr=$2 dhcp=$3 store=$4
  local dhcpcfg='{"mode":"off"}'
  [ "$dhcp" != nodhcp ] && dhcpcfg='{"mode":"authoritative","interface":"vs","serverAddress":"'$A'","relays":["'$GIADDR'"],"standby":'$([ "$dhcp" = standby ] && echo true || echo false)',"subnets":[{"cidr":"10.202.0.0/16","range":["10.202.1.1","10.202.250.254"],"leaseSeconds":43200}]}'
  echo '{"instance":"'$name'","dataDir":"'$tmp/$name'","inventory":"'$tmp/inventory'","store":{"url":"'$store'"},
    "http":{"host":"'$addr'","port":8080,"publicUrl":"http://'$addr':8080"},
    "tftp":{"host":"'$addr'","port":69,"root":"'$tmp/tftp'"},"assets":{"dir":"'$www/boot/assets'"},"dhcp":'$dhcpcfg'}'
}

# serve.ts runs as bin/kickstand runs the service (compiled, with its node flags), not through
# tsx's loader, whose own memory would count in kickstand's peak RSS. Built once here, so that a
# KS_NODE_ARGS profiler does not profile the build.
node "$repo/bin/build.mjs" bench/storm/serve.ts >/dev/null
SERVER_PIDS=() KS_PIDS=()
# Every server runs in a session of its own (setsid), as a service manager would run it: with the
# kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled) each session is one
# share of the CPU. nginx and dnsmasq daemonize into sessions of their own; a server left in this
# script's session would share one with the load generator. (setsid execs in place here: a
# background job of a script leads no process group, so $! stays the server's PID.)
# Starts serve.ts as NAME in namespace NS (default S) with SPEC; its PID (node itself) joins KS_PIDS.
start_ks() {
  local name=$1 spec=$2 ns=${3:-$S}
  (cd "$repo" && KICKSTAND_NODE_FLAGS="${KS_NODE_ARGS:-}" KICKSTAND_ENTRY=bench/storm/serve.ts exec setsid ip netns exec "$ns" bin/kickstand "$spec" >"$tmp/$name.out" 2>"$tmp/$name.err") &
  SERVER_PIDS+=($!)
  local i=0
  until grep -q '"ready"' "$tmp/$name.out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 3000 ] || ! kill -0 "${SERVER_PIDS[-1]}" 2>/dev/null; then
      echo "kickstand $name did not start:" >&2
      cat "$tmp/$name.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  KS_PIDS+=($(json_field "$tmp/$name.out" pid))
}

stop_servers() {
  for p in "${KS_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${SERVER_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -f "$tmp/nginx/nginx.pid" ] && kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
  pkill -F "$tmp/dnsmasq.pid" 2>/dev/null || true
  [ -n "${TFTPD:-}" ] && kill "$TFTPD" 2>/dev/null || true
  sleep 0.5
  SERVER_PIDS=() KS_PIDS=() TFTPD=
}

# machine 0's iPXE script and kickstart as kickstand previews them: the baseline's static files
# (same URLs, same sizes; nginx answers the callbacks they name).
rm -rf "$tmp/inventory" "$tmp/prep"
start_ks prep '{"machines":1,"previewDir":"'$www'","config":'"$(ks_config prep $A nodhcp "sqlite:$tmp/prep.db")"'}'
stop_servers

start_baseline() {
  : >"$tmp/dnsmasq.leases"
  cat >"$tmp/dnsmasq.conf" <<CONF
port=0
interface=vs
bind-interfaces
dhcp-range=10.202.1.1,10.202.250.254,255.255.0.0,12h
dhcp-leasefile=$tmp/dnsmasq.leases
dhcp-authoritative
no-ping
pid-file=$tmp/dnsmasq.pid
dhcp-userclass=set:ipxe,iPXE
dhcp-boot=tag:!ipxe,ipxe.efi,,$A
dhcp-boot=tag:ipxe,http://$A:8080/boot/ipxe?mac=\${net0/mac}
CONF
  ip netns exec "$S" dnsmasq --conf-file="$tmp/dnsmasq.conf"
  setsid ip netns exec "$S" /usr/sbin/in.tftpd -L -4 -a $A:69 -s "$tmp/tftp" &
  TFTPD=$!
  start_nginx <<CONF
  default_type text/plain;
  server {
    listen $A:8080;
    root $www;
    location /boot/callback/ { return 200 '{"state":"ok"}\n'; }
  }
CONF
  sleep 0.5
}

# The PostgreSQL processes of this benchmark (other PostgreSQL servers on the machine are not in S).
pg_pids() {
  for p in $(ip netns pids "$S"); do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = postgres ] && printf '%s ' "$p"; done
  true
}

# Starts SETUP for N machines, runs the storm, prints one line.
run_one() {
  local setup=$1 n=$2 round=$3 targets='[]'
  rm -rf "$tmp/inventory" "$tmp"/ks-* "$tmp"/*.db*
  local db="storm_${round}_${n}_$setup"
  case $setup in
    baseline) start_baseline ;;
    sqlite) start_ks ks-a '{"machines":'$n',"reportFile":"'$tmp/ks-a.report'","config":'"$(ks_config ks-a $A dhcp "sqlite:$tmp/ks.db")"'}' ;;
    pg | pg2 | pg2off)
      pg_psql "$tmp/pg" "$S" "CREATE DATABASE $db" >/dev/null
      [ -n "${STATEMENTS:-}" ] && pg_psql "$tmp/pg" "$S" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" >/dev/null
      start_ks ks-a '{"machines":'$n',"reportFile":"'$tmp/ks-a.report'","config":'"$(ks_config ks-a $A dhcp "postgres://postgres@127.0.0.1:5432/$db")"'}'
      if [ "$setup" != pg ]; then
        start_ks ks-b '{"reportFile":"'$tmp/ks-b.report'","config":'"$(ks_config ks-b $B "$([ $setup = pg2 ] && echo standby || echo nodhcp)" "postgres://postgres@$A:5432/$db")"'}' "$SB"
        targets='[{"tftp":"'$A'","http":"http://'$A':8080"},{"tftp":"'$B'","http":"http://'$B':8080"}]'
      fi
      ;;
  esac
  local ns_pids pg_pids
  ns_pids=$(ip netns pids "$S"; ip netns pids "$SB")
  pg_pids=$(pg_pids)
  local cpu0 pgcpu0 load0
  cpu0=$(cpu_seconds $ns_pids) pgcpu0=$(cpu_seconds $pg_pids) load0=$(load1)
  local b
  for b in ${NEIGHBOUR:-}; do
    node "$here/burn.mjs" "${b%:*}" "${b#*:}" &
    BURNERS+=($!)
  done
  (cd "$repo" && ip netns exec "$C" node --import tsx bench/storm/client.ts \
    '{"n":'$n',"spreadSeconds":'$SPREAD',"giaddr":"'$GIADDR'","dhcpServer":"'$A'","tftpPort":69,"targets":'"$targets"',"windowsizes":[1,4],"out":"'$tmp/machines.jsonl'"}') >"$tmp/client.json"
  stop_burners
  # Servers started for this run (not PostgreSQL): their CPU over the storm, and peak RSS.
  local srv_pids cpu pgcpu rss states=-
  srv_pids=$(for p in $ns_pids; do case " $pg_pids " in *" $p "*) ;; *) echo "$p" ;; esac; done)
  cpu=$(awk -v a="$(cpu_seconds $srv_pids)" -v b="$cpu0" -v pb="$pgcpu0" 'BEGIN { printf "%.1f", a - (b - pb) }')
  # Backends started during the run count from zero; exited ones are in the postmaster's children time.
  pgcpu=$(awk -v a="$(cpu_seconds $(pg_pids))" -v b="$pgcpu0" 'BEGIN { printf "%.1f", a - b }')
  [ "$setup" = baseline ] && pgcpu=-
  if [ "$setup" = baseline ]; then
    rss=$(for p in $srv_pids; do peak_rss_mb "$p"; done | awk '{ s += $1 } END { print s "(sum)" }')
  else
    rss=$(for p in "${KS_PIDS[@]}"; do peak_rss_mb "$p"; done | paste -sd/)
  fi
  local load commits=
  load="$load0→$(load1)"
  # Transactions committed on the database during the whole run (setup included): each one a WAL fsync.
  case $setup in pg*) commits=";commits:$(pg_psql "$tmp/pg" "$S" "SELECT xact_commit FROM pg_stat_database WHERE datname = '$db'")" ;; esac
  case $setup in pg*) [ -n "${STATEMENTS:-}" ] && { echo "# round $round, $setup, N = $n: calls, total ms, mean ms, statement"
    pg_psql "$tmp/pg" "$S" "SELECT calls, round(total_exec_time), round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 90)
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = '$db' ORDER BY calls DESC LIMIT 25"; } >>"$STATEMENTS" ;; esac
  stop_servers
  # LOGS=DIR keeps each run's server logs, per-machine results and the SQLite store (its events).
  if [ -n "${LOGS:-}" ]; then
    mkdir -p "$LOGS"
    for f in "$tmp"/ks.db "$tmp"/ks-*.err "$tmp"/ks-*.out "$tmp/machines.jsonl"; do [ -f "$f" ] && cp "$f" "$LOGS/$round-$setup-$n-$(basename "$f")"; done
  fi
  # Machine states (one store, so the first instance's view), events dropped and event-loop delay per instance.
  [ -f "$tmp/ks-a.report" ] && states=$(node -e '
    const rs = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
    console.log(Object.entries(rs[0].states).map(([k, v]) => k + ":" + v).join(",") + ";dropped:" + rs.map((r) => r.eventsDropped).join("/") +
      ";loop_p99/max_ms:" + rs.map((r) => r.loop.p99Ms + "/" + r.loop.maxMs).join(",") +
      ";mem_mb(rss/heap/used/external):" + rs.map((r) => r.mem.rss + "/" + r.mem.heapTotal + "/" + r.mem.heapUsed + "/" + r.mem.external).join(","))' "$tmp"/ks-*.report)
  rm -f "$tmp"/ks-*.report
  case $setup in pg*) pg_psql "$tmp/pg" "$S" "DROP DATABASE $db WITH (FORCE)" >/dev/null ;; esac
  node -e '
    const [c, setup, n, round, cpu, pgcpu, rss, load, states] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(c, "utf8"));
    const ph = Object.values(r.phasesP50).join("/");
    const byw = Object.entries(r.byWindow).map(([w, x]) => `w${w}:${x.p99}/${x.tftpP99}`).join(",");
    console.log([round, setup, n, r.ok, r.errors, r.p50, r.p99, r.max, r.wallS, rss, cpu, pgcpu, load, `${r.dhcpRetransmits}/${r.tftpRetries}`, ph, `${r.client.cpuS}/${r.client.loopDelayMaxMs}`, states, JSON.stringify(r.errorKinds), byw].join("\t"));
  ' "$tmp/client.json" "$setup" "$n" "$round" "$cpu" "$pgcpu" "$rss" "$load" "$states$commits"
}

printf '%s\n' "round	setup	N	ok	errors	p50_ms	p99_ms	max_ms	wall_s	peak_rss_mb	cpu_s	pg_cpu_s	load1	retx_dhcp/tftp	p50_phases_ms(dhcp/tftp/script/assets/ks/callbacks)	client_cpu_s/lag_max_ms	states	error_kinds	p99_ms/tftp_p99_ms_by_window"
for round in $(seq "$ROUNDS"); do
  for n in $SIZES; do
    for setup in $SETUPS; do run_one "$setup" "$n" "$round"; done
  done
done
