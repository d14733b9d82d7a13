// Compare tab: two versions side by side from GET /prompts/:id/compare,
// with the server's line diff of the system and user texts, and the changed
// parameters and variables. Defaults to production against the newest
// other version (or the one a Versions row asked for with ?to=).

import { api, apiAll } from './api.js';
import { busy, brief, clear, field, h, newestOnly, showError } from './dom.js';
import { promptHref } from './prompts.js';

function defaults(versions, query) {
  const byId = (id) => versions.find((v) => v.id === id);
  const production = versions.find((v) => v.isProduction);
  const newestOther = [...versions].reverse().find((v) => !v.isProduction);
  const to = byId(query.get('to')) || newestOther || production || versions.at(-1);
  let from = byId(query.get('from')) || (production && production !== to ? production : null);
  if (!from) {
    // No production to compare with: the version saved just before.
    const at = versions.indexOf(to);
    from = versions[Math.max(0, at - 1)];
  }
  return { from, to };
}

function label(v) {
  return `${v.version}${v.isProduction ? ' (production)' : ''}${v.isDevelopment ? ' (development)' : ''}`;
}

export function renderCompare(root, ctx, query) {
  const base = `/prompts/${encodeURIComponent(ctx.id)}`;
  const errorSlot = h('div', { class: 'slot' });
  const out = h('div');
  const controls = h('div');
  clear(root, h('h2', { class: 'visually-hidden' }, 'Compare'), controls, errorSlot, out);

  busy(
    async () => {
      const versions = await apiAll(`${base}/versions`);
      if (versions.length === 0) {
        clear(out, h('p', { class: 'empty' }, 'No versions to compare yet.'));
        return;
      }
      const picked = defaults(versions, query);
      const select = (testid, chosen) => {
        const el = h('select', { testid }, versions.map((v) => h('option', { value: v.id }, label(v))));
        el.value = chosen.id;
        el.addEventListener('change', load);
        return el;
      };
      const from = select('compare-from', picked.from);
      const to = select('compare-to', picked.to);
      const swap = h('button', { type: 'button', title: 'Swap the two versions' }, 'Swap');
      swap.addEventListener('click', () => {
        [from.value, to.value] = [to.value, from.value];
        load();
      });
      clear(controls, h('div', { class: 'toolbar' }, field('From (old)', from), swap, field('To (new)', to)));

      const begin = newestOnly();

      // `remember`: put the pair in the address; not for the first load, so
      // opening the tab leaves the address as the tab link made it.
      function load(remember = true) {
        if (remember) {
          const address = new URLSearchParams({ from: from.value, to: to.value });
          history.replaceState(null, '', `${promptHref(ctx.id, 'compare')}?${address}`);
        }
        const current = begin();
        busy(
          async () => {
            const diff = await api(`${base}/compare`, { query: { from: from.value, to: to.value } });
            if (!current()) {
              return;
            }
            clear(errorSlot);
            clear(out, ...render(diff));
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
    },
    (err) => showError(errorSlot, err),
  );
}

function render(diff) {
  const old = diff.from.version;
  const neu = diff.to.version;
  return [
    diff.changed ? null : h('p', { class: 'note' }, `${old} and ${neu} are the same prompt.`),
    h(
      'div',
      { class: 'compare' },
      h(
        'div',
        { testid: 'compare-diff', class: 'diffs' },
        textDiff('System', diff.system, old, neu),
        textDiff('User', diff.user, old, neu),
      ),
      h(
        'aside',
        { testid: 'compare-params', class: 'card params', 'aria-label': 'Changed parameters' },
        h('h3', null, 'Parameters'),
        diff.parameters.length
          ? h(
              'ul',
              { class: 'plain' },
              diff.parameters.map((p) =>
                h(
                  'li',
                  { testid: 'param-change', 'data-param': p.name },
                  h('strong', null, p.name),
                  ' ',
                  h('del', null, brief(p.from)),
                  ' → ',
                  h('ins', null, brief(p.to)),
                ),
              ),
            )
          : h('p', { class: 'muted' }, 'No parameter changed.'),
        h('h3', null, 'Variables'),
        diff.variables.length
          ? h(
              'ul',
              { class: 'plain' },
              diff.variables.map((v) =>
                h(
                  'li',
                  { testid: 'variable-change', 'data-variable': v.name },
                  h('strong', null, v.name),
                  ` ${v.change}`,
                  v.change === 'changed' ? [': ', h('del', null, brief(v.from)), ' → ', h('ins', null, brief(v.to))] : '',
                ),
              ),
            )
          : h('p', { class: 'muted' }, 'No variable changed.'),
      ),
    ),
  ];
}

// Pairs each run of deleted lines with the run of inserted lines that
// follows it, so a changed line sits across from its replacement.
function rows(lines) {
  const out = [];
  let del = [];
  let ins = [];
  const flush = () => {
    for (let i = 0; i < Math.max(del.length, ins.length); i += 1) {
      out.push({ left: del[i], right: ins[i] });
    }
    del = [];
    ins = [];
  };
  for (const line of lines) {
    if (line.op === 'equal') {
      flush();
      out.push({ left: line, right: line, same: true });
    } else if (line.op === 'delete') {
      del.push(line);
    } else {
      ins.push(line);
    }
  }
  flush();
  return out;
}

function cell(line, side, testid, Tag) {
  if (!line) {
    return h('td', { class: 'diff-empty' });
  }
  const number = side === 'old' ? line.oldLine : line.newLine;
  return h('td', { testid, class: testid, 'data-line': number ?? '' }, Tag ? h(Tag, null, line.text) : line.text);
}

function textDiff(title, d, old, neu) {
  const body = rows(d.lines).map((r) =>
    h(
      'tr',
      null,
      r.same ? cell(r.left, 'old', 'diff-same') : cell(r.left, 'old', 'diff-removed', 'del'),
      r.same ? cell(r.right, 'new', null) : cell(r.right, 'new', 'diff-added', 'ins'),
    ),
  );
  return h(
    'section',
    { class: 'diff' },
    h('h3', null, title, d.changed ? '' : h('span', { class: 'muted small' }, ' (unchanged)')),
    d.lines.length
      ? h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'diff-table' },
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, old), h('th', { scope: 'col' }, neu))),
            h('tbody', null, body),
          ),
        )
      : h('p', { class: 'muted' }, '(empty in both)'),
  );
}
