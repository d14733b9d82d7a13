// Analytics tab: GET /prompts/:id/analytics for a window, drawn as four
// charts (latency percentiles, success rate, cost per call, volume) with the
// window's promotions marked on each, and a per-version table. The window
// is kept in the address (replaced, not pushed) so a reload keeps it.

import { api } from './api.js';
import { DASH, busy, clear, field, fmtCost, fmtInt, fmtMs, fmtPct, h, newestOnly, pill, showError, table, timeEl } from './dom.js';
import { chart } from './chart.js';
import { promptHref } from './prompts.js';

const WINDOWS = ['24h', '7d', '30d'];

// datetime-local values are read as UTC, like every time the console shows.
const toIso = (local) => `${local}:00.000Z`;
const toLocal = (ms) => new Date(ms).toISOString().slice(0, 16);

export function renderAnalytics(root, ctx, query) {
  const base = `/prompts/${encodeURIComponent(ctx.id)}/analytics`;
  let kind = ['custom', ...WINDOWS].includes(query.get('window')) ? query.get('window') : '24h';
  const now = Date.now();
  const from = h('input', { type: 'datetime-local', testid: 'custom-from', value: query.get('from') || toLocal(now - 2 * 86400000) });
  const to = h('input', { type: 'datetime-local', testid: 'custom-to', value: query.get('to') || toLocal(now) });
  const apply = h('button', { type: 'submit', class: 'primary', testid: 'apply-custom' }, 'Apply');
  const customForm = h(
    'form',
    { class: 'toolbar custom-window', hidden: kind !== 'custom' },
    field('From (UTC)', from),
    field('To (UTC)', to),
    apply,
  );
  const buttons = [...WINDOWS, 'custom'].map((w) =>
    h(
      'button',
      {
        type: 'button',
        testid: `window-${w}`,
        'aria-pressed': String(w === kind),
        onclick: () => choose(w),
      },
      w === 'custom' ? 'Custom…' : w,
    ),
  );
  const errorSlot = h('div', { class: 'slot' });
  const out = h('div');
  clear(
    root,
    h('h2', { class: 'visually-hidden' }, 'Analytics'),
    h('div', { class: 'toolbar' }, h('div', { role: 'group', 'aria-label': 'Window', class: 'segmented' }, buttons)),
    customForm,
    errorSlot,
    out,
  );

  function choose(w) {
    kind = w;
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.testid === `window-${w}`)));
    customForm.hidden = w !== 'custom';
    if (w === 'custom') {
      from.focus();
    } else {
      load();
    }
  }

  customForm.addEventListener('submit', (e) => {
    e.preventDefault();
    load();
  });

  const begin = newestOnly();

  // `remember`: put the window in the address; not for the first load, so
  // opening the tab leaves the address as the tab link made it.
  function load(remember = true) {
    const q = { window: kind };
    if (kind === 'custom') {
      if (!from.value || !to.value || from.value >= to.value) {
        clear(errorSlot, h('div', { class: 'alert', role: 'alert', testid: 'api-error' }, 'Pick a “from” time before the “to” time.'));
        return;
      }
      q.from = toIso(from.value);
      q.to = toIso(to.value);
    }
    if (remember) {
      const address = new URLSearchParams(kind === '24h' ? {} : { window: kind });
      if (kind === 'custom') {
        address.set('from', from.value);
        address.set('to', to.value);
      }
      history.replaceState(null, '', `${promptHref(ctx.id, 'analytics')}${address.size ? `?${address}` : ''}`);
    }
    const current = begin();
    busy(
      async () => {
        const data = await api(base, { query: q });
        if (!current()) {
          return;
        }
        clear(errorSlot);
        clear(out, ...view(data));
      },
      (err) => {
        if (current()) {
          clear(out);
          showError(errorSlot, err);
        }
      },
    );
  }

  load(false);
}

function view(data) {
  const { window: win, buckets, totals, promotions } = data;
  const pick = (key) => buckets.map((b) => b[key]);
  const common = { window: win, buckets, promotions };
  const perCall = win.bucket === 'day' ? 'per day' : 'per hour';
  return [
    h(
      'p',
      { class: 'muted' },
      'From ',
      timeEl(win.from),
      ' to ',
      timeEl(win.to),
      ` UTC, ${perCall}. Percentiles are within ${Math.round((data.latencyRelativeAccuracy ?? 0.01) * 100)} %.`,
    ),
    h(
      'dl',
      { class: 'cards' },
      card('Calls', fmtInt(totals.calls)),
      card('Success rate', fmtPct(totals.successRate)),
      card('p95 latency', fmtMs(totals.p95LatencyMs)),
      card('Cost per call', fmtCost(totals.costPerCall)),
    ),
    h(
      'div',
      { class: 'charts' },
      chart({
        ...common,
        testid: 'chart-latency',
        title: 'Latency (p50, p95, p99)',
        format: fmtMs,
        series: [
          { label: 'p50', cls: 's1', values: pick('p50LatencyMs') },
          { label: 'p95', cls: 's2', values: pick('p95LatencyMs') },
          { label: 'p99', cls: 's3', values: pick('p99LatencyMs') },
        ],
      }),
      chart({
        ...common,
        testid: 'chart-success',
        title: 'Success rate',
        format: fmtPct,
        yMax: 1,
        series: [{ label: 'success rate', cls: 's-ok', values: pick('successRate') }],
      }),
      chart({
        ...common,
        testid: 'chart-cost',
        title: 'Cost per call (USD)',
        format: fmtCost,
        series: [{ label: 'cost per call', cls: 's1', values: pick('costPerCall') }],
      }),
      chart({
        ...common,
        testid: 'chart-volume',
        title: `Calls ${perCall}`,
        format: fmtInt,
        bars: true,
        integer: true,
        series: [
          { label: 'calls', cls: 's1', values: pick('calls') },
          { label: 'errors', cls: 's-err', values: pick('errors') },
        ],
      }),
    ),
    h('h3', null, 'Per version'),
    data.versions.length
      ? table(
          { testid: 'version-table', class: 'list numeric' },
          ['Version', 'Calls', 'Success rate', 'p50', 'p95', 'p99', 'Cost per call', 'Errors'],
          data.versions.map(versionRow),
        )
      : h('p', { class: 'empty', testid: 'version-table' }, 'No calls in this window.'),
    h('h3', null, 'Promotions in this window'),
    promotions.length
      ? h(
          'ul',
          { class: 'plain' },
          promotions.map((p) =>
            h(
              'li',
              null,
              timeEl(p.at),
              ` ${p.fromVersion ?? DASH} → ${p.toVersion} `,
              p.revert ? pill('revert', 'revert') : null,
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'None.'),
  ];
}

function card(label, value) {
  return h('div', { class: 'card stat' }, h('dt', null, label), h('dd', null, value));
}

function versionRow(v) {
  const codes = (v.errorCodes || []).map((e) => `${e.errorCode} ×${e.count}`).join(', ');
  return h(
    'tr',
    { testid: 'version-stats-row', 'data-version-id': v.versionId ?? '' },
    h('th', { scope: 'row' }, v.version ?? h('span', { class: 'muted', title: 'Calls that failed before a version was resolved' }, 'no version')),
    h('td', { testid: 'stat-calls' }, fmtInt(v.calls)),
    h('td', { testid: 'stat-success-rate' }, fmtPct(v.successRate)),
    h('td', { testid: 'stat-p50' }, fmtMs(v.p50LatencyMs)),
    h('td', { testid: 'stat-p95' }, fmtMs(v.p95LatencyMs)),
    h('td', { testid: 'stat-p99' }, fmtMs(v.p99LatencyMs)),
    h('td', { testid: 'stat-cost' }, fmtCost(v.costPerCall)),
    h('td', { testid: 'stat-errors' }, fmtInt(v.errors), codes ? h('div', { class: 'muted small' }, codes) : null),
  );
}
