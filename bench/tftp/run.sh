#!/usr/bin/env bash
# TFTP benchmark: kickstand vs tftpd-hpa vs atftpd, 1 MB file on loopback, same run.
# Usage: bench/tftp/run.sh [ROUNDS] [RUNS]   (root: atftpd switches user, perf attaches to the servers)
# Each round runs every case through hyperfine with the servers in rotating order; the summary
# takes the median over all runs of all rounds, so a noisy neighbour hits every server alike.
set -euo pipefail
ROUNDS=${1:-3}
RUNS=${2:-20}
cd "$(dirname "$0")/../.."
WORK=$(mktemp -d /tmp/ks-tftp-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

mkdir -p "$WORK/root" "$WORK/json"
chmod 755 "$WORK" && chmod 777 "$WORK/root"
head -c 1048576 /dev/urandom > "$WORK/root/1m.bin"
chmod 644 "$WORK/root/1m.bin"

# atftpd conflicts with tftpd-hpa in dpkg: unpack it instead of installing.
(cd "$WORK" && apt-get download atftpd >/dev/null 2>&1 && dpkg -x atftpd_*.deb atftpd)

HPA=16901 ATFTPD=16902 KS=16903 FLOOR=16904
/usr/sbin/in.tftpd -L -4 -a 127.0.0.1:$HPA -s "$WORK/root" & PIDS+=($!)
"$WORK/atftpd/usr/sbin/atftpd" --daemon --no-fork --no-multicast --port $ATFTPD --bind-address 127.0.0.1 --logfile /dev/null "$WORK/root" & PIDS+=($!)
node --import tsx bench/tftp/serve.ts "$WORK/root" $KS >/dev/null & PIDS+=($!)
node bench/tftp/node-floor.mjs "$WORK/root/1m.bin" $FLOOR & PIDS+=($!)
sleep 2

check() { # every server must deliver the exact bytes before it is timed
  for p in $HPA $ATFTPD $KS $FLOOR; do
    curl -sS --tftp-blksize 1468 -o "$WORK/check" tftp://127.0.0.1:$p/1m.bin && cmp -s "$WORK/check" "$WORK/root/1m.bin" || { echo "server on port $p failed the check"; exit 1; }
  done
}
check

curl_cmd() { echo "curl -sS -o /dev/null --tftp-blksize $1 tftp://127.0.0.1:$2/1m.bin"; }
atftp_cmd() { echo "atftp --option 'blksize 1468' --option 'windowsize 16' -g -r 1m.bin -l /dev/null 127.0.0.1 $1"; }

for round in $(seq "$ROUNDS"); do
  # rotate the order each round
  case $((round % 3)) in 0) ORDER="$HPA $ATFTPD $KS";; 1) ORDER="$KS $HPA $ATFTPD";; 2) ORDER="$ATFTPD $KS $HPA";; esac
  for b in 512 1468 8192; do
    cmds=(); for p in $ORDER; do cmds+=("$(curl_cmd $b $p)"); done
    hyperfine -N -w 3 -r "$RUNS" --export-json "$WORK/json/curl-$b-$round.json" "${cmds[@]}" >/dev/null
  done
  cmds=(); for p in $ORDER; do cmds+=("$(atftp_cmd $p)"); done
  hyperfine -N -w 3 -r "$RUNS" --export-json "$WORK/json/atftp-ws16-$round.json" "${cmds[@]}" >/dev/null
done

node bench/tftp/summarize.mjs "$WORK/json" $HPA=tftpd-hpa $ATFTPD=atftpd $KS=kickstand

# Server CPU per transfer (task-clock of the server and its children: tftpd-hpa forks per transfer),
# 20 transfers per case: less sensitive to a busy machine than wall time. node-floor (curl only:
# no windowsize) is the bare Node dgram lock-step loop, the floor for any Node server.
echo
echo "| case | tftpd-hpa CPU ms/transfer | atftpd CPU ms/transfer | kickstand CPU ms/transfer | node-floor CPU ms/transfer |"
echo "|---|---|---|---|---|"
for c in curl-512 curl-1468 curl-8192 atftp-ws16; do
  row="| $c |"
  for i in 0 1 2 3; do
    p=$(echo $HPA $ATFTPD $KS $FLOOR | cut -d' ' -f$((i+1)))
    if [ $c = atftp-ws16 ] && [ $p = $FLOOR ]; then row="$row – |"; continue; fi
    perf stat -x, -e task-clock -p "${PIDS[$i]}" -o "$WORK/cpu" & PERF=$!
    sleep 0.5
    for n in $(seq 20); do
      case $c in
        curl-*) eval "$(curl_cmd "${c#curl-}" "$p")" ;;
        atftp-ws16) eval "$(atftp_cmd "$p")" >/dev/null 2>&1 ;;
      esac
    done
    kill -INT $PERF; wait $PERF || true
    row="$row $(awk -F, '/task-clock/ {printf "%.1f", $1 / 20}' "$WORK/cpu") |"
  done
  echo "$row"
done
