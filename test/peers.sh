#!/bin/sh
# The real peers the tests talk to (DHCP clients, TFTP clients and servers, QEMU + iPXE + OVMF,
# sshd, ipmi_sim, redfishtool, ignition-validate, docker-compose, lldpd as the switch and lldpad +
# dmidecode as the discovery agent finds them in the installer; syslinux, mtools, dosfstools,
# systemd's EFI stub and objcopy build the e2e VMs' boot disk; PostgreSQL 15 for the PostgreSQL
# store, which its tests start as throwaway servers of their own; chromium for the web console's
# tests, driven by puppeteer-core; keepalived for the failover test's floating boot address;
# Debian's Microsoft-signed shim and signed GRUB for the Secure Boot e2e; qemu-system-aarch64 and
# AAVMF for the ARM64 e2e, whose arm64 packages test/e2e/lib/guest-image.ts fetches after
# `dpkg --add-architecture arm64`; strace, with which a store test sees where its writes reach the
# disk).
# Installed from Debian's packages when missing; `npm test` runs this first, so a fresh Debian
# machine needs nothing else.
set -eu
PKGS="qemu-system-x86 ipxe-qemu ovmf ipxe dnsmasq-base cpio kea-admin busybox isc-dhcp-client nmap
 openssh-server openipmi ipmitool redfishtool python3-sushy ignition docker-compose tftpd-hpa atftp
 tftp-hpa iproute2 sudo tcpdump openssl syslinux syslinux-common mtools dosfstools systemd-boot-efi
 binutils curl lldpd lldpad dmidecode postgresql chromium keepalived shim-signed grub-efi-amd64-signed
 qemu-system-arm qemu-efi-aarch64 strace"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test peers missing:$missing — install them with: sudo apt-get install$missing" >&2
  exit 1
fi
echo "installing test peers:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
# tftpd-hpa's package starts a system daemon on port 69; the tests run their own.
systemctl disable --now tftpd-hpa >/dev/null 2>&1 || true
# So does postgresql's (its cluster "main" on 5432); the tests start their own servers.
case " $missing " in *" postgresql "*) systemctl disable --now postgresql >/dev/null 2>&1 || pg_ctlcluster 15 main stop >/dev/null 2>&1 || true ;; esac
# And keepalived's: the failover test runs its own, one per namespace.
case " $missing " in *" keepalived "*) systemctl disable --now keepalived >/dev/null 2>&1 || true ;; esac
