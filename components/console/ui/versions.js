// Versions tab: every version in the order it was saved, the production
// one marked, and Promote on each row. Promoting a version that was in
// production before is a revert, and the dialog says so before it happens.
// A running sticky canary is shown above the list with its end control
// (promote the candidate or revert), and any other version can start one
// from its row (Canary…, with a percent).

import { api, apiAll } from './api.js';
import { DASH, busy, clear, confirmDialog, field, fmtTime, h, pill, showError, table, timeEl } from './dom.js';
import { promptHref } from './prompts.js';

export function renderVersions(root, ctx) {
  const base = `/prompts/${encodeURIComponent(ctx.id)}`;
  const errorSlot = h('div', { class: 'slot' });
  const status = h('p', { role: 'status', class: 'status', tabindex: '-1', testid: 'promote-status' });
  const list = h('div');
  const canarySlot = h('div');
  clear(root, h('h2', { class: 'visually-hidden' }, 'Versions'), status, errorSlot, canarySlot, list);

  function load() {
    return busy(
      async () => {
        const [versions, prompt, state] = await Promise.all([
          apiAll(`${base}/versions`),
          ctx.prompt().catch(() => null),
          api(`${base}/canary`),
        ]);
        clear(errorSlot);
        const canary = state.canary;
        clear(canarySlot, canary ? canaryCard(canary, prompt?.archived) : null);
        if (versions.length === 0) {
          clear(list, h('p', { class: 'empty' }, 'No versions yet. Save one with POST /api/v1/prompts/:id/versions.'));
          return;
        }
        const production = versions.find((v) => v.isProduction) || null;
        const rows = versions.map((v) => row(v, production, prompt?.archived, canary));
        clear(
          list,
          prompt?.archived ? h('p', { class: 'note' }, 'This prompt is archived: it takes no promotions until it is unarchived.') : null,
          table({ class: 'list' }, ['Version', 'Message', 'Model', 'Author', 'Created (UTC)', 'Last promoted (UTC)', 'Actions'], rows),
        );
      },
      (err) => showError(errorSlot, err),
    );
  }

  // The running canary: candidate, split, and the two ways to end it.
  function canaryCard(canary, archived) {
    const end = (outcome, label, testid) =>
      h('button', { type: 'button', testid, disabled: archived, onclick: () => confirmEnd(canary, outcome) }, label);
    return h(
      'section',
      { class: 'card', testid: 'canary', 'data-version-id': canary.versionId, 'data-percent': canary.percent },
      h('h3', null, 'Canary running'),
      h(
        'p',
        null,
        h('strong', null, canary.version),
        ` gets ${canary.percent}% of production calls (production: ${canary.productionVersion ?? DASH}), `,
        canary.stickyBy === 'user' ? 'sticky by user (userId, or per request without one).' : 'split per request.',
        h('span', { class: 'muted small' }, ` Started ${fmtTime(canary.startedAt)} UTC by ${canary.startedBy}.`),
      ),
      h(
        'div',
        { class: 'actions' },
        'End canary: ',
        end('promote', `Promote ${canary.version}`, 'end-canary-promote'),
        end('revert', 'Revert', 'end-canary-revert'),
      ),
    );
  }

  function row(v, production, archived, canary) {
    const isCandidate = canary?.versionId === v.id;
    const startCanary = h(
      'button',
      {
        type: 'button',
        testid: 'start-canary',
        disabled: v.isProduction || archived || !production,
        title: v.isProduction
          ? 'Production needs another version to split with'
          : !production
            ? 'Promote a version first'
            : archived
              ? 'The prompt is archived'
              : null,
        onclick: () => confirmCanary(v, production, canary),
      },
      isCandidate ? 'Change canary…' : 'Canary…',
    );
    const promote = h(
      'button',
      {
        type: 'button',
        testid: 'promote',
        disabled: v.isProduction || archived,
        title: v.isProduction ? 'Already in production' : archived ? 'The prompt is archived' : null,
        onclick: () => confirmPromote(v, production),
      },
      'Promote',
    );
    return h(
      'tr',
      { testid: 'version-row', 'data-version-id': v.id, 'data-version': v.version },
      h(
        'td',
        { class: 'nowrap' },
        h('strong', null, v.version),
        ' ',
        v.isProduction ? pill('production', 'production', 'pill-production') : null,
        ' ',
        v.isDevelopment ? pill('development', 'development', 'pill-development') : null,
        ' ',
        isCandidate ? pill(`canary ${canary.percent}%`, 'canary', 'pill-canary') : null,
      ),
      h('td', null, v.message || h('span', { class: 'muted' }, DASH)),
      h('td', null, h('code', null, v.model)),
      h('td', null, v.author),
      h('td', { class: 'nowrap' }, timeEl(v.createdAt)),
      h('td', { class: 'nowrap' }, timeEl(v.lastPromotedAt)),
      h(
        'td',
        { class: 'nowrap actions' },
        promote,
        startCanary,
        h('a', { href: `${promptHref(ctx.id, 'compare')}?to=${encodeURIComponent(v.id)}` }, 'Compare'),
      ),
    );
  }

  async function confirmPromote(v, production) {
    const revert = Boolean(v.lastPromotedAt);
    const question = production
      ? `Replace ${production.version} with ${v.version} in production?`
      : `Put ${v.version} in production?`;
    const ok = await confirmDialog({
      testid: 'promote-dialog',
      title: question,
      body: [
        production ? null : h('p', null, 'No version is in production yet.'),
        revert
          ? h(
              'p',
              { class: 'note' },
              `This is a revert: ${v.version} was in production before (last promoted ${fmtTime(v.lastPromotedAt)} UTC). `,
              'The audit log records it as a revert.',
            )
          : null,
        h(
          'p',
          null,
          `The next gateway call uses ${v.version}.`,
          production ? ` ${production.version} is kept and can be promoted again.` : '',
        ),
      ],
      confirmLabel: revert ? `Revert to ${v.version}` : `Promote ${v.version}`,
      confirmTestid: 'confirm-promote',
      cancelTestid: 'cancel-promote',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        const result = await api(`${base}/versions/${encodeURIComponent(v.id)}/promote`, { method: 'POST' });
        await Promise.all([ctx.refresh().catch(() => {}), load()]);
        status.textContent = !result.changed
          ? `${result.version} was already in production.`
          : result.revert
            ? `Reverted: ${result.version} is back in production, replacing ${result.previousVersion}.`
            : `${result.version} is now in production${result.previousVersion ? `, replacing ${result.previousVersion}` : ''}.`;
        if (result.endedCanary) {
          status.textContent += ` The canary of ${result.endedCanary.canary.version} ended.`;
        }
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  async function confirmCanary(v, production, canary) {
    const percent = h('input', { type: 'number', min: '0', max: '100', step: '1', required: true, testid: 'canary-percent', value: String(canary?.versionId === v.id ? canary.percent : 10) });
    const stickyBy = h(
      'select',
      { testid: 'canary-sticky-by' },
      h('option', { value: 'user' }, 'user (same userId, same version)'),
      h('option', { value: 'request' }, 'request (each call on its own)'),
    );
    stickyBy.value = canary?.stickyBy || 'user';
    const ok = await confirmDialog({
      testid: 'canary-dialog',
      title: canary ? `Change the canary to ${v.version}?` : `Start a canary of ${v.version}?`,
      body: [
        h('p', null, `Production calls are split between ${production.version} and ${v.version}; the next gateway call follows the split.`),
        canary && canary.versionId !== v.id ? h('p', { class: 'note' }, `This replaces the running canary of ${canary.version}.`) : null,
        field('Percent of production calls', percent, 'A whole number from 0 to 100.'),
        field('Sticky by', stickyBy),
      ],
      confirmLabel: canary ? 'Change canary' : 'Start canary',
      confirmTestid: 'confirm-canary',
      cancelTestid: 'cancel-canary',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        // The API checks the number (422 names the field when it is not 0 to 100).
        const value = percent.value.trim() === '' ? null : Number(percent.value);
        const result = await api(`${base}/canary`, {
          method: 'POST',
          body: { versionId: v.id, percent: value, stickyBy: stickyBy.value },
        });
        await load();
        const c = result.canary;
        status.textContent = !result.changed
          ? `The canary of ${c.version} already runs at ${c.percent}%.`
          : `${c.version} now gets ${c.percent}% of production calls (sticky by ${c.stickyBy}).`;
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  async function confirmEnd(canary, outcome) {
    const promote = outcome === 'promote';
    const ok = await confirmDialog({
      testid: 'end-canary-dialog',
      title: promote ? `Promote ${canary.version} and end the canary?` : `End the canary of ${canary.version}?`,
      body: h(
        'p',
        null,
        promote
          ? `${canary.version} replaces ${canary.productionVersion} in production for every call.`
          : `Every call goes to ${canary.productionVersion} again; ${canary.version} is kept.`,
      ),
      confirmLabel: promote ? `Promote ${canary.version}` : 'Revert',
      confirmTestid: 'confirm-end-canary',
      cancelTestid: 'cancel-end-canary',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        const result = await api(`${base}/canary`, { method: 'DELETE', query: { outcome } });
        await Promise.all([ctx.refresh().catch(() => {}), load()]);
        status.textContent =
          result.outcome === 'promote'
            ? `Canary ended: ${result.canary.version} is now in production.`
            : `Canary ended: every call goes to ${result.canary.productionVersion} again.`;
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  load();
}
