// The console's entry: sign-in, then the pages by the URL's hash (#/, #/machines/NAME,
// #/discovered). Everything shown comes from /api/v1.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { signOut, startSession } from './api.js';
import { DiscoveredPage } from './discovered.js';
import { html } from './html.js';
import { MachinePage } from './machine.js';
import { MachineList } from './machines.js';

const form = document.getElementById('signin');
const root = document.getElementById('app');

function showSignIn(refused) {
  render(null, root);
  form.hidden = false;
  document.getElementById('signin-error').hidden = !refused;
  form.token.focus();
}

function start(csrf) {
  // The token was typed here: leave no copy of it in the page.
  form.reset();
  form.hidden = true;
  startSession(csrf, () => showSignIn(false));
  render(html`<${Console} />`, root);
}

function useHash() {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = () => setHash(location.hash);
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function Console() {
  const hash = useHash();
  const [link, setLink] = useState('connecting');
  const machine = /^#\/machines\/(.+)$/.exec(hash);
  const page = machine
    ? html`<${MachinePage} key=${machine[1]} name=${decodeURIComponent(machine[1])} setLink=${setLink} />`
    : hash === '#/discovered'
      ? html`<${DiscoveredPage} setLink=${setLink} />`
      : html`<${MachineList} setLink=${setLink} />`;
  useEffect(() => {
    document.title = machine ? `${decodeURIComponent(machine[1])} · kickstand` : hash === '#/discovered' ? 'Discovered · kickstand' : 'Machines · kickstand';
  }, [hash]);
  return html`<header class="bar">
      <a class="brand" href="#/">kickstand</a>
      <nav aria-label="Console"><a href="#/" aria-current=${!machine && hash !== '#/discovered' ? 'page' : undefined}>Machines</a> <a href="#/discovered" aria-current=${hash === '#/discovered' ? 'page' : undefined}>Discovered</a></nav>
      <span class="link ${link}" role="status" aria-live="polite">${{ live: '● live', reconnecting: '○ reconnecting…', '': '' }[link] ?? link}</span>
      <button type="button" onClick=${() => signOut()}>Sign out</button>
    </header>
    <main>${page}</main>`;
}

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  const res = await fetch('/ui/session', { method: 'POST', headers: { accept: 'application/json' }, body: new URLSearchParams(new FormData(form)) });
  if (res.ok) return start((await res.json()).csrf);
  showSignIn(true);
  form.token.select();
});

// A sign-in posted without this script comes back here with ?signin=refused.
const refused = new URLSearchParams(location.search).has('signin');
if (refused) history.replaceState(null, '', '/ui/' + location.hash);
const session = await fetch('/ui/session');
if (session.ok) start((await session.json()).csrf);
else showSignIn(refused);
