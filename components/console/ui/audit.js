// The audit log (GET /audit), newest first, filtered by action and prompt.
// Promotions that returned a version to production, and canaries ended by
// reverting, are marked as reverts. The regression watch's own actions
// (actor type `system`, actor `regression-watch`) are marked automatic,
// apart from people and from the bootstrap token (also `system`), and show
// their evidence.

import { api } from './api.js';
import { DASH, busy, clear, field, h, newestOnly, paged, pill, showError, table, timeEl } from './dom.js';
import { promptHref } from './prompts.js';
import { WATCH_ACTOR, comparedLine, metricsTable } from './watch.js';

const ACTIONS = [
  'prompt.create',
  'prompt.version.create',
  'prompt.promote',
  'prompt.canary.start',
  'prompt.canary.update',
  'prompt.canary.end',
  'prompt.watch.update',
  'prompt.archive',
  'prompt.unarchive',
  'token.create',
  'token.revoke',
  'execution_logs.purge',
  'organization.create',
];

function summary(e) {
  const d = e.details || {};
  switch (e.action) {
    case 'prompt.create':
      return `${d.name} (${d.slug})`;
    case 'prompt.version.create':
      return `${d.previousVersion ?? DASH} → ${d.version}${d.message ? `: ${d.message}` : ''}`;
    case 'prompt.promote':
      return [`${d.previousVersion ?? 'none'} → ${d.version} in production `, d.revert ? pill('revert', 'revert', 'audit-revert') : null];
    case 'prompt.canary.start':
      return `${d.version} on ${d.percent}% of production calls, sticky by ${d.stickyBy}`;
    case 'prompt.canary.update': {
      const p = d.previous || {};
      return `${p.version} at ${p.percent}% by ${p.stickyBy} → ${d.version} at ${d.percent}% by ${d.stickyBy}`;
    }
    case 'prompt.canary.end':
      return [
        `${d.version} at ${d.percent}% ended: ${d.outcome}${d.endedBy === 'promote' ? ' (by a promote)' : ''} `,
        d.outcome === 'revert' ? pill('revert', 'revert', 'audit-revert') : null,
      ];
    case 'prompt.watch.update':
      return `regression watch ${d.previousPolicy?.mode ?? DASH} → ${d.policy?.mode}`;
    case 'prompt.archive':
    case 'prompt.unarchive':
      return d.slug;
    case 'token.create':
      return `${d.name}: ${(d.scopes || []).join(', ')}`;
    case 'token.revoke':
      return d.name;
    case 'execution_logs.purge':
      return `${d.deleted} deleted (older than ${d.retentionDays} days)${d.complete ? '' : ', more to purge'}`;
    case 'organization.create':
      return d.name;
    default:
      return JSON.stringify(d);
  }
}

const isWatch = (e) => e.actorType === 'system' && e.actor === WATCH_ACTOR;

// Who acted, so that a person, an API token, the bootstrap token and the
// regression watch never look alike.
function actor(e) {
  if (isWatch(e)) {
    return h('span', { testid: 'actor-watch' }, h('strong', null, 'Regression watch (automatic)'), h('div', { class: 'muted small' }, 'system'));
  }
  const kind = { user: 'person', api_token: 'API token', system: e.actor === 'bootstrap' ? 'bootstrap token (system)' : 'system' }[e.actorType] ?? e.actorType;
  return [e.actorName || e.actor, h('div', { class: 'muted small' }, kind)];
}

// An action's evidence (the watch's): what it compared and the regressed
// metrics with their numbers and sample sizes.
function evidence(e) {
  const d = e.details || {};
  const ev = d.evidence;
  if (!ev) {
    return null;
  }
  // The entry names its versions' numbers; any other id stays an id.
  const known = { [d.versionId]: d.version, [d.previousVersionId]: d.previousVersion };
  return h(
    'div',
    { class: 'evidence', testid: 'audit-evidence' },
    h('p', { class: 'small' }, comparedLine(ev, (id) => known[id] ?? id)),
    metricsTable(ev.regressed || [], 'evidence-metrics'),
  );
}

function row(e) {
  return h(
    'tr',
    { testid: 'audit-row', 'data-action': e.action, 'data-actor': e.actor, 'data-actor-type': e.actorType, class: isWatch(e) ? 'system-row' : null },
    h('td', { class: 'nowrap' }, timeEl(e.createdAt)),
    h('td', null, h('code', null, e.action)),
    h('td', null, actor(e)),
    h('td', null, e.promptId ? h('a', { href: promptHref(e.promptId) }, e.promptId) : DASH),
    h('td', null, summary(e), evidence(e)),
  );
}

export function renderAudit(view, query) {
  const action = h('select', { testid: 'audit-action' }, h('option', { value: '' }, 'Any action'), ACTIONS.map((a) => h('option', { value: a }, a)));
  action.value = ACTIONS.includes(query.get('action')) ? query.get('action') : '';
  const promptId = h('input', { type: 'text', testid: 'audit-prompt', value: query.get('promptId') || '', placeholder: 'prm_…', spellcheck: 'false' });
  const form = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Filter the audit log' }, field('Action', action), field('Prompt id', promptId), h('button', { type: 'submit', testid: 'audit-apply' }, 'Apply'));
  const errorSlot = h('div', { class: 'slot' });
  const out = h('div');
  clear(view, h('h1', { tabindex: '-1' }, 'Audit log'), form, errorSlot, out);

  const begin = newestOnly();

  function load() {
    const filter = { action: action.value, promptId: promptId.value.trim() };
    const address = new URLSearchParams(Object.entries(filter).filter(([, v]) => v));
    history.replaceState(null, '', `#/audit${address.size ? `?${address}` : ''}`);
    const current = begin();
    busy(
      async () => {
        const page = await api('/audit', { query: filter });
        if (!current()) {
          return;
        }
        clear(errorSlot);
        const t = table({ class: 'list' }, ['Time (UTC)', 'Action', 'Actor', 'Prompt', 'What'], []);
        const more = h('div', { class: 'more' });
        paged(t.querySelector('tbody'), more, page, {
          row,
          testid: 'audit-more',
          next: (cursor) => api('/audit', { query: { ...filter, cursor } }),
          onError: (err) => showError(errorSlot, err),
        });
        clear(out, page.data.length ? [t, more] : h('p', { class: 'empty' }, 'No entries match.'));
      },
      (err) => {
        if (current()) {
          clear(out);
          showError(errorSlot, err);
        }
      },
    );
  }

  action.addEventListener('change', load);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  load();
}
