// A neighbour on the storm's cores: spins SPIN µs, sleeps SLEEP µs, until killed (run.sh's
// NEIGHBOUR). 300 600 draws about a third of a core: ~20 s of CPU over a 60 s storm.
//   node bench/storm/burn.mjs SPIN SLEEP
const [spin, sleep] = process.argv.slice(2).map(Number);
if (!(spin > 0 && sleep > 0)) throw new Error('usage: burn.mjs SPIN_US SLEEP_US');
const cell = new Int32Array(new SharedArrayBuffer(4));
for (;;) {
  const until = process.hrtime.bigint() + BigInt(spin * 1000);
  while (process.hrtime.bigint() < until);
  Atomics.wait(cell, 0, 0, sleep / 1000);
}
