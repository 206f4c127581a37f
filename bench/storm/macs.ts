/** The MAC of simulated machine i (0-based), and its name: what the inventory and the load generator agree on. */
export const stormMac = (i: number): string => `52:54:5e:${[(i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
export const stormName = (i: number): string => `storm-${String(i).padStart(4, '0')}`;
