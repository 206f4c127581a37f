/**
 * Last-resort cleanup for root resources a test creates (network namespaces, QEMU processes):
 * tap teardowns do not run when the test process is killed on a timeout, but 'exit' and signal
 * handlers do, and they must be synchronous.
 */

const actions = new Set<() => void>();
let installed = false;

function runAll(): void {
  for (const action of [...actions].reverse()) {
    try {
      action();
    } catch {
      // keep going: the remaining resources still need their cleanup
    }
  }
  actions.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.exit(128 + (signal === 'SIGINT' ? 2 : signal === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Registers a synchronous cleanup; the returned function unregisters it once done normally. */
export function atExit(action: () => void): () => void {
  install();
  actions.add(action);
  return () => {
    actions.delete(action);
  };
}
