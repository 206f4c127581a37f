/**
 * Which kernel modules an initramfs needs, read from the modules themselves: Debian's kernel
 * package ships no modules.dep (depmod runs at install time), but every .ko carries its own
 * `depends=` in the .modinfo section.
 */

/** Module names compare with '-' and '_' as the same character, as modprobe does. */
export function moduleName(fileOrName: string): string {
  return fileOrName.replace(/^.*\//, '').replace(/\.ko(\.[a-z]+)?$/, '').replace(/-/g, '_');
}

/** The `depends=` list of a module image (empty when it depends on nothing). */
export function moduleDepends(ko: Buffer): string[] {
  const key = Buffer.from('\0depends=');
  const at = ko.indexOf(key);
  if (at < 0) return [];
  const start = at + key.length;
  const end = ko.indexOf(0, start);
  const value = ko.subarray(start, end < 0 ? ko.length : end).toString('latin1');
  return value ? value.split(',').map(moduleName) : [];
}

/**
 * The modules to load for `roots`, dependencies first. `depends` answers one module's direct
 * dependencies; a module that `isBuiltin` is skipped (it is in the kernel image already).
 */
export function loadOrder(roots: string[], depends: (name: string) => string[], isBuiltin: (name: string) => boolean): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, chain: string[]): void => {
    if (isBuiltin(name) || state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') throw new Error(`module dependency cycle: ${[...chain, name].join(' → ')}`);
    state.set(name, 'visiting');
    for (const dep of depends(name)) visit(dep, [...chain, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const root of roots) visit(moduleName(root), []);
  return order;
}
