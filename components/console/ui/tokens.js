// API tokens (admin): create one (its secret is in that answer only, so it
// is shown once, with a copy button), list them, revoke with a confirmation.

import { SCOPES, api, apiAll } from './api.js';
import { DASH, busy, clear, confirmDialog, field, h, pill, showError, signInAgain, table, timeEl } from './dom.js';

const SCOPE_HELP = {
  'prompts:read': 'list and read prompts and versions, compare',
  'prompts:write': 'create and archive prompts, save versions, promote',
  'gateway:execute': 'execute, stream and resolve through the gateway',
  'analytics:read': 'analytics and execution logs',
  'audit:read': 'the audit log',
  'feedback:write': 'send feedback on calls and product signals of prompts',
  admin: 'everything, plus tokens and organizations',
};

export function renderTokens(view) {
  const name = h('input', { type: 'text', testid: 'token-name', required: true, maxlength: '200', autocomplete: 'off' });
  const boxes = SCOPES.map((scope) => {
    const box = h('input', { type: 'checkbox', testid: `scope-${scope}`, value: scope, id: `scope-${scope.replace(':', '-')}` });
    return h('div', { class: 'check' }, box, h('label', { for: box.id }, h('code', null, scope), ` ${SCOPE_HELP[scope]}`));
  });
  const create = h('button', { type: 'submit', class: 'primary', testid: 'token-create' }, 'Create token');
  const form = h(
    'form',
    { class: 'card' },
    h('h2', null, 'New token'),
    field('Name', name),
    h('fieldset', null, h('legend', null, 'Scopes'), boxes),
    create,
  );
  const secretSlot = h('div', { class: 'slot' });
  const errorSlot = h('div', { class: 'slot' });
  const list = h('div');
  clear(view, h('h1', { tabindex: '-1' }, 'API tokens'), errorSlot, form, secretSlot, h('h2', null, 'Tokens'), list);

  let currentId = null;

  function load() {
    return busy(
      async () => {
        const [tokens, me] = await Promise.all([apiAll('/tokens'), api('/tokens/current')]);
        currentId = me.id;
        clear(
          list,
          tokens.length
            ? table({ class: 'list' }, ['Name', 'Prefix', 'Scopes', 'Created (UTC)', 'Status', 'Actions'], tokens.map(row))
            : h('p', { class: 'empty' }, 'No tokens.'),
        );
      },
      (err) => showError(errorSlot, err),
    );
  }

  function row(t) {
    const revoke = h('button', { type: 'button', class: 'danger', testid: 'token-revoke', disabled: t.revoked }, 'Revoke');
    revoke.addEventListener('click', () => confirmRevoke(t));
    return h(
      'tr',
      { testid: 'token-row', 'data-token-id': t.id },
      h('td', null, t.name, t.id === currentId ? h('div', { class: 'muted small' }, 'this session') : null),
      h('td', null, h('code', null, t.prefix)),
      h('td', null, t.scopes.join(', ')),
      h('td', { class: 'nowrap' }, timeEl(t.createdAt)),
      h('td', null, t.revoked ? [pill('revoked', 'error'), ' ', timeEl(t.revokedAt)] : pill('active', 'ok')),
      h('td', null, revoke),
    );
  }

  async function confirmRevoke(t) {
    const mine = t.id === currentId;
    const ok = await confirmDialog({
      testid: 'revoke-dialog',
      title: `Revoke the token “${t.name}”?`,
      body: [
        h('p', null, `Every call with ${t.prefix}… fails with 401 from the next request on. This cannot be undone.`),
        mine ? h('p', { class: 'note' }, 'This is the token you are signed in with: you will be signed out.') : null,
      ],
      confirmLabel: 'Revoke',
      confirmTestid: 'confirm-revoke',
      cancelTestid: 'cancel-revoke',
      danger: true,
    });
    if (!ok) {
      return;
    }
    busy(
      async () => {
        await api(`/tokens/${encodeURIComponent(t.id)}`, { method: 'DELETE' });
        if (mine) {
          signInAgain();
          return;
        }
        await load();
      },
      (err) => showError(errorSlot, err),
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const scopes = boxes.map((b) => b.querySelector('input')).filter((b) => b.checked).map((b) => b.value);
    create.disabled = true;
    busy(
      async () => {
        const minted = await api('/tokens', { method: 'POST', body: { name: name.value.trim(), scopes } });
        clear(errorSlot);
        form.reset();
        clear(secretSlot, secretPanel(minted));
        secretSlot.querySelector('button')?.focus();
        await load();
      },
      (err) => showError(errorSlot, err),
    ).finally(() => {
      create.disabled = false;
    });
  });

  load();
}

function secretPanel(minted) {
  const secret = h('code', { testid: 'token-secret', class: 'secret' }, minted.token);
  const copied = h('span', { role: 'status', class: 'muted' });
  const copy = h('button', { type: 'button', testid: 'token-copy' }, 'Copy');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(minted.token);
      copied.textContent = 'Copied.';
    } catch {
      // No clipboard permission: select the text for a manual copy.
      getSelection().selectAllChildren(secret);
      copied.textContent = 'Press Ctrl+C (⌘C) to copy the selected token.';
    }
  });
  return h(
    'div',
    { class: 'card secret-card', role: 'region', 'aria-label': 'New token secret' },
    h('p', null, h('strong', null, `Token “${minted.name}” created. `), 'Copy its secret now: it is shown only this once.'),
    h('p', { class: 'secret-line' }, secret, copy, copied),
    h('p', { class: 'muted small' }, `Scopes: ${minted.scopes.join(', ') || DASH}`),
  );
}
