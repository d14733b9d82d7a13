// Sign-in: paste an API token. It is checked with GET /tokens/current
// (which any valid token may call) before it is kept for the session.

import { api, setToken } from './api.js';
import { busy, clear, describe, field, h, idle } from './dom.js';

export function renderSignin(view, onSignedIn) {
  const input = h('input', {
    type: 'password',
    testid: 'token-input',
    autocomplete: 'off',
    spellcheck: 'false',
    required: true,
    placeholder: 'phk_…',
    'aria-describedby': 'token-hint',
  });
  const error = h('div', { class: 'slot' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'sign-in' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card signin', novalidate: true },
    h('h1', { tabindex: '-1' }, 'Sign in to PromptHelm'),
    field('API token', input),
    h(
      'p',
      { class: 'hint', id: 'token-hint' },
      'Paste a token (phk_…). It is kept in this tab only, until you sign out or close the tab. ',
      'The first admin token is printed once by prompthelm up.',
    ),
    error,
    submit,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const token = input.value.trim();
    clear(error);
    if (!token) {
      clear(error, h('div', { class: 'alert', role: 'alert', testid: 'sign-in-error' }, 'Paste a token first.'));
      input.focus();
      return;
    }
    submit.disabled = true;
    busy(
      async () => {
        await api('/tokens/current', { token });
        setToken(token);
        onSignedIn();
      },
      (err) => {
        clear(error, h('div', { class: 'alert', role: 'alert', testid: 'sign-in-error' }, describe(err)));
        input.focus();
      },
    ).finally(() => {
      submit.disabled = false;
    });
  });
  clear(view, form);
  idle();
  input.focus();
}
