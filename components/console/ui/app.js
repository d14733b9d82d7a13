// The console's shell: hash routing, the top bar and sign-in state. Every
// screen lives in its own module and renders into <main data-testid="view">.

import { api, clearToken, getToken } from './api.js';
import { clear, h, idle, setUnauthorizedHandler } from './dom.js';
import { renderSignin } from './signin.js';
import { renderPrompts } from './prompts.js';
import { renderPrompt } from './prompt.js';
import { renderAudit } from './audit.js';
import { renderTokens } from './tokens.js';

const view = document.getElementById('view');
const topbar = document.getElementById('topbar');
const nav = document.getElementById('nav');
const menuToggle = document.getElementById('menu-toggle');
const whoami = document.getElementById('whoami');

// #/prompts/prm_1/logs?status=error → {parts: ['prompts', 'prm_1', 'logs'], query}
function route() {
  const raw = location.hash.replace(/^#/, '');
  const [path, qs] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { parts, query: new URLSearchParams(qs || '') };
}

let lastPage = null;

const TITLES = { prompts: 'Prompts', audit: 'Audit log', tokens: 'API tokens' };

function render() {
  setMenu(false);
  if (!getToken()) {
    topbar.hidden = true;
    lastPage = null;
    document.title = 'Sign in · PromptHelm';
    renderSignin(view, signedIn);
    return;
  }
  topbar.hidden = false;
  if (route().parts.length === 0) {
    // The start page, without a history entry or a second render.
    history.replaceState(null, '', '#/prompts');
  }
  const { parts, query } = route();
  for (const link of nav.querySelectorAll('a')) {
    const current = link.getAttribute('href') === `#/${parts[0]}`;
    if (current) {
      link.setAttribute('aria-current', 'page');
    } else {
      link.removeAttribute('aria-current');
    }
  }
  const page = parts.slice(0, 2).join('/');
  const [section, id, tab] = parts;
  if (page !== lastPage) {
    // The prompt page replaces this with the prompt's name once it is read.
    document.title = `${TITLES[section] || 'Not found'} · PromptHelm`;
  }
  if (section === 'prompts' && !id) {
    renderPrompts(view, query);
  } else if (section === 'prompts') {
    renderPrompt(view, id, tab || 'versions', query);
  } else if (section === 'audit') {
    renderAudit(view, query);
  } else if (section === 'tokens') {
    renderTokens(view);
  } else {
    clear(
      view,
      h('h1', { tabindex: '-1' }, 'Page not found'),
      h('p', null, 'There is nothing at this address. ', h('a', { href: '#/prompts' }, 'Go to the prompts.')),
    );
    idle();
  }
  // A new page (not a tab or filter of the same one) moves focus to its
  // heading, as a page load would; not on the very first render.
  if (lastPage !== null && lastPage !== page) {
    view.querySelector('h1')?.focus();
  }
  lastPage = page;
}

async function showWhoami() {
  whoami.textContent = '';
  try {
    const me = await api('/tokens/current');
    whoami.textContent = `Signed in as ${me.name}`;
    whoami.title = `Scopes: ${me.scopes.join(', ')}`;
  } catch {
    // The screen's own call reports a bad token; the bar just stays empty.
  }
}

function signedIn() {
  showWhoami();
  render();
  view.querySelector('h1')?.focus();
}

function signOut() {
  clearToken();
  whoami.textContent = '';
  render();
}

function setMenu(open) {
  menuToggle.setAttribute('aria-expanded', String(open));
  nav.classList.toggle('open', open);
}

setUnauthorizedHandler(signOut);
document.getElementById('sign-out').addEventListener('click', signOut);
menuToggle.addEventListener('click', () => setMenu(menuToggle.getAttribute('aria-expanded') !== 'true'));
nav.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && nav.classList.contains('open')) {
    setMenu(false);
    menuToggle.focus();
  }
});
document.getElementById('skip').addEventListener('click', () => view.focus());
window.addEventListener('hashchange', render);

if (getToken()) {
  showWhoami();
}
render();
