// Logs tab: the prompt's execution logs (GET /execution-logs?promptId=…),
// newest first, with the API's filters (status, error code, and the `q`
// expression) and "Load more" over nextCursor. A row opens the whole call,
// request and response bodies included (GET /execution-logs/:id).

import { api } from './api.js';
import { DASH, busy, clear, errorBanner, field, fmtCost, fmtInt, fmtMs, h, newestOnly, paged, pill, pretty, showError, table, timeEl } from './dom.js';
import { promptHref } from './prompts.js';

const FILTERS = ['status', 'errorCode', 'q'];

export function renderLogs(root, ctx, query) {
  const status = h(
    'select',
    { testid: 'logs-status' },
    h('option', { value: '' }, 'Any'),
    h('option', { value: 'success' }, 'Success'),
    h('option', { value: 'error' }, 'Error'),
  );
  status.value = query.get('status') || '';
  const errorCode = h('input', { type: 'text', testid: 'logs-error-code', value: query.get('errorCode') || '', placeholder: 'e.g. PROVIDER_TIMEOUT', spellcheck: 'false' });
  const filter = h('input', {
    type: 'text',
    testid: 'logs-filter',
    class: 'wide',
    value: query.get('q') || '',
    placeholder: "status = 'error' AND latencyMs > 2000",
    spellcheck: 'false',
  });
  const failures = h('button', { type: 'button', testid: 'logs-failures' }, 'Failures only');
  const form = h(
    'form',
    { class: 'toolbar', role: 'search', 'aria-label': 'Filter logs' },
    failures,
    field('Status', status),
    field('Error code', errorCode),
    field('Filter expression', filter, 'Fields like status, errorCode, model, latencyMs, cost; AND, OR, IN, LIKE.'),
    h('button', { type: 'submit', class: 'primary', testid: 'logs-apply' }, 'Apply'),
  );
  const errorSlot = h('div', { class: 'slot' });
  const out = h('div');
  clear(root, h('h2', { class: 'visually-hidden' }, 'Logs'), form, errorSlot, out);

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });
  failures.addEventListener('click', () => {
    status.value = 'error';
    load();
  });

  function fail(err) {
    // Token problems are the page's banner; anything about the query
    // (INVALID_FILTER, a bad value) belongs next to the filters.
    const auth = err?.status === 401 || err?.status === 403;
    clear(errorSlot, errorBanner(err, auth ? 'api-error' : 'logs-error'));
  }

  const begin = newestOnly();

  function load() {
    const values = { status: status.value, errorCode: errorCode.value.trim(), q: filter.value.trim() };
    const address = new URLSearchParams(FILTERS.filter((k) => values[k]).map((k) => [k, values[k]]));
    history.replaceState(null, '', `${promptHref(ctx.id, 'logs')}${address.size ? `?${address}` : ''}`);
    const params = { promptId: ctx.id, ...values };
    const current = begin();
    busy(
      async () => {
        const page = await api('/execution-logs', { query: params });
        if (!current()) {
          return;
        }
        clear(errorSlot);
        const t = table({ class: 'list numeric' }, ['Time (UTC)', 'Status', 'Version', 'Model', 'Latency', 'Tokens in/out', 'Cost', 'Error'], []);
        const more = h('div', { class: 'more' });
        paged(t.querySelector('tbody'), more, page, {
          row,
          testid: 'logs-more',
          next: (cursor) => api('/execution-logs', { query: { ...params, cursor } }),
          onError: fail,
        });
        clear(out, page.data.length ? [t, more] : h('p', { class: 'empty' }, 'No calls match these filters.'));
      },
      (err) => {
        if (current()) {
          clear(out);
          fail(err);
        }
      },
    );
  }

  function row(log) {
    const open = h('button', { type: 'button', class: 'link', title: `Open ${log.id}` }, timeEl(log.createdAt));
    const tr = h(
      'tr',
      { testid: 'log-row', 'data-log-id': log.id, 'data-status': log.status, class: 'clickable' },
      h('td', { class: 'nowrap' }, open),
      h('td', null, pill(log.status, log.status === 'success' ? 'ok' : 'error')),
      h('td', null, log.version ?? DASH),
      h('td', null, h('code', null, log.model ?? DASH)),
      h('td', null, fmtMs(log.latencyMs)),
      h('td', null, `${fmtInt(log.inputTokens)} / ${fmtInt(log.outputTokens)}`),
      h('td', null, fmtCost(log.cost)),
      h('td', null, log.errorCode ? h('code', null, log.errorCode) : DASH),
    );
    tr.addEventListener('click', () => openDetail(log.id, open));
    return tr;
  }

  function openDetail(id, opener) {
    busy(
      async () => {
        const log = await api(`/execution-logs/${encodeURIComponent(id)}`);
        showDetail(log, opener);
      },
      (err) => showError(errorSlot, err, 'logs-error'),
    );
  }

  load();
}

function showDetail(log, opener) {
  document.querySelector('dialog[data-testid="log-detail"]')?.close();
  const close = h('button', { type: 'button', testid: 'log-close' }, 'Close');
  const item = (label, value) => [h('dt', null, label), h('dd', null, value ?? DASH)];
  const dialog = h(
    'dialog',
    { testid: 'log-detail', class: 'sheet', 'aria-labelledby': 'log-detail-title' },
    h('div', { class: 'sheet-head' }, h('h2', { id: 'log-detail-title' }, 'Call ', h('code', null, log.id)), close),
    h(
      'dl',
      { class: 'facts' },
      item('Status', [pill(log.status, log.status === 'success' ? 'ok' : 'error'), log.httpStatus ? ` HTTP ${log.httpStatus}` : '']),
      item('Error code', log.errorCode),
      item('Time (UTC)', timeEl(log.createdAt)),
      item('Version', log.version ? `${log.version} (${log.environment ?? DASH})` : null),
      item('Model', `${log.model ?? DASH} via ${log.provider ?? DASH}${log.stream ? ', streamed' : ''}`),
      item('Latency', `${fmtMs(log.latencyMs)} total, ${fmtMs(log.providerLatencyMs)} provider`),
      item('Tokens', `${fmtInt(log.inputTokens)} in, ${fmtInt(log.outputTokens)} out, ${fmtInt(log.cachedInputTokens)} cached`),
      item('Cost', log.costKnown === false ? `${fmtCost(log.cost)} (model not priced)` : fmtCost(log.cost)),
      item('Request id', log.requestId ? h('code', null, log.requestId) : null),
      item('Actor', log.actor),
      item('User agent', log.userAgent),
    ),
    h('h3', null, 'Request to the provider'),
    h('pre', { testid: 'log-request-body', tabindex: '0' }, log.requestBody === null ? '(none: the call failed before a provider request was built)' : pretty(log.requestBody)),
    h('h3', null, 'Response'),
    h('pre', { testid: 'log-response-body', tabindex: '0' }, log.responseBody === null ? '(none)' : pretty(log.responseBody)),
  );
  close.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (opener.isConnected) {
      opener.focus();
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  close.focus();
}
