// Analytics tab: GET /prompts/:id/analytics for a window, drawn as four
// charts (latency percentiles, success rate, cost per call, volume) with the
// window's promotions marked on each, the negative-feedback rate and the
// prompt's signals, and a per-version table. The window is kept in the
// address (replaced, not pushed) so a reload keeps it. The 1h window (minute
// buckets) refreshes itself while the tab is open, so a rollback's effect
// shows within minutes.

import { api } from './api.js';
import { DASH, busy, clear, field, fmtCost, fmtInt, fmtMs, fmtPct, h, newestOnly, pill, showError, table, timeEl } from './dom.js';
import { chart } from './chart.js';
import { promptHref } from './prompts.js';

const WINDOWS = ['1h', '6h', '24h', '7d', '30d'];
// The window that reloads itself, and how often.
const LIVE_WINDOW = '1h';
const REFRESH_MS = 15000;
// At most this many signal charts (the table lists every signal).
const SIGNAL_CHARTS = 4;

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
  const live = h('span', { class: 'muted small', testid: 'auto-refresh', hidden: true }, `Refreshes every ${REFRESH_MS / 1000} s`);
  const out = h('div');
  clear(
    root,
    h('h2', { class: 'visually-hidden' }, 'Analytics'),
    h('div', { class: 'toolbar' }, h('div', { role: 'group', 'aria-label': 'Window', class: 'segmented' }, buttons), live),
    customForm,
    errorSlot,
    out,
  );

  // The live window reloads every REFRESH_MS while this tab's element is
  // in the page (leaving the tab or the prompt detaches it: the timer
  // stops itself) and the browser tab is visible.
  let timer = null;
  function autoRefresh() {
    clearInterval(timer);
    timer = null;
    live.hidden = kind !== LIVE_WINDOW;
    if (kind !== LIVE_WINDOW) {
      return;
    }
    timer = setInterval(() => {
      if (!root.isConnected) {
        clearInterval(timer);
        timer = null;
        return;
      }
      if (!document.hidden) {
        load(false);
      }
    }, REFRESH_MS);
  }

  function choose(w) {
    kind = w;
    buttons.forEach((b) => b.setAttribute('aria-pressed', String(b.dataset.testid === `window-${w}`)));
    customForm.hidden = w !== 'custom';
    autoRefresh();
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
  autoRefresh();
}

function view(data) {
  const { window: win, buckets, totals, promotions } = data;
  const pick = (key) => buckets.map((b) => b[key]);
  const common = { window: win, buckets, promotions };
  const perCall = `per ${win.bucket}`;
  const feedbackNames = Object.keys(totals.feedback || {});
  const signals = data.signals || [];
  return [
    h(
      'p',
      { class: 'muted', testid: 'window-line' },
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
      feedbackNames.length
        ? chart({
            ...common,
            testid: 'chart-feedback',
            title: 'Negative feedback rate (by the time of the call)',
            format: fmtPct,
            yMax: 1,
            series: feedbackNames.slice(0, 3).map((name, i) => ({
              label: name,
              cls: ['s-err', 's2', 's3'][i],
              values: buckets.map((b) => b.feedback?.[name]?.negativeRate ?? null),
            })),
          })
        : null,
      signals.slice(0, SIGNAL_CHARTS).map((sig) =>
        chart({
          ...common,
          testid: `chart-signal-${sig.name}`,
          title: `Signal: ${sig.name} (sum ${perCall})`,
          format: fmtNum,
          bars: true,
          series: [{ label: sig.name, cls: 's2', values: sig.buckets.map((b) => (b.count ? b.sum : null)) }],
        }),
      ),
    ),
    h('h3', null, 'Per version'),
    data.versions.length
      ? table(
          { testid: 'version-table', class: 'list numeric' },
          ['Version', 'Calls', 'Success rate', 'p50', 'p95', 'p99', 'Cost per call', 'Errors', 'Negative feedback'],
          data.versions.map(versionRow),
        )
      : h('p', { class: 'empty', testid: 'version-table' }, 'No calls in this window.'),
    h('h3', null, 'Signals'),
    signals.length
      ? table(
          { testid: 'signal-table', class: 'list numeric' },
          ['Signal', 'Values', 'Sum', 'Mean'],
          signals.map((sig) =>
            h(
              'tr',
              { testid: 'signal-row', 'data-signal': sig.name },
              h('th', { scope: 'row' }, sig.name),
              h('td', null, fmtInt(sig.total.count)),
              h('td', null, fmtNum(sig.total.sum)),
              h('td', null, fmtNum(sig.total.mean)),
            ),
          ),
        )
      : h('p', { class: 'muted', testid: 'signal-table' }, 'No signals in this window.'),
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

const plain = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

function fmtNum(n) {
  return n === null || n === undefined ? DASH : plain.format(n);
}

// "thumbs 33.3% of 3" per feedback name.
function feedbackCell(feedback) {
  const entries = Object.entries(feedback || {});
  if (!entries.length) {
    return DASH;
  }
  return entries.map(([name, f]) => h('div', null, `${name} ${fmtPct(f.negativeRate)} of ${fmtInt(f.count)}`));
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
    h('td', { testid: 'stat-feedback' }, feedbackCell(v.feedback)),
  );
}
