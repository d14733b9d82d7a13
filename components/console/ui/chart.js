// Time-series charts in plain SVG: lines with gaps where a bucket had no
// calls (its figures are null), or bars, plus promotion markers.

import { h, s } from './dom.js';

const H = 230;
const M = { left: 68, right: 14, top: 40, bottom: 30 };
const PLOT_H = H - M.top - M.bottom;
// Marker labels are stacked in rows when markers are close together.
const LABEL_ROWS = 3;
const LABEL_ROW_H = 11;
const LABEL_W = 44;

// Gridlines at a round step (1, 2 or 5 × 10^n; whole numbers for counts),
// at most five of them above zero.
function yScale(max, integer) {
  if (!(max > 0)) {
    return { top: integer ? 4 : 1, step: integer ? 1 : 0.25 };
  }
  const raw = max / 4;
  const exp = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map((m) => m * exp).find((m) => raw <= m * (1 + 1e-9));
  if (integer) {
    step = Math.max(1, Math.round(step));
  }
  return { top: Math.ceil(max / step - 1e-9) * step, step };
}

function tickLabel(ms, bucket) {
  const iso = new Date(ms).toISOString();
  return bucket === 'day' ? iso.slice(5, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}

/**
 * chart({testid, title, window: {from, to, bucket}, buckets: [{start, end}],
 *        series: [{label, cls, values: [number|null]}], bars, yMax, format,
 *        promotions: [{at, toVersion, fromVersion, revert}]})
 */
export function chart(opts) {
  const { testid, title, window: win, buckets, series, bars, format, promotions } = opts;
  // Drawn for the screen's width, so that its text stays legible on a phone.
  const narrow = matchMedia('(max-width: 760px)').matches;
  const W = narrow ? 380 : 640;
  const PLOT_W = W - M.left - M.right;
  const from = Date.parse(win.from);
  const to = Date.parse(win.to);
  const span = Math.max(1, to - from);
  const x = (ms) => M.left + ((ms - from) / span) * PLOT_W;
  const all = series.flatMap((se) => se.values).filter((v) => v !== null && v !== undefined);
  const { top: max, step } = opts.yMax ? { top: opts.yMax, step: opts.yMax / 4 } : yScale(Math.max(0, ...all), opts.integer);
  const y = (v) => M.top + PLOT_H - (v / max) * PLOT_H;
  const mid = (b) => (Date.parse(b.start) + Date.parse(b.end)) / 2;

  const titleId = `${testid}-title`;
  // Many buckets: the dots stay for their tooltips but only lone points
  // (no neighbour to draw a line to) are painted.
  const svg = s('svg', {
    testid,
    class: `chart-svg${buckets.length > 48 ? ' dense' : ''}`,
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    'aria-labelledby': titleId,
  });
  svg.append(s('title', { id: titleId }, title));

  // Gridlines and y labels.
  const grid = s('g', { class: 'grid' });
  for (let i = 0; i * step <= max * (1 + 1e-9); i += 1) {
    const v = i * step;
    grid.append(
      s('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis-label' }, format(v)),
    );
  }
  // A few time labels, on bucket boundaries.
  const every = Math.max(1, Math.ceil(buckets.length / (narrow ? 3 : 5)));
  for (let i = 0; i < buckets.length; i += every) {
    const t = Date.parse(buckets[i].start);
    grid.append(
      s('line', { class: 'tick', x1: x(t), x2: x(t), y1: M.top + PLOT_H, y2: M.top + PLOT_H + 4 }),
      s('text', { x: x(t), y: H - 8, 'text-anchor': 'middle', class: 'axis-label' }, tickLabel(t, win.bucket)),
    );
  }
  grid.append(s('line', { class: 'axis', x1: M.left, x2: W - M.right, y1: M.top + PLOT_H, y2: M.top + PLOT_H }));
  svg.append(grid);

  if (all.length === 0) {
    svg.append(s('text', { x: M.left + PLOT_W / 2, y: M.top + PLOT_H / 2, 'text-anchor': 'middle', class: 'empty-label' }, 'No calls in this window'));
  }

  series.forEach((se, k) => {
    const g = s('g', { class: `series ${se.cls}` });
    if (bars) {
      // Series are drawn over each other from the baseline, narrower each
      // time, so a subset (errors) shows inside its total (calls).
      const slot = PLOT_W / Math.max(1, buckets.length);
      const width = Math.max(1, slot * (0.8 - 0.3 * k));
      se.values.forEach((v, i) => {
        if (v === null || v === undefined || v <= 0) {
          return;
        }
        g.append(
          s(
            'rect',
            { x: x(mid(buckets[i])) - width / 2, y: y(v), width, height: M.top + PLOT_H - y(v) },
            s('title', null, `${se.label} ${tickLabel(Date.parse(buckets[i].start), win.bucket)}: ${format(v)}`),
          ),
        );
      });
    } else {
      // A null bucket ends the current segment: gaps, not lines through zero.
      let d = '';
      let pen = false;
      se.values.forEach((v, i) => {
        if (v === null || v === undefined) {
          pen = false;
          return;
        }
        const lone = !pen && (se.values[i + 1] === null || se.values[i + 1] === undefined);
        d += `${pen ? 'L' : 'M'}${x(mid(buckets[i])).toFixed(1)} ${y(v).toFixed(1)}`;
        pen = true;
        g.append(
          s(
            'circle',
            { cx: x(mid(buckets[i])).toFixed(1), cy: y(v).toFixed(1), r: 2.5, class: lone ? 'lone' : null },
            s('title', null, `${se.label} ${tickLabel(Date.parse(buckets[i].start), win.bucket)}: ${format(v)}`),
          ),
        );
      });
      if (d) {
        g.prepend(s('path', { d }));
      }
    }
    svg.append(g);
  });

  const rowEnds = Array(LABEL_ROWS).fill(-Infinity);
  for (const p of promotions) {
    const at = Date.parse(p.at);
    const px = x(Math.min(to, Math.max(from, at)));
    // The first row where this label does not overlap the previous one.
    let row = rowEnds.findIndex((end) => px >= end);
    if (row < 0) {
      row = rowEnds.indexOf(Math.min(...rowEnds));
    }
    rowEnds[row] = px + LABEL_W;
    const label = p.revert ? `↩ ${p.toVersion}` : `▲ ${p.toVersion}`;
    const tip = `${p.revert ? 'Revert' : 'Promotion'} to ${p.toVersion}${p.fromVersion ? ` (replaced ${p.fromVersion})` : ''} at ${p.at}`;
    svg.append(
      s(
        'g',
        {
          class: `marker${p.revert ? ' revert' : ''}`,
          testid: 'promotion-marker',
          'data-revert': String(Boolean(p.revert)),
          'data-to-version': p.toVersion ?? '',
        },
        s('title', null, tip),
        s('line', { class: 'hit', x1: px, x2: px, y1: M.top, y2: M.top + PLOT_H }),
        s('line', { class: 'rule', x1: px, x2: px, y1: M.top, y2: M.top + PLOT_H }),
        s('line', { class: 'rule', x1: px, x2: px, y1: M.top - 4 - row * LABEL_ROW_H, y2: M.top }),
        s('text', { x: px + 3, y: M.top - 5 - row * LABEL_ROW_H, class: 'marker-label' }, label),
      ),
    );
  }

  const legend = h(
    'ul',
    { class: 'legend' },
    series.map((se) => h('li', null, h('span', { class: `swatch ${se.cls}`, 'aria-hidden': 'true' }), se.label)),
    promotions.length
      ? [
          h('li', null, h('span', { class: 'swatch marker-swatch', 'aria-hidden': 'true' }), 'promotion'),
          h('li', null, h('span', { class: 'swatch marker-swatch revert', 'aria-hidden': 'true' }), 'revert'),
        ]
      : null,
  );
  return h('figure', { class: 'chart' }, h('figcaption', null, h('h3', null, title), legend), svg);
}
