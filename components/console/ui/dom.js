// Small DOM helpers. Every piece of API-provided text goes into the page as
// a text node (never through HTML parsing), so no answer can inject markup.

import { ApiError } from './api.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) {
      continue;
    }
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'testid') {
      el.setAttribute('data-testid', value);
    } else if (key === 'value' || key === 'checked') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) {
      continue;
    }
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// h('button', {class: 'x', onclick: f, testid: 'y'}, 'text', otherNode)
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A label and its control, and a hint (text, or an element to fill later)
// that the control names as its description.
let nextId = 0;
export function field(labelText, control, hint) {
  if (!control.id) {
    nextId += 1;
    control.id = `f${nextId}`;
  }
  let hintEl = null;
  if (hint) {
    hintEl = hint instanceof Node ? hint : h('span', null, hint);
    hintEl.classList.add('hint');
    hintEl.id = `${control.id}-hint`;
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, hintEl);
}

// --- busy state ---------------------------------------------------------
// The view container says aria-busy="true" while any fetch of the current
// screen runs, so assistive tech (and tests) know when the page settled.

let pending = 0;

function track(promise) {
  const view = document.querySelector('[data-testid="view"]');
  pending += 1;
  view?.setAttribute('aria-busy', 'true');
  const done = () => {
    pending -= 1;
    if (pending === 0) {
      view?.setAttribute('aria-busy', 'false');
    }
  };
  return Promise.resolve(promise).finally(done);
}

// For screens that render without fetching: settled unless a fetch runs.
export function idle() {
  if (pending === 0) {
    document.querySelector('[data-testid="view"]')?.setAttribute('aria-busy', 'false');
  }
}

// For loads that can overlap (filters changed quickly): `begin()` before a
// load returns a check that is false once a newer load began, so a late
// answer is dropped instead of overwriting a newer one. (Aborting the older
// fetch instead would log a failed request in the browser.)
export function newestOnly() {
  let latest = 0;
  return () => {
    latest += 1;
    const mine = latest;
    return () => mine === latest;
  };
}

// Runs an async function as one busy period; errors are shown by `onError`.
export function busy(fn, onError) {
  return track(
    (async () => {
      try {
        await fn();
      } catch (e) {
        if (e?.name === 'AbortError') {
          return;
        }
        onError(e);
      }
    })(),
  );
}

// --- errors -------------------------------------------------------------

let onUnauthorized = () => {};

export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// Back to the sign-in screen (the token was rejected, or revoked here).
export function signInAgain() {
  onUnauthorized();
}

export function describe(err) {
  if (err instanceof ApiError) {
    return err.explanation;
  }
  console.error(err);
  return `Something went wrong in the console: ${err?.message || err}`;
}

// The alert that an API call failed, with the field problems or missing
// variables the API listed. A 401 also offers to sign in again.
export function errorBanner(err, testid = 'api-error') {
  const banner = h('div', { class: 'alert', role: 'alert', testid }, h('p', null, describe(err)));
  const details = err instanceof ApiError ? err.details : null;
  if (details?.missing?.length) {
    banner.append(h('p', null, `Missing variables: ${details.missing.join(', ')}`));
  }
  // One problem is already the message; several are listed.
  if (details?.errors?.length > 1) {
    banner.append(h('ul', null, details.errors.map((e) => h('li', null, `${e.field}: ${e.message}`))));
  }
  if (err instanceof ApiError && err.requestId) {
    banner.append(h('p', { class: 'muted small' }, `Request id: ${err.requestId}`));
  }
  if (err instanceof ApiError && err.status === 401) {
    banner.append(h('button', { type: 'button', onclick: signInAgain }, 'Sign in again'));
  }
  return banner;
}

// Puts the banner for `err` into `slot` (an element kept for it).
export function showError(slot, err, testid) {
  clear(slot, errorBanner(err, testid));
}

// --- dialogs --------------------------------------------------------------

// A modal confirmation. Resolves true on confirm, false on cancel or
// Escape; focus starts on Cancel (the safe choice) and returns to where it
// was. Confirming resolves at once, in the click, so the action's busy
// state begins before the click returns.
export function confirmDialog({ testid, title, body, confirmLabel, confirmTestid, cancelTestid, danger }) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const cancel = h('button', { type: 'button', testid: cancelTestid, onclick: () => dialog.close() }, 'Cancel');
    const confirm = h(
      'button',
      {
        type: 'button',
        class: danger ? 'danger' : 'primary',
        testid: confirmTestid,
        onclick: () => {
          resolve(true);
          dialog.close();
        },
      },
      confirmLabel,
    );
    const titleId = `dlg${(nextId += 1)}`;
    const dialog = h(
      'dialog',
      { testid, 'aria-labelledby': titleId },
      h('h2', { id: titleId }, title),
      body,
      h('div', { class: 'actions' }, cancel, confirm),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      opener?.focus?.();
      resolve(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// --- formatting ------------------------------------------------------------

const integer = new Intl.NumberFormat('en-US');

export const DASH = '—';

export function fmtInt(n) {
  return n === null || n === undefined ? DASH : integer.format(n);
}

export function fmtMs(n) {
  return n === null || n === undefined ? DASH : `${integer.format(Math.round(n))} ms`;
}

export function fmtPct(rate) {
  return rate === null || rate === undefined ? DASH : `${(rate * 100).toFixed(1)}%`;
}

// USD with three significant digits for small costs (and at least cents).
export function fmtCost(usd) {
  if (usd === null || usd === undefined) {
    return DASH;
  }
  if (usd === 0) {
    return '$0';
  }
  const decimals = Math.min(10, Math.max(2, 2 - Math.floor(Math.log10(Math.abs(usd)))));
  return `$${usd.toFixed(decimals).replace(/(\.\d\d\d*?)0+$/, '$1')}`;
}

// Times are shown in UTC, as the API's analytics buckets are UTC hours/days.
export function fmtTime(iso) {
  if (!iso) {
    return DASH;
  }
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

export function timeEl(iso) {
  return iso ? h('time', { datetime: iso, title: iso }, fmtTime(iso)) : DASH;
}

export function pretty(value) {
  if (value === null || value === undefined) {
    return '(none)';
  }
  return typeof value === 'string' ? value : JSON.stringify(value, null, 2);
}

// A JSON-ish value in one line, for parameter changes.
export function brief(value) {
  if (value === null || value === undefined) {
    return '(unset)';
  }
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function pill(text, kind, testid) {
  return h('span', { class: `pill pill-${kind}`, testid }, text);
}

// A table inside a horizontally scrolling wrapper (narrow screens).
export function table(attrs, headers, rows) {
  return h(
    'div',
    { class: 'table-wrap' },
    h('table', attrs, h('thead', null, h('tr', null, headers.map((t) => h('th', { scope: 'col' }, t)))), h('tbody', null, rows)),
  );
}

// Fills a list's table from its first page and, while the API has more,
// offers "Load more" (`testid`), which appends the page after `nextCursor`.
export function paged(tbody, more, page, { row, next, testid, onError }) {
  const add = (p) => {
    tbody.append(...p.data.map(row));
    clear(more);
    if (!p.nextCursor) {
      return;
    }
    const button = h('button', { type: 'button', testid }, 'Load more');
    button.addEventListener('click', () => {
      button.disabled = true;
      busy(
        async () => add(await next(p.nextCursor)),
        (err) => {
          button.disabled = false;
          onError(err);
        },
      );
    });
    more.append(button);
  };
  add(page);
}
