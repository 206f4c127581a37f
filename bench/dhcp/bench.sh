#!/bin/bash
# DHCP lease rate, servers side by side in the same namespaces, same perfdhcp, same run. Run as
# root from the repository root:
#   [SERVERS="…"] bench/dhcp/bench.sh [PERIOD_S] [RATE ...]
# SERVERS (default "dnsmasq kickstand"), in the order they take turns at each rate:
#   dnsmasq           dnsmasq with its lease file
#   kickstand         the DHCP server alone (test/dhcp/serve.ts), leases in the SQLite store
#   kickstand-sqlite  the whole service (bench/storm/serve.ts, as `kickstand serve` builds it:
#                     machine lookups, events, addresses), SQLite store
#   kickstand-pg      the same on PostgreSQL 15 (fsync on), the server in the server namespace
#   kea-memfile       Kea 2.2 (kea-dhcp4-server, installed if missing), memfile lease backend
#   kea-pg            Kea 2.2, PostgreSQL lease backend (kea-admin db-init) on the same server
# Kea against kickstand: SERVERS="kea-memfile kickstand-sqlite kea-pg kickstand-pg".
# perfdhcp acts as a relay (giaddr, port 67), so every server answers through the relay path.
# For each rate: fresh server and empty lease store, perfdhcp -r RATE -p PERIOD, 4-way exchanges.
set -euo pipefail
P=${1:-10}; shift || true
RATES=${*:-"200 300 400 600 800 1000 1500 2000 3000"}
SERVERS=${SERVERS:-"dnsmasq kickstand"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd); W=$(mktemp -d); S=ksbs$$; C=ksbc$$
chmod 755 "$W"
. "$ROOT/bench/lib.sh"
cleanup() { [ -n "${SRV:-}" ] && kill $SRV 2>/dev/null; sleep 0.3; pg_stop "$W/pg"; netns_cleanup $S $C; rm -rf "$W"; }
trap cleanup EXIT
netns_pair $S $C 10.201.0.1/16 10.201.0.2/16

case " $SERVERS " in *" kea"*) command -v kea-dhcp4 >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q kea-dhcp4-server >/dev/null ;; esac
case " $SERVERS " in *"-pg "*) pg_start "$W/pg" $S ;; esac

cat > $W/dnsmasq.conf <<CONF
port=0
interface=vs
bind-interfaces
dhcp-range=10.201.1.1,10.201.250.254,255.255.0.0,12h
dhcp-lease-max=100000
dhcp-leasefile=$W/dnsmasq.leases
dhcp-authoritative
no-ping
pid-file=$W/dnsmasq.pid
CONF
DHCP='{"mode":"authoritative","interface":"vs","unknownMachines":"local","relays":["10.201.0.2"],"unknownLeaseShare":1,"subnets":[{"cidr":"10.201.0.0/16","range":["10.201.1.1","10.201.250.254"],"leaseSeconds":43200}]}'
SPEC='{"quiet":true,"sqlite":"'$W'/kickstand.db","publicUrl":"http://10.201.0.1:8080","dhcp":'$DHCP'}'
# The whole service with store URL $1: no machines, so every perfdhcp MAC is an unknown one.
service_spec() {
  echo '{"config":{"instance":"bench","dataDir":"'$W'/ks","inventory":"'$W'/no-inventory","store":{"url":"'$1'"},"http":{"host":"10.201.0.1","port":8080,"publicUrl":"http://10.201.0.1:8080"},"tftp":{"enabled":false},"dhcp":'$DHCP'}}'
}
# Kea with lease database $1 (JSON), as close to the others as Kea allows: same pool, 12 h leases,
# authoritative, relayed traffic on a UDP socket.
kea_config() {
  cat > $W/kea.json <<CONF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "vs" ], "dhcp-socket-type": "udp" },
  "lease-database": $1,
  "valid-lifetime": 43200,
  "authoritative": true,
  "subnet4": [ { "id": 1, "subnet": "10.201.0.0/16", "pools": [ { "pool": "10.201.1.1 - 10.201.250.254" } ] } ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN", "output_options": [ { "output": "$W/kea.log" } ] } ]
} }
CONF
}
pg_db() { pg_psql "$W/pg" $S "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1; pg_psql "$W/pg" $S "CREATE DATABASE $1" >/dev/null; }

# Runs the server command in the server namespace and waits until its output says ready.
start_node_server() {
  (cd "$ROOT" && exec ip netns exec $S node --import tsx "$@" > $W/ks.out) & SRV=$!
  timeout 60 bash -c "until grep -q ready $W/ks.out 2>/dev/null; do sleep 0.1; done"
}
start() {
  case $1 in
    dnsmasq) : > $W/dnsmasq.leases; ip netns exec $S dnsmasq -k --conf-file=$W/dnsmasq.conf & SRV=$! ;;
    kickstand) rm -f $W/kickstand.db*; start_node_server test/dhcp/serve.ts "$SPEC" ;;
    kickstand-sqlite) rm -rf $W/ks $W/kickstand.db*; start_node_server bench/storm/serve.ts "$(service_spec "sqlite:$W/kickstand.db")" ;;
    kickstand-pg) rm -rf $W/ks; pg_db ks; start_node_server bench/storm/serve.ts "$(service_spec postgres://postgres@127.0.0.1:5432/ks)" ;;
    kea-memfile)
      rm -f $W/kea-leases4.csv*
      kea_config '{ "type": "memfile", "persist": true, "lfc-interval": 0, "name": "'$W'/kea-leases4.csv" }'
      KEA_PIDFILE_DIR=$W KEA_LOCKFILE_DIR=$W ip netns exec $S kea-dhcp4 -c $W/kea.json >$W/kea.out 2>&1 & SRV=$! ;;
    kea-pg)
      pg_db kea
      ip netns exec $S kea-admin db-init pgsql -h 127.0.0.1 -u postgres -n kea >$W/kea-admin.log 2>&1 || { cat $W/kea-admin.log >&2; exit 1; }
      kea_config '{ "type": "postgresql", "host": "127.0.0.1", "port": 5432, "name": "kea", "user": "postgres" }'
      KEA_PIDFILE_DIR=$W KEA_LOCKFILE_DIR=$W ip netns exec $S kea-dhcp4 -c $W/kea.json >$W/kea.out 2>&1 & SRV=$! ;;
  esac
  sleep 0.5
}
persisted() {
  case $1 in
    dnsmasq) wc -l < $W/dnsmasq.leases ;;
    kickstand | kickstand-sqlite) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from leases where state='bound'\").fetchone()[0])" $W/kickstand.db ;;
    kickstand-pg) ip netns exec $S runuser -u postgres -- "$PG_BIN/psql" -X -A -t -h 127.0.0.1 -U postgres -d ks -c "select count(*) from leases where state='bound'" ;;
    # memfile appends a line per lease change: the addresses are what persisted
    kea-memfile) tail -n +2 $W/kea-leases4.csv | cut -d, -f1 | sort -u | wc -l ;;
    kea-pg) ip netns exec $S runuser -u postgres -- "$PG_BIN/psql" -X -A -t -h 127.0.0.1 -U postgres -d kea -c "select count(*) from lease4 where state = 0" ;;
  esac
}
printf '%-16s %6s %9s %9s %8s %8s %9s %8s %6s\n' server rate acks acks/s do_drop% ra_drop% persisted cpu_s load1
for R in $RATES; do
  for SERVER in $SERVERS; do
    start $SERVER
    LOAD=$(load1)
    ip netns exec $C perfdhcp -4 -l vc -r $R -R 200000 -p $P -W 1000000 10.201.0.1 > $W/perf.txt 2>&1 || true
    CPU=$(ps -o times= -p $(pgrep -P $SRV -n 2>/dev/null || echo $SRV) 2>/dev/null | tr -d ' ' || echo '?')
    kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true; SRV=
    sleep 0.3
    awk -v s=$SERVER -v r=$R -v p=$P -v db="$(persisted $SERVER)" -v cpu="$CPU" -v load="$LOAD" '
      /Statistics for: DISCOVER-OFFER/{sec="DO"} /Statistics for: REQUEST-ACK/{sec="RA"}
      /received packets:/{rcv[sec]=$3} /drops ratio:/{d[sec]=$3}
      END{printf "%-16s %6d %9d %9.1f %8s %8s %9s %8s %6s\n", s, r, rcv["RA"], rcv["RA"]/p, d["DO"], d["RA"], db, cpu, load}' $W/perf.txt
  done
done
