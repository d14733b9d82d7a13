// Versions tab: every version in the order it was saved, the production
// one marked, and Promote on each row. Promoting a version that was in
// production before is a revert, and the dialog says so before it happens.

import { api, apiAll } from './api.js';
import { DASH, busy, clear, confirmDialog, fmtTime, h, pill, showError, table, timeEl } from './dom.js';
import { promptHref } from './prompts.js';

export function renderVersions(root, ctx) {
  const base = `/prompts/${encodeURIComponent(ctx.id)}`;
  const errorSlot = h('div', { class: 'slot' });
  const status = h('p', { role: 'status', class: 'status', tabindex: '-1', testid: 'promote-status' });
  const list = h('div');
  clear(root, h('h2', { class: 'visually-hidden' }, 'Versions'), status, errorSlot, list);

  function load() {
    return busy(
      async () => {
        const [versions, prompt] = await Promise.all([apiAll(`${base}/versions`), ctx.prompt().catch(() => null)]);
        clear(errorSlot);
        if (versions.length === 0) {
          clear(list, h('p', { class: 'empty' }, 'No versions yet. Save one with POST /api/v1/prompts/:id/versions.'));
          return;
        }
        const production = versions.find((v) => v.isProduction) || null;
        const rows = versions.map((v) => row(v, production, prompt?.archived));
        clear(
          list,
          prompt?.archived ? h('p', { class: 'note' }, 'This prompt is archived: it takes no promotions until it is unarchived.') : null,
          table({ class: 'list' }, ['Version', 'Message', 'Model', 'Author', 'Created (UTC)', 'Last promoted (UTC)', 'Actions'], rows),
        );
      },
      (err) => showError(errorSlot, err),
    );
  }

  function row(v, production, archived) {
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
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  load();
}
