/** The smallest valid profile (one disk, one grown root volume), for tests of everything but rendering. */
export function minimalProfile(name = 'p1', firmware: 'bios' | 'uefi' = 'bios') {
  return {
    name,
    os: 'rocky-9',
    firmware,
    disks: [{ name: 'sys0', path: '/dev/disk/by-path/pci-0000:00:04.0' }],
    storage: { disks: ['sys0'], volumes: [{ name: 'root', mount: '/', grow: true }] },
  };
}
