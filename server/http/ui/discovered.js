// Boxes that reported their hardware without being machines: which rule matches and why,
// and accept with a profile picked from the list.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { html } from './html.js';
import { age } from './format.js';

export function DiscoveredPage({ setLink }) {
  const [entries, setEntries] = useState();
  const [profiles, setProfiles] = useState([]);
  const [error, setError] = useState();
  const load = () =>
    Promise.all([api('GET', '/discovered'), api('GET', '/profiles')]).then(([d, p]) => (setEntries(d), setProfiles(p.map((x) => x.name))), (err) => setError(err.message));
  useEffect(() => {
    // Read when opened, not followed live: nothing here to say about the event stream.
    setLink('');
    void load();
  }, []);
  return html`<section aria-labelledby="discovered-title">
    <h1 id="discovered-title">Discovered machines</h1>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${entries === undefined && !error && html`<p>Loading…</p>`}
    ${entries?.length === 0 && html`<p>No box has reported its hardware. Unknown MACs get a discovery boot with <code>unknownMachines: discover</code>.</p>`}
    ${entries?.map((e) => html`<${Entry} key=${e.id} e=${e} profiles=${profiles} reload=${load} />`)}
  </section>`;
}

function Entry({ e, profiles, reload }) {
  const [verdicts, setVerdicts] = useState();
  const [name, setName] = useState('');
  const [profile, setProfile] = useState('');
  const [reinstall, setReinstall] = useState(false);
  const [outcome, setOutcome] = useState();
  useEffect(() => {
    api('GET', `/discovered/${e.id}/rules`).then(setVerdicts, () => setVerdicts([]));
  }, [e.id]);
  const matching = verdicts?.find((v) => v.matches);
  const accept = async (ev) => {
    ev.preventDefault();
    setOutcome('Accepting…');
    try {
      const body = e.replaces && !name ? {} : { name, profile, reinstall };
      const r = await api('POST', `/discovered/${e.id}/accept`, body);
      setOutcome(`Accepted as ${r.machine.name}${r.reinstall ? ', reinstalling' : ''}.`);
      reload();
    } catch (err) {
      const issues = err.body?.issues?.map((i) => `${i.path}: ${i.message}`).join('; ');
      setOutcome(`Refused: ${err.message}${issues && !err.message.includes(issues) ? ` (${issues})` : ''}`);
    }
  };
  const id = `entry-${e.id}`;
  return html`<article class="discovered" aria-labelledby=${id} data-entry=${e.id}>
    <h2 id=${id}>${e.summary} <span class="badge ${e.state}">${e.state}</span></h2>
    <dl class="facts">
      <dt>Id</dt><dd>${e.id}</dd>
      <dt>MACs</dt><dd class="macs">${e.macs.join(' ')}</dd>
      ${e.ip && html`<dt>Address</dt><dd>${e.ip}</dd>`}
      <dt>Last seen</dt><dd>${age(e.seenAt)} ago</dd>
      ${e.machine && html`<dt>Machine</dt><dd><a href=${`#/machines/${encodeURIComponent(e.machine)}`}>${e.machine}</a></dd>`}
      ${e.replaces && html`<dt>Replaces</dt><dd>${e.replaces}</dd>`}
      ${e.reason && html`<dt>Why it waits</dt><dd>${e.reason}</dd>`}
    </dl>
    <h3>Rules</h3>
    ${verdicts === undefined
      ? html`<p>Loading…</p>`
      : verdicts.length === 0
        ? html`<p>No rules.</p>`
        : html`<ul class="verdicts">${verdicts.map((v) => html`<li class=${v.matches ? 'matches' : 'no-match'}>
            <strong>${v.rule}</strong> (priority ${v.priority}): ${v.matches ? 'matches' : 'does not match'}${v.reasons.length ? ` — ${v.reasons.join('; ')}` : ''}</li>`)}</ul>`}
    ${e.state !== 'accepted' &&
    html`<form class="accept" onSubmit=${accept}>
      <label>Machine name <input value=${name} onInput=${(x) => setName(x.currentTarget.value)} required=${!e.replaces} /></label>
      <label>Profile <select value=${profile} onChange=${(x) => setProfile(x.currentTarget.value)} required=${!e.replaces}>
        <option value="">Choose a profile${matching ? ` (rule ${matching.rule} picks one)` : ''}</option>
        ${profiles.map((p) => html`<option value=${p}>${p}</option>`)}
      </select></label>
      <label><input type="checkbox" checked=${reinstall} onChange=${(x) => setReinstall(x.currentTarget.checked)} /> Install it now</label>
      <button type="submit">Accept${e.replaces ? ` (replaces ${e.replaces})` : ''}</button>
    </form>`}
    ${outcome && html`<p role="status">${outcome}</p>`}
  </article>`;
}
