// The prompts list: GET /prompts with the API's substring search (`q`) and
// archived prompts only when asked (`includeArchived=true`). The filters are
// kept in the address, so reload and back keep them.

import { api } from './api.js';
import { DASH, busy, clear, field, h, newestOnly, paged, pill, showError, table, timeEl } from './dom.js';

export function promptHref(id, tab) {
  return `#/prompts/${encodeURIComponent(id)}${tab ? `/${tab}` : ''}`;
}

function row(p) {
  return h(
    'tr',
    { testid: 'prompt-row', 'data-prompt-id': p.id },
    h(
      'td',
      null,
      h('a', { href: promptHref(p.id) }, p.name),
      p.description ? h('div', { class: 'muted small' }, p.description) : null,
    ),
    h('td', null, h('code', null, p.slug)),
    h('td', null, p.productionVersionId ? pill('in production', 'production') : h('span', { class: 'muted' }, 'not promoted')),
    h('td', null, timeEl(p.createdAt)),
    h('td', null, p.archived ? pill('archived', 'archived') : DASH),
  );
}

export function renderPrompts(view, query) {
  const search = h('input', { type: 'search', testid: 'prompt-search', value: query.get('q') || '', placeholder: 'Name or slug' });
  const showArchived = h('input', { type: 'checkbox', testid: 'show-archived', checked: query.get('archived') === '1' });
  const errorSlot = h('div', { class: 'slot' });
  const results = h('div');
  const begin = newestOnly();

  function load() {
    const current = begin();
    const params = new URLSearchParams();
    if (search.value.trim()) {
      params.set('q', search.value.trim());
    }
    if (showArchived.checked) {
      params.set('archived', '1');
    }
    const qs = params.toString();
    // Not a new history entry per keystroke: the address just follows.
    history.replaceState(null, '', `#/prompts${qs ? `?${qs}` : ''}`);
    const filter = { q: search.value.trim(), includeArchived: showArchived.checked ? 'true' : undefined };
    busy(
      async () => {
        const page = await api('/prompts', { query: filter });
        if (!current()) {
          return;
        }
        clear(errorSlot);
        const t = table({ class: 'list' }, ['Name', 'Slug', 'Production', 'Created (UTC)', 'Status'], []);
        const more = h('div', { class: 'more' });
        paged(t.querySelector('tbody'), more, page, {
          row,
          testid: 'prompts-more',
          next: (cursor) => api('/prompts', { query: { ...filter, cursor } }),
          onError: (err) => showError(errorSlot, err),
        });
        if (page.data.length === 0) {
          clear(
            results,
            h(
              'p',
              { class: 'empty' },
              filter.q ? `No prompt matches “${filter.q}”.` : 'No prompts yet. Create one with POST /api/v1/prompts.',
            ),
          );
        } else {
          clear(results, t, more);
        }
      },
      (err) => {
        if (current()) {
          clear(results);
          showError(errorSlot, err);
        }
      },
    );
  }

  search.addEventListener('input', load);
  showArchived.addEventListener('change', load);
  clear(
    view,
    h('h1', { tabindex: '-1' }, 'Prompts'),
    h(
      'div',
      { class: 'toolbar', role: 'search' },
      field('Search prompts', search),
      h('div', { class: 'check' }, showArchived, h('label', { for: (showArchived.id = 'show-archived') }, 'Show archived')),
    ),
    errorSlot,
    results,
  );
  load();
}
