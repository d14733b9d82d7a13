// The regression watch's numbers, shared by the Versions tab (watch card,
// regression banner) and the audit log (a system revert's evidence).
// Metrics are rendered generically: the four call metrics get their units,
// any other name (a watched product signal, `signal.<name>`) is a plain
// number, so a metric the API adds later still shows.

import { DASH, fmtCost, fmtInt, fmtMs, fmtPct, fmtTime, h, pill, table } from './dom.js';

/// The audit actor (type `system`) of the watch's own actions.
export const WATCH_ACTOR = 'regression-watch';

const LABELS = {
  successRate: 'Success rate',
  p95LatencyMs: 'p95 latency',
  costPerCall: 'Cost per call',
  negativeFeedbackRate: 'Negative feedback rate',
};

export function metricLabel(metric) {
  if (LABELS[metric]) {
    return LABELS[metric];
  }
  return metric.startsWith('signal.') ? `Signal ${metric.slice('signal.'.length)}` : metric;
}

export function metricValue(metric, value) {
  if (value === null || value === undefined) {
    return DASH;
  }
  switch (metric) {
    case 'successRate':
    case 'negativeFeedbackRate':
      return fmtPct(value);
    case 'p95LatencyMs':
      return fmtMs(value);
    case 'costPerCall':
      return fmtCost(value);
    default:
      return Number.isInteger(value) ? fmtInt(value) : String(Number(value.toPrecision(4)));
  }
}

/// Signals are counted in values, everything else in calls (or scores).
function samples(m) {
  const unit = m.metric.startsWith('signal.') ? 'values' : m.metric === 'negativeFeedbackRate' ? 'scores' : 'calls';
  return `${fmtInt(m.baselineCalls)} / ${fmtInt(m.observedCalls)} ${unit}`;
}

/// A table of metric verdicts: `[{metric, baseline, observed,
/// baselineCalls, observedCalls, enoughData?, regressed}]`.
export function metricsTable(metrics, testid = 'watch-metrics') {
  const rows = metrics.map((m) =>
    h(
      'tr',
      { testid: 'watch-metric', 'data-metric': m.metric, 'data-regressed': String(Boolean(m.regressed)) },
      h('th', { scope: 'row' }, metricLabel(m.metric)),
      h('td', { testid: 'metric-baseline' }, metricValue(m.metric, m.baseline)),
      h('td', { testid: 'metric-observed' }, metricValue(m.metric, m.observed)),
      h('td', { testid: 'metric-samples', class: 'nowrap' }, samples(m)),
      h(
        'td',
        null,
        m.regressed
          ? pill('regressed', 'error', 'metric-regressed')
          : m.enoughData === false
            ? h('span', { class: 'muted' }, 'not enough data')
            : 'within limits',
      ),
    ),
  );
  const wrap = table({ class: 'list compact' }, ['Metric', 'Baseline', 'Observed', 'Samples (baseline / observed)', 'Verdict'], rows);
  wrap.setAttribute('data-testid', testid);
  return wrap;
}

/// What an evidence (or verdict) compared, in words: `name(id)` turns a
/// version id into what the reader knows it by.
export function comparedLine(evidence, name = (id) => id) {
  const candidate = name(evidence.candidateVersionId);
  const baseline = name(evidence.baselineVersionId);
  const what =
    evidence.subject === 'canary'
      ? `the canary ${candidate} against production ${baseline}, since the canary started ${fmtTime(evidence.since)} UTC`
      : `${candidate} after its promote (${fmtTime(evidence.since)} UTC) against ${baseline} before it`;
  const window = evidence.windowMinutes ? `; window ${evidence.windowMinutes} min` : '';
  const alpha = evidence.alpha ? `, α ${evidence.alpha}` : '';
  return `Compared ${what}${window}${alpha}.`;
}
