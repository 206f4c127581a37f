// One machine: a failure explained first, the current install's timeline live, the actions,
// what it is served, its hardware, converge results and its install history.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from './api.js';
import { html } from './html.js';
import { age, bytes, currentStep, delta, duration, isActive, ProgressBar, StateBadge, Time } from './format.js';
import { followEvents } from './stream.js';

const path = (name) => `/machines/${encodeURIComponent(name)}`;

export function MachinePage({ name, setLink }) {
  const [machine, setMachine] = useState();
  const [progress, setProgress] = useState();
  const [installs, setInstalls] = useState([]);
  const [error, setError] = useState();
  const [notice, setNotice] = useState();
  const reload = useRef(async () => {});

  useEffect(() => {
    let stop = () => {};
    let pending;
    const load = async () => {
      const [m, p, h] = await Promise.all([api('GET', path(name)), api('GET', `${path(name)}/progress?events=1000`), api('GET', `${path(name)}/installs`)]);
      setMachine(m);
      setProgress(p);
      setInstalls(h);
      return p;
    };
    reload.current = load;
    load()
      .then((p) => {
        stop = followEvents({
          machine: name,
          after: p.lastEvent?.id ?? 0,
          onStatus: setLink,
          onEvent: (e) => {
            // A state change moves step k of n and may start a new install: read it again.
            if (e.kind === 'state') pending ??= setTimeout(() => ((pending = undefined), load().catch(() => undefined)), 100);
            else setProgress((p) => p && { ...p, lastEvent: e, events: [...p.events, e] });
          },
        });
      })
      .catch((err) => setError(err.message));
    return () => {
      clearTimeout(pending);
      stop();
    };
  }, [name]);

  if (error) return html`<section><h1>${name}</h1><p class="error" role="alert">${error}</p></section>`;
  if (!machine || !progress) return html`<section><h1>${name}</h1><p>Loading…</p></section>`;
  const act = async (what, call) => {
    setNotice(`${what}…`);
    try {
      await call();
      setNotice(`${what}: done`);
      await reload.current();
    } catch (err) {
      setNotice(`${what} refused: ${err.message}`);
    }
  };
  return html`<article class="machine" aria-labelledby="machine-title">
    <p><a href="#/">← All machines</a></p>
    <h1 id="machine-title">${name} <${StateBadge} state=${progress.state} /></h1>
    ${progress.state === 'failed' && html`<${Failure} p=${progress} />`}
    <div class="summary">
      <${ProgressBar} p=${progress} label=${`${name} progress`} />
      <span class="step">${currentStep(progress)}</span>
    </div>
    <${Actions} name=${name} state=${progress.state} act=${act} />
    ${notice && html`<p class="notice" role="status">${notice}</p>`}
    <${Facts} m=${machine} />
    <${Timeline} events=${progress.events} />
    <${Converge} name=${name} act=${act} />
    <${Served} m=${machine} />
    <${Hardware} name=${name} />
    <${History} installs=${installs} />
  </article>`;
}

/** The phase, reason and hint, and what the installer last printed: everything needed to act. */
function Failure({ p }) {
  const report = [...p.events].reverse().find((e) => e.kind === 'callback' && e.data?.event === 'failed');
  return html`<section class="failure" aria-labelledby="failure-title">
    <h2 id="failure-title">Failed in ${p.phase ?? 'an unknown phase'}</h2>
    <dl>
      <dt>Reason</dt><dd class="reason">${p.reason ?? '—'}</dd>
      <dt>Hint</dt><dd class="hint">${p.hint ?? '—'}</dd>
    </dl>
    <h3>Installer log (tail)</h3>
    ${report?.data?.log
      ? html`<pre class="log" tabindex="0">${report.data.log}</pre>`
      : html`<p>The installer sent no log: kickstand found this failure itself (a deadline, the BMC, a refused request).</p>`}
  </section>`;
}

/** Reinstall (after a confirmation that names the machine) and cancel; converge runs below. */
function Actions({ name, state, act }) {
  const dialog = useRef();
  const [force, setForce] = useState(false);
  const running = isActive(state);
  const reinstall = () => act('Reinstall', () => api('POST', `${path(name)}/reinstall${running ? '?force=true' : ''}`));
  return html`<div class="actions">
    <button type="button" onClick=${() => (setForce(running), (dialog.current.returnValue = ''), dialog.current.showModal())}>Reinstall…</button>
    <button type="button" disabled=${!running} onClick=${() => act('Cancel', () => api('POST', `${path(name)}/cancel`))}>Cancel install</button>
    <dialog ref=${dialog} aria-labelledby="confirm-title" onClose=${(e) => e.currentTarget.returnValue === 'yes' && reinstall()}>
      <form method="dialog">
        <h2 id="confirm-title">Reinstall ${name}?</h2>
        <p>${name} will be power-cycled through its BMC and installed from scratch: everything on its disks is lost.${force ? ' The install under way now fails as superseded.' : ''}</p>
        <button value="yes">Reinstall ${name}</button> <button value="no" autofocus>Keep it</button>
      </form>
    </dialog>
  </div>`;
}

function Facts({ m }) {
  return html`<section aria-labelledby="facts-title">
    <h2 id="facts-title">Machine</h2>
    <dl class="facts">
      <dt>Profile</dt><dd>${m.profile}</dd>
      <dt>Address</dt><dd>${m.address ?? '—'}</dd>
      <dt>MACs</dt><dd class="macs">${m.macs.join(' ') || '—'}</dd>
      <dt>BMC</dt><dd>${m.bmc.driver}${m.bmc.address ? ` at ${m.bmc.address}` : ''}</dd>
      ${m.box?.serial && html`<dt>Box serial</dt><dd>${m.box.serial}</dd>`}
      ${m.replacements?.length > 0 && html`<dt>Replacements</dt><dd>${m.replacements.length}</dd>`}
    </dl>
  </section>`;
}

/** Every state and protocol event of the current install, with the time since the one before. */
function Timeline({ events }) {
  return html`<section aria-labelledby="timeline-title">
    <h2 id="timeline-title">Timeline of this install</h2>
    ${events.length === 0
      ? html`<p>No events yet.</p>`
      : html`<table class="timeline">
          <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Since previous</th><th scope="col">Kind</th><th scope="col">Event</th></tr></thead>
          <tbody>${events.map((e, i) => html`<tr key=${e.id} class=${`kind-${e.kind} level-${e.level}`} data-kind=${e.kind}>
            <td data-label="Time"><${Time} at=${e.at} /></td>
            <td data-label="Since previous" class="delta">${i ? delta(e.at - events[i - 1].at) : ''}</td>
            <td data-label="Kind">${e.kind}</td>
            <td data-label="Event">${e.level === 'error' || e.level === 'warn' ? html`<strong>${e.level}: </strong>` : ''}${e.message}</td>
          </tr>`)}</tbody>
        </table>`}
  </section>`;
}

function Converge({ name, act }) {
  const [report, setReport] = useState();
  const run = (mode) => act(`Converge ${mode}`, async () => setReport(await api('POST', `${path(name)}/converge/${mode}`)));
  return html`<section aria-labelledby="converge-title">
    <h2 id="converge-title">Converge</h2>
    <p>Plan shows what an apply would change; audit shows drift. Neither changes the host.</p>
    <button type="button" onClick=${() => run('plan')}>Show plan</button> <button type="button" onClick=${() => run('audit')}>Run audit</button>
    ${report && html`<div class="converge-report">
      <p>${report.mode}: ${report.ok ? 'ok' : 'not ok'}${report.durationMs !== undefined ? `, ${duration(report.durationMs)}` : ''}${report.error ? ` — ${report.error.message}` : ''}</p>
      ${report.steps?.length > 0 && html`<table><thead><tr><th scope="col">Step</th><th scope="col">Kind</th><th scope="col">Result</th><th scope="col">Detail</th></tr></thead>
        <tbody>${report.steps.map((s) => html`<tr><td>${s.name}</td><td>${s.kind}</td><td class=${`result-${s.status}`}>${s.status}</td><td>${s.detail ?? ''}</td></tr>`)}</tbody></table>`}
    </div>`}
  </section>`;
}

/** What the machine is served, as the API's preview renders it (a placeholder for the token, secrets hidden). */
function Served({ m }) {
  const [kind, setKind] = useState();
  useEffect(() => {
    api('GET', `/profiles/${encodeURIComponent(m.profile)}`)
      .then((p) => setKind(p.os === 'fcos' ? 'ignition' : 'kickstart'))
      .catch(() => setKind('kickstart'));
  }, [m.profile]);
  return html`<section aria-labelledby="served-title">
    <h2 id="served-title">What it is served</h2>
    <${Rendered} name=${m.name} kind="ipxe" title="iPXE script" />
    ${kind && html`<${Rendered} name=${m.name} kind=${kind} title=${kind === 'ignition' ? 'Ignition config' : 'Kickstart'} />`}
  </section>`;
}

function Rendered({ name, kind, title }) {
  const [text, setText] = useState();
  const open = (e) => e.currentTarget.open && text === undefined && api('GET', `${path(name)}/render/${kind}`).then(setText, (err) => setText(`(${err.message})`));
  return html`<details onToggle=${open} data-render=${kind}><summary>${title}</summary><pre class="rendered" tabindex="0">${text ?? 'Loading…'}</pre></details>`;
}

function Hardware({ name }) {
  const [hw, setHw] = useState();
  useEffect(() => {
    api('GET', `${path(name)}/hardware`).then(setHw, (err) => setHw(err.status === 404 ? null : { error: err.message }));
  }, [name]);
  const inv = hw?.inventory;
  return html`<section aria-labelledby="hardware-title">
    <h2 id="hardware-title">Hardware</h2>
    ${hw === undefined && html`<p>Loading…</p>`}
    ${hw === null && html`<p>No hardware report yet: one comes with the next install, or a discovery boot.</p>`}
    ${hw?.error && html`<p class="error">${hw.error}</p>`}
    ${inv && html`<p>Reported by ${hw.source} at <${Time} at=${Date.parse(hw.reportedAt)} /> (${age(hw.reportedAt)} ago).</p>
      <dl class="facts">
        ${inv.system && html`<dt>System</dt><dd>${[inv.system.manufacturer, inv.system.product, inv.system.serial && `serial ${inv.system.serial}`].filter(Boolean).join(', ')}</dd>`}
        ${inv.firmware && html`<dt>Firmware</dt><dd>${[inv.firmware.mode, inv.firmware.vendor, inv.firmware.version].filter(Boolean).join(', ')}</dd>`}
        ${inv.cpu && html`<dt>CPU</dt><dd>${[inv.cpu.count && `${inv.cpu.count} ×`, inv.cpu.model, inv.cpu.architecture].filter(Boolean).join(' ')}</dd>`}
        ${inv.memory && html`<dt>Memory</dt><dd>${bytes(inv.memory.totalMiB * 2 ** 20)}</dd>`}
        ${inv.bmc && html`<dt>BMC</dt><dd>${[inv.bmc.address, inv.bmc.mac].filter(Boolean).join(', ')}</dd>`}
      </dl>
      ${inv.disks?.length > 0 && html`<table><caption>Disks</caption><thead><tr><th scope="col">Name</th><th scope="col">Size</th><th scope="col">Model</th><th scope="col">Path</th></tr></thead>
        <tbody>${inv.disks.map((d) => html`<tr><td>${d.name}</td><td>${d.sizeBytes ? bytes(d.sizeBytes) : ''}</td><td>${d.model ?? ''}</td><td>${d.byPath ?? ''}</td></tr>`)}</tbody></table>`}
      ${inv.interfaces?.length > 0 && html`<table><caption>Network interfaces</caption><thead><tr><th scope="col">Name</th><th scope="col">MAC</th><th scope="col">Speed</th><th scope="col">Link</th><th scope="col">Switch port (LLDP)</th></tr></thead>
        <tbody>${inv.interfaces.map((n) => html`<tr><td>${n.name}</td><td>${n.mac}</td><td>${n.speedMbps ? `${n.speedMbps} Mb/s` : ''}</td><td>${n.carrier === undefined ? '' : n.carrier ? 'up' : 'down'}</td><td>${n.lldp ? `${n.lldp.systemName ?? n.lldp.chassisId ?? ''} ${n.lldp.portId ?? ''}` : ''}</td></tr>`)}</tbody></table>`}`}
  </section>`;
}

function History({ installs }) {
  return html`<section aria-labelledby="history-title">
    <h2 id="history-title">Install history</h2>
    ${installs.length === 0
      ? html`<p>No install yet (as far back as events are kept).</p>`
      : html`<table class="history"><thead><tr><th scope="col">Started (UTC)</th><th scope="col">Took</th><th scope="col">Outcome</th><th scope="col">Why it failed</th></tr></thead>
          <tbody>${installs.map((i) => html`<tr>
            <td><time datetime=${i.startedAt}>${i.startedAt.replace('T', ' ').slice(0, 19)}</time></td>
            <td>${i.endedAt ? duration(Date.parse(i.endedAt) - Date.parse(i.startedAt)) : `${age(i.startedAt)} so far`}</td>
            <td><${StateBadge} state=${i.state} /></td>
            <td>${i.state === 'failed' ? `in ${i.phase}: ${i.reason}` : ''}</td>
          </tr>`)}</tbody></table>`}
  </section>`;
}
