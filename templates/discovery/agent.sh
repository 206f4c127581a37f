#!/bin/sh
# kickstand discovery agent: reports this box's hardware to kickstand (served verbatim at
# GET /boot/discovery/agent; run by the discovery kickstart's %pre and by every install's %pre).
#
#   sh agent.sh --url BASE --token TOKEN [--discover] [--print] [--boot-mac MAC]
#               [--lldp-wait SECONDS] [--interval SECONDS] [--all-interfaces]
#
#   --url, --token    default: kickstand.url= and kickstand.token= on the kernel command line, as
#                     kickstand's discovery boot puts them there (an operator's own live image
#                     booted by it runs just `sh agent.sh --discover`)
#   --print           write the inventory JSON to stdout and exit 0 (no network; no --url/--token)
#   --discover        after the report, poll BASE/boot/discovery every --interval seconds
#                     (default 10, fractions allowed) and reboot or power off when told to
#   --boot-mac MAC    the boot NIC's MAC (default: BOOTIF= on the kernel command line)
#   --lldp-wait S     how long to listen for LLDP neighbours, one deadline for all NICs
#                     (default 35; 0 = no LLDP at all)
#   --all-interfaces  also report virtual NICs (veth, bridges…; never lo)
#
# Exit: 0 reported, printed, or a report that failed for any reason but a refusal (an install
# must not stop because discovery had a hiccup); 3 kickstand refused this hardware for the
# machine's profile (HTTP 409; the reason goes to stderr as "kickstand: …"); 2 bad arguments.
#
# POSIX sh and awk only (bash/gawk in the Rocky 9 installer, busybox in the e2e stand-in). Tools:
# dmidecode, lsblk, ip, lldptool+lldpad or lldpctl, ipmitool, modprobe, curl; a missing tool
# leaves its section out. Environment, for tests and odd systems: KICKSTAND_AGENT_SYSFS (/sys),
# KICKSTAND_AGENT_PROC (/proc), KICKSTAND_AGENT_DEV (/dev), KICKSTAND_AGENT_LLDPAD_CONF (lldpad -f),
# KICKSTAND_AGENT_LLDPD_SOCKET (lldpctl -u), KICKSTAND_AGENT_REBOOT (reboot -f),
# KICKSTAND_AGENT_POWEROFF (poweroff -f).

LC_ALL=C
export LC_ALL

URL=
TOKEN=
DISCOVER=0
PRINT=0
BOOT_MAC=
LLDP_WAIT=35
INTERVAL=10
ALL_IFACES=0
SYSFS=${KICKSTAND_AGENT_SYSFS:-/sys}
PROC=${KICKSTAND_AGENT_PROC:-/proc}
DEV=${KICKSTAND_AGENT_DEV:-/dev}
US=$(printf '\037')

log() { printf 'kickstand-agent: %s\n' "$*" >&2; }
usage() {
  echo "usage: sh agent.sh --url BASE --token TOKEN [--discover] [--print] [--boot-mac MAC] [--lldp-wait SECONDS] [--interval SECONDS] [--all-interfaces]" >&2
  exit 2
}
have() { command -v "$1" >/dev/null 2>&1; }

while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    --*=*) val=${opt#*=}; opt=${opt%%=*}; shift ;;
    --url | --token | --boot-mac | --lldp-wait | --interval)
      [ $# -ge 2 ] || usage
      val=$2; shift 2 ;;
    *) val=; shift ;;
  esac
  case $opt in
    --url) URL=${val%/} ;;
    --token) TOKEN=$val ;;
    --boot-mac) BOOT_MAC=$val ;;
    --lldp-wait) LLDP_WAIT=$val ;;
    --interval) INTERVAL=$val ;;
    --discover) DISCOVER=1 ;;
    --print) PRINT=1 ;;
    --all-interfaces) ALL_IFACES=1 ;;
    -h | --help) usage ;;
    *) echo "kickstand-agent: unknown option $opt" >&2; usage ;;
  esac
done
case $LLDP_WAIT in '' | *[!0-9]*) echo "kickstand-agent: --lldp-wait takes whole seconds" >&2; usage ;; esac
case $INTERVAL in '' | .* | *[!0-9.]* | *.*.*) echo "kickstand-agent: --interval takes seconds" >&2; usage ;; esac
cmdline_arg() { awk -v k="$1=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) { print substr($i, length(k) + 1); exit } }' "$PROC/cmdline" 2>/dev/null; }
[ -n "$URL" ] || { URL=$(cmdline_arg kickstand.url); URL=${URL%/}; }
[ -n "$TOKEN" ] || TOKEN=$(cmdline_arg kickstand.token)
if [ "$PRINT" = 0 ] && { [ -z "$URL" ] || [ -z "$TOKEN" ]; }; then usage; fi

WORK=$(mktemp -d 2>/dev/null) || WORK=/tmp/kickstand-agent.$$
mkdir -p "$WORK" || exit 1
trap 'rm -rf "$WORK"' EXIT
trap 'exit 1' INT TERM

# --- JSON: every value goes through this awk program, which escapes and types it ---------------
# Arguments are T:key=value. T: s string (<=256), l long string (<=1024), d DMI string (drops
# vendor placeholders), n non-negative integer, b boolean (1/0/true/false), m MAC, a newline-
# separated strings (array), o raw object, A raw comma-joined array items. Empty values are left
# out; prints {} members or nothing.
JOBJ='
function clean(s, max,   i, c, n, r) {
  r = ""; n = length(s)
  for (i = 1; i <= n; i++) { c = substr(s, i, 1); if (index(CTL, c) == 0) r = r c }
  sub(/^ +/, "", r); sub(/ +$/, "", r)
  if (length(r) > max) { r = substr(r, 1, max); sub(/ +$/, "", r) }
  return r
}
function str(s,   i, c, n, r) {
  r = ""; n = length(s)
  for (i = 1; i <= n; i++) {
    c = substr(s, i, 1)
    if (c == "\\") r = r "\\\\"; else if (c == "\"") r = r "\\\""; else r = r c
  }
  return "\"" r "\""
}
function val(t, v,   x, n, i, parts, r) {
  if (t == "s" || t == "l" || t == "d") {
    v = clean(v, t == "l" ? 1024 : 256)
    if (t == "d") { x = tolower(v); if (x ~ /^(not specified|not present|not available|to be filled by o\.e\.m\.|default string|none|n\/a|unknown|0+|123456789|0123456789|system serial number|system product name|system manufacturer|chassis serial number|03000200-0400-0500-0006-000700080009)$/) v = "" }
    return v == "" ? "" : str(v)
  }
  if (t == "n") { v = clean(v, 32); if (v !~ /^[0-9]+$/) return ""; sub(/^0+/, "", v); return v == "" ? "0" : v }
  if (t == "b") { v = tolower(clean(v, 8)); return v == "1" || v == "true" ? "true" : v == "0" || v == "false" ? "false" : "" }
  if (t == "m") {
    x = tolower(clean(v, 64)); gsub(/[-:. ]/, "", x)
    if (x !~ /^[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]$/) return ""
    return "\"" substr(x, 1, 2) ":" substr(x, 3, 2) ":" substr(x, 5, 2) ":" substr(x, 7, 2) ":" substr(x, 9, 2) ":" substr(x, 11, 2) "\""
  }
  if (t == "a") {
    n = split(v, parts, "\n"); r = ""; x = 0
    for (i = 1; i <= n && x < 64; i++) { v = clean(parts[i], 1024); if (v != "") { r = r (x ? "," : "") str(v); x++ } }
    return r == "" ? "" : "[" r "]"
  }
  if (t == "o") return v == "" || v == "{}" ? "" : v
  if (t == "A") return v == "" ? "" : "[" v "]"
  return ""
}
BEGIN {
  for (i = 1; i < 32; i++) CTL = CTL sprintf("%c", i)
  CTL = CTL sprintf("%c", 127)
  out = ""
  for (i = 1; i < ARGC; i++) {
    a = ARGV[i]; t = substr(a, 1, 1); a = substr(a, 3); p = index(a, "=")
    k = substr(a, 1, p - 1); j = val(t, substr(a, p + 1))
    if (j != "") out = out (out == "" ? "" : ",") "\"" k "\":" j
  }
  if (out != "") printf "{%s}", out
  exit
}'
jobj() { awk "$JOBJ" "$@"; }
# Appends an object to a comma-joined list held in the variable named $1.
push() { [ -n "$2" ] || return 0; eval "[ -n \"\$$1\" ] && $1=\"\$$1,\""; eval "$1=\"\$$1\$2\""; }
# One line of a file, quietly (sysfs reads of absent or down devices fail).
rd() { rd_line=; [ -r "$1" ] && { IFS= read -r rd_line <"$1" || [ -n "$rd_line" ]; } 2>/dev/null && printf '%s' "$rd_line"; }

# --- system and firmware ---------------------------------------------------------------------
dmi() { # dmidecode keyword, /sys/class/dmi/id file
  dmi_v=
  if have dmidecode; then dmi_v=$(dmidecode -s "$1" 2>/dev/null | awk '!/^#/ { print; exit }'); fi
  [ -n "$dmi_v" ] || dmi_v=$(rd "$SYSFS/class/dmi/id/$2")
  printf '%s' "$dmi_v"
}
SYSTEM=$(jobj "d:manufacturer=$(dmi system-manufacturer sys_vendor)" "d:product=$(dmi system-product-name product_name)" \
  "d:serial=$(dmi system-serial-number product_serial)" "d:uuid=$(dmi system-uuid product_uuid)")
if [ -d "$SYSFS/firmware/efi" ]; then FW_MODE=uefi; else FW_MODE=bios; fi
# Secure Boot as the firmware says it: the EFI global variable SecureBoot (efivarfs: four
# attribute bytes, then 1 = on, 0 = off); absent on BIOS or without efivarfs.
SB_VAR="$SYSFS/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
FW_SB=
# (read whole, not skipped into: efivarfs files do not seek)
[ -r "$SB_VAR" ] && FW_SB=$(od -An -tu1 -N5 "$SB_VAR" 2>/dev/null | awk '{ print $5 }')
FIRMWARE=$(jobj "s:mode=$FW_MODE" "d:vendor=$(dmi bios-vendor bios_vendor)" "d:version=$(dmi bios-version bios_version)" "b:secureBoot=$FW_SB")

# --- cpu and memory --------------------------------------------------------------------------
CPU_MODEL=$(awk -F: '/^model name[ \t]*:/ { sub(/^[ \t]+/, "", $2); print $2; exit }' "$PROC/cpuinfo" 2>/dev/null)
CPU_COUNT=$(awk '/^processor[ \t]*:/ { n++ } END { print n + 0 }' "$PROC/cpuinfo" 2>/dev/null)
[ "$CPU_COUNT" = 0 ] && CPU_COUNT=
CPU=$(jobj "s:model=$CPU_MODEL" "n:count=$CPU_COUNT" "s:architecture=$(uname -m 2>/dev/null)")
MEM_MIB=$(awk '$1 == "MemTotal:" { printf "%d", $2 / 1024; exit }' "$PROC/meminfo" 2>/dev/null)
MEMORY=$(jobj "n:totalMiB=$MEM_MIB")

# --- disks -----------------------------------------------------------------------------------
# Records name US size US rotational US model US serial US wwn US end, one a line.
if have lsblk && lsblk -b -d -n -P -o NAME,SIZE,ROTA,MODEL,SERIAL,WWN,TYPE >"$WORK/lsblk" 2>/dev/null; then
  awk -v us="$US" '
    function unhex(s,   r, i, h) {
      r = ""
      while ((i = index(s, "\\x")) > 0) {
        h = tolower(substr(s, i + 2, 2))
        if (h ~ /^[0-9a-f][0-9a-f]$/) {
          c = (index("0123456789abcdef", substr(h, 1, 1)) - 1) * 16 + index("0123456789abcdef", substr(h, 2, 1)) - 1
          r = r substr(s, 1, i - 1) (c < 32 || c == 127 ? "" : sprintf("%c", c)); s = substr(s, i + 4)
        }
        else { r = r substr(s, 1, i + 1); s = substr(s, i + 2) }
      }
      return r s
    }
    {
      split("", f); line = $0
      while (match(line, /[A-Z:-]+="[^"]*"/)) {
        kv = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
        k = substr(kv, 1, index(kv, "=") - 1); v = substr(kv, index(kv, "=") + 2); v = substr(v, 1, length(v) - 1)
        f[k] = unhex(v)
      }
      if (f["TYPE"] != "disk" || f["NAME"] ~ /^(loop|ram|zram|sr|fd)/ || f["NAME"] == "") next
      print f["NAME"] us f["SIZE"] us f["ROTA"] us f["MODEL"] us f["SERIAL"] us f["WWN"] us "end"
    }' "$WORK/lsblk" >"$WORK/disks"
else
  : >"$WORK/disks"
  for b in "$SYSFS"/block/*; do
    [ -e "$b" ] || continue
    n=${b##*/}
    case $n in loop* | ram* | zram* | sr* | fd* | dm-* | md*) continue ;; esac
    s=$(rd "$b/size")
    case $s in '' | *[!0-9]*) s= ;; *) s=$(awk -v s="$s" 'BEGIN { printf "%.0f", s * 512 }') ;; esac
    printf '%s\n' "$n$US$s$US$(rd "$b/queue/rotational")$US$US$US${US}end" >>"$WORK/disks"
  done
fi
DISKS=
while IFS=$US read -r d_name d_size d_rota d_model d_serial d_wwn d_end; do
  [ -n "$d_name" ] || continue
  b=$SYSFS/block/$d_name
  [ -n "$d_model" ] || d_model=$(rd "$b/device/model")
  [ -n "$d_serial" ] || d_serial=$(rd "$b/serial")
  [ -n "$d_serial" ] || d_serial=$(rd "$b/device/serial")
  [ -n "$d_wwn" ] || d_wwn=$(rd "$b/wwid")
  [ -n "$d_wwn" ] || d_wwn=$(rd "$b/device/wwid")
  d_ids=
  for l in "$DEV"/disk/by-id/*; do
    [ -L "$l" ] || continue
    t=$(readlink "$l" 2>/dev/null)
    [ "${t##*/}" = "$d_name" ] && d_ids="$d_ids$l
"
  done
  d_path=
  for l in "$DEV"/disk/by-path/*; do
    [ -L "$l" ] || continue
    case $l in *-part[0-9]*) continue ;; esac
    t=$(readlink "$l" 2>/dev/null)
    if [ "${t##*/}" = "$d_name" ]; then d_path=$l; break; fi
  done
  push DISKS "$(jobj "s:name=$d_name" "n:sizeBytes=$d_size" "b:rotational=$d_rota" "s:model=$d_model" "s:serial=$d_serial" \
    "s:wwn=$d_wwn" "a:byId=$d_ids" "l:byPath=$d_path")"
done <"$WORK/disks"

# --- interfaces (names first: LLDP brings them up before speed and carrier are read) ----------
IFACES=
for n in "$SYSFS"/class/net/*; do
  [ -e "$n" ] || continue
  i=${n##*/}
  [ "$i" = lo ] && continue
  [ "$ALL_IFACES" = 1 ] || [ -e "$n/device" ] || continue
  [ -n "$(jobj "m:mac=$(rd "$n/address")")" ] || continue
  IFACES="$IFACES $i"
done

lldpctl_() { if [ -n "${KICKSTAND_AGENT_LLDPD_SOCKET:-}" ]; then lldpctl -u "$KICKSTAND_AGENT_LLDPD_SOCKET" "$@"; else lldpctl "$@"; fi; }
# The value line of `lldptool get-tlv -n -i IF -V TLV` (header line, then an indented value).
tlv() {
  lldptool get-tlv -n -i "$1" -V "$2" 2>/dev/null | awk -v label="$3" '
    /^[ \t]/ { sub(/^[ \t]+/, ""); if (label) sub(/^[^:]*: /, ""); print; exit }'
}
# Writes $WORK/lldp.IF: chassisId, systemName, portId, portDescription, one a line; fails when
# no neighbour was heard yet.
lldp_read() {
  if [ "$LLDP_TOOL" = lldptool ]; then
    l_ch=$(tlv "$1" chassisID 1)
    [ -n "$l_ch" ] || return 1
    printf '%s\n%s\n%s\n%s\n' "$l_ch" "$(tlv "$1" sysName "")" "$(tlv "$1" portID 1)" "$(tlv "$1" portDesc "")" >"$WORK/lldp.$1"
  else
    lldpctl_ -f keyvalue "$1" 2>/dev/null | awk -v p="lldp.$1." '
      index($0, p) == 1 {
        kv = substr($0, length(p) + 1); e = index(kv, "="); k = substr(kv, 1, e - 1); v = substr(kv, e + 1)
        if (k ~ /^chassis\.(mac|id|local|ifname|ifalias|ip|ipv4|ipv6)$/ && ch == "") ch = v
        else if (k == "chassis.name" && nm == "") nm = v
        else if (k ~ /^port\.(ifname|id|mac|local|ifalias|ip|ipv4|ipv6)$/ && pt == "") pt = v
        else if (k == "port.descr" && pd == "") pd = v
      }
      END { if (ch == "") exit 1; printf "%s\n%s\n%s\n%s\n", ch, nm, pt, pd }' >"$WORK/lldp.$1" || { rm -f "$WORK/lldp.$1"; return 1; }
  fi
}
on_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }

LLDP_TOOL=
if [ "$LLDP_WAIT" -gt 0 ] && [ -n "$IFACES" ]; then
  if have lldptool && have lldpad; then
    LLDP_TOOL=lldptool
    if ! lldptool -p >/dev/null 2>&1; then
      conf=${KICKSTAND_AGENT_LLDPAD_CONF:-/var/lib/lldpad/lldpad.conf}
      mkdir -p "${conf%/*}" 2>/dev/null
      log "starting lldpad"
      if [ -n "${KICKSTAND_AGENT_LLDPAD_CONF:-}" ]; then lldpad -d -f "$conf" >/dev/null 2>&1; else lldpad -d >/dev/null 2>&1; fi
      k=0
      until lldptool -p >/dev/null 2>&1; do
        k=$((k + 1))
        if [ $k -gt 20 ]; then log "lldpad did not start: no LLDP"; LLDP_TOOL=; break; fi
        sleep 0.25
      done
    fi
  elif have lldpctl && lldpctl_ >/dev/null 2>&1; then
    LLDP_TOOL=lldpctl
  fi
  [ -n "$LLDP_TOOL" ] || log "no LLDP (neither lldptool+lldpad nor a running lldpd)"
fi
if [ -n "$LLDP_TOOL" ]; then
  log "listening for LLDP on$IFACES for up to ${LLDP_WAIT}s ($LLDP_TOOL)"
  if have ip; then for i in $IFACES; do ip link set "$i" up >/dev/null 2>&1; done; fi
  start=$(date +%s)
  pending=$IFACES
  armed=
  while :; do
    still=
    now=$(date +%s)
    for i in $pending; do
      if [ "$LLDP_TOOL" = lldptool ] && ! on_list "$i" "$armed"; then
        lldptool set-lldp -i "$i" adminStatus=rx >/dev/null 2>&1 && armed="$armed $i"
      fi
      lldp_read "$i" && continue
      # A NIC without a link after half the wait hears nobody: stop waiting for it.
      if [ $((now - start)) -ge $((LLDP_WAIT / 2)) ] && [ "$(rd "$SYSFS/class/net/$i/carrier")" != 1 ]; then continue; fi
      still="$still $i"
    done
    pending=$still
    [ -n "$pending" ] || break
    [ $(($(date +%s) - start)) -lt "$LLDP_WAIT" ] || break
    sleep 1
  done
fi

INTERFACES=
for i in $IFACES; do
  n=$SYSFS/class/net/$i
  speed=$(rd "$n/speed")
  case $speed in '' | 0 | *[!0-9]*) speed= ;; esac
  if [ "$(rd "$n/carrier")" = 1 ]; then carrier=true; else carrier=false; fi
  pci=
  if [ -L "$n/device" ]; then
    t=$(readlink "$n/device" 2>/dev/null)
    pci=$(printf '%s' "${t##*/}" | awk '/^[0-9a-fA-F]+:[0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F]\.[0-7]$/')
  fi
  drv=
  if [ -L "$n/device/driver" ]; then t=$(readlink "$n/device/driver" 2>/dev/null); drv=${t##*/}; fi
  lldp=
  if [ -f "$WORK/lldp.$i" ]; then
    { IFS= read -r ch; IFS= read -r nm; IFS= read -r pt; IFS= read -r pd; } <"$WORK/lldp.$i"
    lldp=$(jobj "s:chassisId=$ch" "s:systemName=$nm" "s:portId=$pt" "s:portDescription=$pd")
  fi
  push INTERFACES "$(jobj "s:name=$i" "m:mac=$(rd "$n/address")" "n:speedMbps=$speed" "b:carrier=$carrier" "s:pciAddress=$pci" \
    "s:driver=$drv" "o:lldp=$lldp")"
done

# --- BMC -------------------------------------------------------------------------------------
BMC=
if have ipmitool; then
  if [ ! -e "$DEV/ipmi0" ] && [ ! -e "$DEV/ipmi/0" ] && [ ! -e "$DEV/ipmidev/0" ] && have modprobe; then
    modprobe ipmi_si >/dev/null 2>&1
    modprobe ipmi_devintf >/dev/null 2>&1
  fi
  if [ -e "$DEV/ipmi0" ] || [ -e "$DEV/ipmi/0" ] || [ -e "$DEV/ipmidev/0" ]; then
    ipmitool lan print >"$WORK/lan" 2>/dev/null
    BMC=$(jobj "s:address=$(awk -F: '{ k = $1; sub(/[ \t]+$/, "", k) } k == "IP Address" { v = $2; gsub(/[ \t]/, "", v); if (v != "0.0.0.0") print v; exit }' "$WORK/lan")" \
      "m:mac=$(awk '{ k = $0; sub(/[ \t]*:.*/, "", k) } k == "MAC Address" { v = $0; sub(/^[^:]*:[ \t]*/, "", v); gsub(/[ \t]/, "", v); if (v != "00:00:00:00:00:00") print v; exit }' "$WORK/lan")")
  fi
fi

# --- boot MAC --------------------------------------------------------------------------------
if [ -z "$BOOT_MAC" ]; then
  BOOT_MAC=$(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^BOOTIF=/) { v = substr($i, 8); if (v ~ /^01-/) v = substr(v, 4); print v; exit } }' "$PROC/cmdline" 2>/dev/null)
fi

jobj "o:system=$SYSTEM" "o:firmware=$FIRMWARE" "o:cpu=$CPU" "o:memory=$MEMORY" "A:disks=$DISKS" "A:interfaces=$INTERFACES" \
  "o:bmc=$BMC" "m:bootMac=$BOOT_MAC" >"$WORK/inventory.json"
echo >>"$WORK/inventory.json"

if [ "$PRINT" = 1 ]; then
  cat "$WORK/inventory.json"
  exit 0
fi

# --- report and discovery --------------------------------------------------------------------
# Never log the token: curl's own messages pass through this filter.
NOCTL='BEGIN { for (i = 1; i < 32; i++) CTL = CTL sprintf("%c", i); CTL = CTL sprintf("%c", 127) }
function noctl(s,   c, i, r) { r = ""; for (i = 1; i <= length(s); i++) { c = substr(s, i, 1); if (index(CTL, c) == 0) r = r c }; return r }'
redact() { awk -v t="$TOKEN" '{ while (t != "" && (i = index($0, t)) > 0) $0 = substr($0, 1, i - 1) "***" substr($0, i + length(t)); print }'; }
curl_err() { redact <"$WORK/curl.err" | awk 'NF { printf "%s%s", (n++ ? "; " : ""), $0 }'; }

# Prints the HTTP status (000 when there was no answer).
post_report() {
  code=$(curl -sS --retry 3 -o "$WORK/resp" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    --data-binary @"$WORK/inventory.json" "$URL/boot/inventory?token=$TOKEN" 2>"$WORK/curl.err")
  case $code in [0-9][0-9][0-9]) ;; *) code=000 ;; esac
  printf '%s' "$code"
}
# Handles one report; returns 0 when kickstand took it, exits 3 on a refusal.
report() {
  code=$(post_report)
  case $code in
    2??) log "inventory reported (HTTP $code)"; return 0 ;;
    # An earlier copy of this report was taken (curl retried a slow answer): on to the polls.
    410) log "kickstand has this boot's report already (HTTP 410)"; return 0 ;;
    409)
      redact <"$WORK/resp" | awk "$NOCTL"' { print "kickstand: " noctl($0) }' >&2
      log "kickstand refused this hardware (HTTP 409)"
      exit 3 ;;
    000) log "could not reach kickstand to report the inventory: $(curl_err)" ;;
    *) log "inventory report failed (HTTP $code): $(redact <"$WORK/resp" | awk "$NOCTL"' { s = s noctl($0) " " } END { print substr(s, 1, 200) }')" ;;
  esac
  return 1
}
mul() { awk -v a="$1" -v b="$2" 'BEGIN { print a * b }'; }

do_reboot() {
  log "rebooting"
  if [ -n "${KICKSTAND_AGENT_REBOOT:-}" ]; then eval "$KICKSTAND_AGENT_REBOOT"; else reboot -f || reboot; fi
  exit 0
}
do_poweroff() {
  log "powering off"
  if [ -n "${KICKSTAND_AGENT_POWEROFF:-}" ]; then eval "$KICKSTAND_AGENT_POWEROFF"; else poweroff -f || poweroff; fi
  exit 0
}

if ! have curl; then
  log "no curl: cannot report the inventory"
  exit 0
fi
if [ "$DISCOVER" = 0 ]; then
  report || log "going on without a report"
  exit 0
fi

reported=0
k=1
while [ $k -le 5 ]; do
  if report; then reported=1; break; fi
  [ $k -lt 5 ] && sleep "$(mul "$INTERVAL" "$k")"
  k=$((k + 1))
done
[ "$reported" = 1 ] || log "no report after 5 tries; polling anyway (and reporting again as I go)"

log "waiting for kickstand's decision (every ${INTERVAL}s)"
last=
while :; do
  [ "$reported" = 1 ] || { report && reported=1; }
  code=$(curl -sS -o "$WORK/resp" -w '%{http_code}' "$URL/boot/discovery?token=$TOKEN" 2>"$WORK/curl.err")
  case $code in [0-9][0-9][0-9]) ;; *) code=000 ;; esac
  case $code in
    2??)
      action=$(awk '{ s = s $0 } END { if (match(s, /"action"[ \t]*:[ \t]*"[a-z]*"/)) { s = substr(s, RSTART, RLENGTH); sub(/^"action"[ \t]*:[ \t]*"/, "", s); sub(/"$/, "", s); print s } }' "$WORK/resp")
      case $action in
        reboot) do_reboot ;;
        poweroff) do_poweroff ;;
        wait) [ "$last" = wait ] || log "kickstand says wait" ;;
        *) log "kickstand answered an action I do not know ('$action'); waiting" ;;
      esac
      last=$action ;;
    403 | 410) log "discovery token no longer valid (HTTP $code): rebooting for a fresh one"; do_reboot ;;
    000) log "could not reach kickstand: $(curl_err)"; last= ;;
    *) log "discovery poll failed (HTTP $code)"; last= ;;
  esac
  sleep "$INTERVAL"
done
