// How times, durations and states read in the console.
import { html } from './html.js';

const RESTING = ['registered', 'ready', 'failed'];
export const isActive = (state) => !RESTING.includes(state);

/** A state's look: colour by class, and a symbol and the word, so colour is never the only cue. */
const SYMBOL = { ready: '✓', failed: '✗', registered: '○' };
export function StateBadge({ state }) {
  const kind = isActive(state) ? 'active' : state;
  return html`<span class="badge ${kind}"><span aria-hidden="true">${SYMBOL[state] ?? '◐'}</span> ${state}</span>`;
}

/** 3 s, 4 min 05 s, 2 h 03 min, 3 d 4 h. */
export function duration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor(s / 60) % 60).padStart(2, '0')} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor(s / 3600) % 24} h`;
}

/** 512 MiB, 1.5 GiB, 480 GiB, 3.8 TiB: memory and disks as firmware and vendors size them. */
export function bytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) (n /= 1024), i++;
  return `${n >= 10 || i === 0 ? Math.round(n) : n.toFixed(1)} ${units[i]}`;
}

export const age = (at) => duration(Date.now() - (typeof at === 'number' ? at : Date.parse(at)));

/** A point in time as the server logs it (UTC), to the millisecond; the full date in the tooltip. */
export function Time({ at }) {
  const d = new Date(at);
  return html`<time datetime=${d.toISOString()} title=${d.toISOString()}>${d.toISOString().slice(11, 23)}</time>`;
}

/** The time between two events: +120 ms, +3.4 s, +2 min 05 s. */
export function delta(ms) {
  if (ms < 1000) return `+${ms} ms`;
  if (ms < 60_000) return `+${(ms / 1000).toFixed(1)} s`;
  return `+${duration(ms)}`;
}

/** The step a machine is at, and for how long: what an operator scans a list for. */
export function currentStep(p) {
  if (p.state === 'failed') return `failed in ${p.phase ?? 'an unknown phase'}, ${age(p.stateSince)} ago`;
  if (p.state === 'ready') return `ready for ${age(p.stateSince)}`;
  if (p.state === 'registered') return 'never installed';
  return `${p.state} for ${age(p.stateSince)}`;
}

export function ProgressBar({ p, label }) {
  return html`<span class="progress"><progress max=${p.of} value=${p.state === 'ready' ? p.of : p.step} aria-label=${label}></progress>
    <span>step ${p.step} of ${p.of}</span></span>`;
}
