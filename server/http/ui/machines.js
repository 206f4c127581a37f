// The machine list: every machine's state and progress, live from the event stream, filtered by
// state and text, a page at a time so that a thousand machines stay quick to render.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { html } from './html.js';
import { currentStep, isActive, ProgressBar, StateBadge, age } from './format.js';
import { followEvents } from './stream.js';

const PAGE = 50;
const STATE_FILTERS = [
  ['', 'All states'],
  ['failed', 'Failed'],
  ['active', 'Installing (any step)'],
  ['ready', 'Ready'],
  ['registered', 'Never installed'],
];

/** Failed first, then installs under way, then the rest; by name within each. */
const rank = (r) => (r.p.state === 'failed' ? 0 : isActive(r.p.state) ? 1 : 2);
const byRank = (a, b) => rank(a) - rank(b) || a.m.name.localeCompare(b.m.name);

const haystack = (r) => [r.m.name, r.m.profile, r.m.address, r.m.bmc?.driver, r.p.state, ...r.m.macs].filter(Boolean).join(' ').toLowerCase();

/**
 * Rows by machine name, kept in a ref and changed in place as events come: a burst of events
 * (a rack netbooting) re-renders once per tick, not once per event.
 */
function useLiveRows(setLink) {
  const rows = useRef(new Map());
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let dirty = false;
    let stop = () => {};
    let reloading;
    const refreshing = new Set();
    const asks = new Map();
    const changed = () => (dirty = true);
    const tick = setInterval(() => {
      // Ages move every second even with no event.
      dirty = false;
      setVersion((v) => v + 1);
    }, 1000);
    const flush = setInterval(() => dirty && ((dirty = false), setVersion((v) => v + 1)), 200);

    /** Machines and their progress in two requests; the stream starts after the newest event seen. */
    const load = async () => {
      const [machines, progress] = await Promise.all([api('GET', '/machines'), api('GET', '/progress')]);
      const byName = new Map(progress.map((p) => [p.machine, p]));
      const next = new Map();
      for (const m of machines) {
        const old = rows.current.get(m.name);
        const p = byName.get(m.name) ?? { machine: m.name, state: m.state, step: 0, of: 0, stateSince: new Date().toISOString() };
        // An event the stream delivered while this load was under way is newer than the load's.
        if (old?.p.lastEvent && (!p.lastEvent || old.p.lastEvent.id > p.lastEvent.id)) p.lastEvent = old.p.lastEvent;
        next.set(m.name, { m, p });
      }
      rows.current = next;
      changed();
      return Math.max(0, ...progress.map((p) => p.lastEvent?.id ?? 0));
    };
    /** Where the machine is now (state, step k of n, deadline), after a state event. */
    const refresh = (name) => {
      if (refreshing.has(name)) return;
      const asked = (asks.get(name) ?? 0) + 1;
      asks.set(name, asked);
      // A moment's wait takes a burst of moves (installed → converging → ready) in one read.
      refreshing.add(name);
      setTimeout(async () => {
        refreshing.delete(name);
        const p = await api('GET', `/machines/${encodeURIComponent(name)}/progress?events=1`).catch(() => undefined);
        const row = rows.current.get(name);
        // A later read was asked for meanwhile: its answer is the one to show.
        if (!p || !row || asks.get(name) !== asked) return;
        const { events, ...summary } = p;
        row.p = { ...summary, lastEvent: row.p.lastEvent?.id > (summary.lastEvent?.id ?? 0) ? row.p.lastEvent : summary.lastEvent };
        changed();
      }, 100);
    };
    /** The whole list again, once for a burst of reasons. */
    const reloadSoon = () => (reloading ??= setTimeout(() => load().finally(() => (reloading = undefined)), 500));
    const onEvent = (e) => {
      const row = e.machine && rows.current.get(e.machine);
      if (!row) {
        // A machine this list has not seen (registered or accepted since).
        if (e.machine) reloadSoon();
        return;
      }
      if (row.p.lastEvent && e.id <= row.p.lastEvent.id) return;
      row.p = { ...row.p, lastEvent: e };
      // The state moves with its step k of n, from one read, so the two never disagree on screen.
      if (e.kind === 'state') refresh(e.machine);
      // A new box in the slot, or hardware facts: its MACs or address may have changed.
      if (e.kind === 'replaced' || e.kind === 'inventory') reloadSoon();
      changed();
    };
    load()
      .then((after) => {
        stop = followEvents({
          after,
          onEvent,
          onStatus: (s) => {
            setLink(s);
            // Back after a gap: what the stream resumes covers events, a fresh load covers the rest.
            if (s === 'live') load().catch(() => undefined);
          },
        });
      })
      .catch((err) => setLink(`error: ${err.message}`));
    return () => {
      clearInterval(tick);
      clearInterval(flush);
      clearTimeout(reloading);
      stop();
    };
  }, []);
  return [rows.current, version];
}

export function MachineList({ setLink }) {
  const [rows, version] = useLiveRows(setLink);
  const [state, setState] = useState('');
  const [text, setText] = useState('');
  const [page, setPage] = useState(0);
  const shown = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return [...rows.values()]
      .filter((r) => !state || (state === 'active' ? isActive(r.p.state) : r.p.state === state))
      .filter((r) => !needle || haystack(r).includes(needle))
      .sort(byRank);
  }, [rows, version, state, text]);
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  const at = Math.min(page, pages - 1);
  const failed = [...rows.values()].filter((r) => r.p.state === 'failed').length;
  const active = [...rows.values()].filter((r) => isActive(r.p.state)).length;

  return html`<section aria-labelledby="machines-title">
    <h1 id="machines-title">Machines</h1>
    <p class="counts">${rows.size} machines · <span class="failed-count">${failed} failed</span> · ${active} installing</p>
    <div class="filters" role="search">
      <label>State <select value=${state} onChange=${(e) => (setState(e.currentTarget.value), setPage(0))}>
        ${STATE_FILTERS.map(([v, l]) => html`<option value=${v}>${l}</option>`)}
      </select></label>
      <label>Search <input type="search" value=${text} placeholder="name, profile, address, MAC" onInput=${(e) => (setText(e.currentTarget.value), setPage(0))} /></label>
    </div>
    <table class="machines">
      <caption class="visually-hidden">Machines, failed first</caption>
      <thead><tr><th scope="col">Machine</th><th scope="col">Profile</th><th scope="col">State</th><th scope="col">Progress</th><th scope="col">Address</th><th scope="col">MACs</th><th scope="col">BMC</th><th scope="col">Last event</th></tr></thead>
      <tbody>${shown.slice(at * PAGE, (at + 1) * PAGE).map((r) => html`<${Row} key=${r.m.name} r=${r} />`)}</tbody>
    </table>
    ${shown.length === 0 && html`<p>No machine matches.</p>`}
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled=${at === 0} onClick=${() => setPage(at - 1)}>Previous</button>
      <span aria-live="polite">${shown.length ? `${at * PAGE + 1}–${Math.min(shown.length, (at + 1) * PAGE)} of ${shown.length}` : '0 of 0'}</span>
      <button type="button" disabled=${at >= pages - 1} onClick=${() => setPage(at + 1)}>Next</button>
    </nav>
  </section>`;
}

function Row({ r: { m, p } }) {
  const e = p.lastEvent;
  return html`<tr class="row ${p.state}" data-machine=${m.name} data-state=${p.state}>
    <th scope="row" data-label="Machine"><a href=${`#/machines/${encodeURIComponent(m.name)}`}>${m.name}</a></th>
    <td data-label="Profile">${m.profile}</td>
    <td data-label="State" class="state"><${StateBadge} state=${p.state} /></td>
    <td data-label="Progress"><${ProgressBar} p=${p} label=${`${m.name} progress`} /><div class="step">${currentStep(p)}</div></td>
    <td data-label="Address">${m.address ?? '—'}</td>
    <td data-label="MACs" class="macs">${m.macs.length ? m.macs.join(' ') : '—'}</td>
    <td data-label="BMC">${m.bmc?.driver ?? '—'}</td>
    <td data-label="Last event" class="last-event">${e ? html`<span class=${`level-${e.level}`}>${e.message}</span> <span class="ago">${age(e.at)} ago</span>` : '—'}</td>
  </tr>`;
}
