/**
 * Shims for dnf, rpm, systemctl and podman, as bash scripts that record each call in
 * `<state>/calls.log` and keep their state in files: pkgs/<name>, units/<unit>.{unit,enabled,
 * active,restarts}, containers/<name>. The loopback sshd host (sshd-host.ts) and the e2e VMs'
 * installed system (test/e2e/lib/installed-system.ts) run the same ones, so the converger meets
 * the same tools on both.
 */
const SHIM_HEADER = (state: string) => `#!/bin/bash
S=${state}
via=direct; [ -n "$SUDO_USER" ] && via=sudo
echo "$(id -un) $via $(basename "$0") $*" >> "$S/calls.log"
`;

/**
 * The shims by file name. `reboot` is the shell run for `systemctl reboot` (in the background:
 * the shim itself returns at once, as systemctl does): how a host goes down and comes back is the
 * caller's.
 */
export function hostShims(state: string, reboot: string): Record<string, string> {
  return {
    rpm: `${SHIM_HEADER(state)}
[ "$1" = -q ] || { echo "rpm shim: only -q" >&2; exit 2; }
shift; missing=0
for p in "$@"; do
  if [ -e "$S/pkgs/$p" ]; then echo "$p-1.0-1.el9.x86_64"; else echo "package $p is not installed"; missing=$((missing+1)); fi
done
exit $missing
`,
    dnf: `${SHIM_HEADER(state)}
[ "$1" = -y ] && shift
verb=$1; shift
for p in "$@"; do
  case "$p" in nosuch*) echo "No match for argument: $p" >&2; echo "Error: Unable to find a match: $p" >&2; exit 1;; esac
done
for p in "$@"; do
  case "$verb" in install) touch "$S/pkgs/$p"; echo "Installed: $p";; remove) rm -f "$S/pkgs/$p"; echo "Removed: $p";; *) exit 2;; esac
done
`,
    systemctl: `${SHIM_HEADER(state)}
verb=$1; u=$2; U="$S/units/$u"
if [ "$verb" = reboot ]; then
${reboot}
  exit 0
fi
[ -e "$U.unit" ] || { echo "Failed to $verb $u: Unit $u.service not found." >&2; exit 5; }
case "$verb" in
  is-enabled) if [ -e "$U.enabled" ]; then echo enabled; else echo disabled; exit 1; fi;;
  is-active) if [ -e "$U.active" ]; then echo active; else echo inactive; exit 3; fi;;
  enable) touch "$U.enabled";;
  disable) rm -f "$U.enabled";;
  start) touch "$U.active";;
  stop) rm -f "$U.active";;
  restart) touch "$U.active"; echo $(( $(cat "$U.restarts" 2>/dev/null || echo 0) + 1 )) > "$U.restarts";;
  *) exit 2;;
esac
`,
    // Inspect prints image|running|spec label whatever --format says: the converger's format is fixed.
    podman: `${SHIM_HEADER(state)}
C="$S/containers"
case "$1 $2" in
  "container inspect")
    name=\${@: -1}
    [ -e "$C/$name" ] || { echo "Error: no such container $name" >&2; exit 125; }
    cat "$C/$name"; exit 0;;
esac
verb=$1; shift
case "$verb" in
  run)
    name=""; spec=""; image=""
    while [ $# -gt 0 ]; do
      case "$1" in
        --name) name=$2; shift 2;;
        --label) case "$2" in io.kickstand.spec=*) spec=\${2#*=};; esac; shift 2;;
        -p|-v|-e|--env|--publish|--volume|--network) shift 2;;
        -*) shift;;
        *) image=$1; break;;
      esac
    done
    [ -n "$name" ] && [ -n "$image" ] || { echo "podman shim: need --name and an image" >&2; exit 125; }
    echo "$image|true|$spec" > "$C/$name"; echo 4f3c2b1a0e;;
  start) sed -i 's/|false|/|true|/' "$C/$1";;
  stop) sed -i 's/|true|/|false|/' "$C/$1";;
  *) exit 125;;
esac
`,
  };
}

