// The prompt page: a header from GET /prompts/:id and five tabs, each its
// own module. Switching tabs keeps the header (and keyboard focus in the
// tab list); the tab is part of the address, so back/forward and reload work.

import { api } from './api.js';
import { DASH, busy, clear, h, pill, showError } from './dom.js';
import { promptHref } from './prompts.js';
import { renderVersions } from './versions.js';
import { renderAnalytics } from './analytics.js';
import { renderLogs } from './logs.js';
import { renderCompare } from './compare.js';
import { renderRun } from './run.js';

const TABS = [
  { id: 'versions', label: 'Versions', render: renderVersions },
  { id: 'analytics', label: 'Analytics', render: renderAnalytics },
  { id: 'logs', label: 'Logs', render: renderLogs },
  { id: 'compare', label: 'Compare', render: renderCompare },
  { id: 'run', label: 'Run', render: renderRun },
];

let current = null;

export function renderPrompt(view, id, tabId, query) {
  if (!current || current.id !== id || !view.contains(current.root)) {
    current = buildPage(view, id);
  }
  current.select(TABS.find((t) => t.id === tabId) || TABS[0], query);
}

function buildPage(view, id) {
  const title = h('h1', { tabindex: '-1' }, 'Prompt');
  const meta = h('div', { class: 'meta' });
  const errorSlot = h('div', { class: 'slot' });
  let promptPromise = null;

  // What the tabs share: the prompt (with its production and development
  // versions), re-read after a promote so the header follows.
  const ctx = {
    id,
    prompt() {
      return promptPromise;
    },
    refresh() {
      promptPromise = api(`/prompts/${encodeURIComponent(id)}`);
      // Callers handle the rejection; this copy only feeds the header.
      promptPromise.catch(() => {});
      busy(
        async () => {
          const p = await promptPromise;
          clear(errorSlot);
          document.title = `${p.name} · PromptHelm`;
          clear(title, p.name, p.archived ? pill('archived', 'archived') : null);
          clear(
            meta,
            h('span', null, 'Slug ', h('code', null, p.slug)),
            h('span', null, 'Production ', p.productionVersion ? pill(p.productionVersion.version, 'production', 'header-production') : DASH),
            h('span', null, 'Development ', p.developmentVersion ? pill(p.developmentVersion.version, 'development') : DASH),
            h('a', { href: `#/audit?promptId=${encodeURIComponent(id)}` }, 'Audit trail'),
            p.description ? h('p', { class: 'muted' }, p.description) : null,
          );
        },
        (err) => showError(errorSlot, err),
      );
      return promptPromise;
    },
  };

  const tablist = h('div', { role: 'tablist', 'aria-label': 'Prompt sections', class: 'tabs' });
  const panel = h('section', { role: 'tabpanel', id: 'prompt-panel', tabindex: '0', class: 'panel' });
  const buttons = TABS.map((tab) =>
    h(
      'button',
      {
        type: 'button',
        role: 'tab',
        id: `tab-${tab.id}`,
        testid: `tab-${tab.id}`,
        'aria-controls': 'prompt-panel',
        onclick: () => {
          location.hash = promptHref(id, tab.id);
        },
      },
      tab.label,
    ),
  );
  tablist.append(...buttons);
  // Arrow keys move between tabs and open them (automatic activation).
  tablist.addEventListener('keydown', (e) => {
    const at = buttons.indexOf(document.activeElement);
    if (at < 0) {
      return;
    }
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: buttons.length - 1 }[e.key];
    if (next === undefined) {
      return;
    }
    e.preventDefault();
    const target = buttons[(next + buttons.length) % buttons.length];
    target.focus();
    target.click();
  });

  const root = h(
    'div',
    null,
    h('p', { class: 'crumbs' }, h('a', { href: '#/prompts' }, 'Prompts')),
    title,
    meta,
    errorSlot,
    tablist,
    panel,
  );
  clear(view, root);
  ctx.refresh();

  return {
    id,
    root,
    select(tab, query) {
      buttons.forEach((b, i) => {
        const selected = TABS[i] === tab;
        b.setAttribute('aria-selected', String(selected));
        b.tabIndex = selected ? 0 : -1;
      });
      panel.setAttribute('aria-labelledby', `tab-${tab.id}`);
      // A fresh element per render: a slow answer for a tab left meanwhile
      // lands in a detached node instead of the new tab.
      const content = h('div');
      clear(panel, content);
      tab.render(content, ctx, query);
    },
  };
}
