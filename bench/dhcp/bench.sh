#!/bin/bash
# DHCP lease rate: kickstand (authoritative, leases in the SQLite store) vs dnsmasq (lease file),
# same namespaces, same perfdhcp, same run. Run as root from the repository root:
#   bench/dhcp/bench.sh [PERIOD_S] [RATE ...]
# perfdhcp acts as a relay (giaddr, port 67), so both servers answer through the relay path.
# For each rate: fresh server and empty lease store, perfdhcp -r RATE -p PERIOD, 4-way exchanges.
set -euo pipefail
P=${1:-10}; shift || true
RATES=${*:-"200 300 400 600 800 1000 1500 2000 3000"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd); W=$(mktemp -d); S=ksbs$$; C=ksbc$$
cleanup() { [ -n "${SRV:-}" ] && kill $SRV 2>/dev/null; sleep 0.3; ip netns del $S 2>/dev/null; ip netns del $C 2>/dev/null; rm -rf "$W"; }
trap cleanup EXIT
ip netns add $S; ip netns add $C
ip -n $S link set lo up; ip -n $C link set lo up
ip -n $S link add vs type veth peer name vc netns $C
ip -n $S addr add 10.201.0.1/16 dev vs; ip -n $C addr add 10.201.0.2/16 dev vc
ip -n $S link set vs up; ip -n $C link set vc up

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
SPEC='{"quiet":true,"sqlite":"'$W'/kickstand.db","publicUrl":"http://10.201.0.1:8080","dhcp":{"mode":"authoritative","interface":"vs","unknownMachines":"local","relays":["10.201.0.2"],"unknownLeaseShare":1,"subnets":[{"cidr":"10.201.0.0/16","range":["10.201.1.1","10.201.250.254"],"leaseSeconds":43200}]}}'

start() {
  case $1 in
    dnsmasq) : > $W/dnsmasq.leases; ip netns exec $S dnsmasq -k --conf-file=$W/dnsmasq.conf & SRV=$! ;;
    kickstand) rm -f $W/kickstand.db*; (cd "$ROOT" && exec ip netns exec $S node --import tsx test/dhcp/serve.ts "$SPEC" > $W/ks.out) & SRV=$!
               timeout 20 bash -c "until grep -q ready $W/ks.out 2>/dev/null; do sleep 0.1; done" ;;
  esac
  sleep 0.5
}
persisted() {
  case $1 in
    dnsmasq) wc -l < $W/dnsmasq.leases ;;
    kickstand) python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select count(*) from leases where state='bound'\").fetchone()[0])" $W/kickstand.db ;;
  esac
}
printf '%-9s %6s %9s %9s %8s %8s %9s %8s\n' server rate acks acks/s do_drop% ra_drop% persisted cpu_s
for R in $RATES; do
  for SERVER in dnsmasq kickstand; do
    start $SERVER
    ip netns exec $C perfdhcp -4 -l vc -r $R -R 200000 -p $P -W 1000000 10.201.0.1 > $W/perf.txt 2>&1 || true
    CPU=$(ps -o times= -p $(pgrep -P $SRV -n 2>/dev/null || echo $SRV) 2>/dev/null | tr -d ' ' || echo '?')
    kill $SRV 2>/dev/null; wait $SRV 2>/dev/null || true; SRV=
    sleep 0.3
    awk -v s=$SERVER -v r=$R -v p=$P -v db="$(persisted $SERVER)" -v cpu="$CPU" '
      /Statistics for: DISCOVER-OFFER/{sec="DO"} /Statistics for: REQUEST-ACK/{sec="RA"}
      /received packets:/{rcv[sec]=$3} /drops ratio:/{d[sec]=$3}
      END{printf "%-9s %6d %9d %9.1f %8s %8s %9s %8s\n", s, r, rcv["RA"], rcv["RA"]/p, d["DO"], d["RA"], db, cpu}' $W/perf.txt
  done
done
