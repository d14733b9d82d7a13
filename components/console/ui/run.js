// Run tab: execute the prompt through the gateway (POST /gateway/execute),
// or stream it (POST /gateway/stream, read as server-sent events from the
// fetch body), with values for the version's variables.

import { ApiError, apiStream, api } from './api.js';
import { DASH, busy, clear, errorBanner, field, fmtCost, fmtInt, fmtMs, h, showError } from './dom.js';

export function renderRun(root, ctx) {
  const errorSlot = h('div', { class: 'slot' });
  clear(root, h('h2', { class: 'visually-hidden' }, 'Run'), errorSlot);
  busy(
    async () => {
      const prompt = await ctx.prompt();
      const envs = [
        ['production', prompt.productionVersion],
        ['development', prompt.developmentVersion],
      ].filter(([, v]) => v);
      if (envs.length === 0) {
        root.append(h('p', { class: 'empty' }, 'This prompt has no version to run yet.'));
        return;
      }
      build(root, ctx, envs);
    },
    (err) => showError(errorSlot, err),
  );
}

function build(root, ctx, envs) {
  const environment = h(
    'select',
    { testid: 'run-environment' },
    envs.map(([env, v]) => h('option', { value: env }, `${env} (${v.version})`)),
  );
  const model = h('input', { type: 'text', testid: 'run-model', spellcheck: 'false' });
  const modelHint = h('span');
  const vars = h('div', { class: 'vars' });
  const execute = h('button', { type: 'submit', class: 'primary', testid: 'run-execute' }, 'Execute');
  const stream = h('button', { type: 'button', testid: 'run-stream' }, 'Stream');
  const stop = h('button', { type: 'button', testid: 'run-stop', hidden: true }, 'Stop');
  const output = h('pre', { testid: 'run-output', class: 'output', tabindex: '0' });
  const latency = h('dd', { testid: 'run-latency' }, DASH);
  const tokens = h('dd', { testid: 'run-tokens' }, DASH);
  const cost = h('dd', { testid: 'run-cost' }, DASH);
  const answered = h('dd', null, DASH);
  const status = h('p', { role: 'status', class: 'status' });
  const errorSlot = h('div', { class: 'slot' });
  let inputs = [];
  let controller = null;

  function version() {
    return envs.find(([env]) => env === environment.value)[1];
  }

  function showVariables() {
    const v = version();
    modelHint.textContent = `Empty: the version's model, ${v.model}. echo: a dry run that answers with the rendered prompt.`;
    inputs = v.variables.map((variable) => {
      const input = h('input', {
        type: 'text',
        testid: `run-var-${variable.name}`,
        name: variable.name,
        placeholder: variable.default === null || variable.default === undefined ? '' : `default: ${variable.default}`,
        required: variable.required && (variable.default === null || variable.default === undefined),
      });
      return { variable, input };
    });
    clear(
      vars,
      inputs.length
        ? inputs.map(({ variable, input }) => field(`${variable.name} (${variable.type}${variable.required ? ', required' : ''})`, input))
        : h('p', { class: 'muted' }, `${v.version} declares no variables.`),
    );
  }
  environment.addEventListener('change', showVariables);
  showVariables();

  function body() {
    const variables = {};
    for (const { variable, input } of inputs) {
      if (input.value !== '') {
        variables[variable.name] = input.value;
      }
    }
    const b = { promptId: ctx.id, environment: environment.value, variables };
    if (model.value.trim()) {
      b.model = model.value.trim();
    }
    return b;
  }

  function reset() {
    clear(errorSlot);
    output.textContent = '';
    for (const dd of [latency, tokens, cost, answered]) {
      dd.textContent = DASH;
    }
    status.textContent = '';
  }

  function running(on) {
    execute.disabled = on;
    stream.disabled = on;
    stop.hidden = !on;
  }

  function fail(err) {
    clear(errorSlot, errorBanner(err, 'run-error'));
    status.textContent = 'The call failed.';
  }

  function finish(r) {
    latency.textContent = fmtMs(r.latencyMs);
    tokens.textContent = `${fmtInt(r.inputTokens)} in / ${fmtInt(r.outputTokens)} out / ${fmtInt(r.totalTokens)} total`;
    cost.textContent = fmtCost(r.cost);
    answered.textContent = `${r.version ?? version().version} · ${r.model} · log ${r.id}`;
    status.textContent = `Done in ${fmtMs(r.latencyMs)}.`;
  }

  const form = h(
    'form',
    { class: 'run-form' },
    h('div', { class: 'toolbar' }, field('Environment', environment), field('Model override', model, modelHint)),
    h('fieldset', null, h('legend', null, 'Variables'), vars),
    h('div', { class: 'actions' }, execute, stream, stop),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    reset();
    running(true);
    busy(async () => {
      const r = await api('/gateway/execute', { method: 'POST', body: body() });
      output.textContent = r.output;
      finish(r);
    }, fail).finally(() => running(false));
  });

  stream.addEventListener('click', () => {
    reset();
    running(true);
    controller = new AbortController();
    status.textContent = 'Streaming…';
    busy(async () => {
      let finished = false;
      await apiStream(
        '/gateway/stream',
        body(),
        (event) => {
          if (event.type === 'chunk') {
            output.append(event.content);
          } else if (event.type === 'done') {
            finished = true;
            finish(event);
          } else if (event.type === 'error') {
            finished = true;
            fail(new ApiError(502, event));
          }
        },
        { signal: controller.signal },
      );
      if (!finished) {
        fail(new ApiError(0, null, 'The stream ended without its final frame.'));
      }
    }, fail).finally(() => {
      if (controller.signal.aborted) {
        status.textContent = 'Stopped.';
      }
      running(false);
    });
  });
  stop.addEventListener('click', () => controller?.abort());

  root.append(
    form,
    h('p', { class: 'muted small' }, 'Calls go through the gateway like any client call: they are logged and counted in analytics.'),
    errorSlot,
    h('h3', null, 'Output'),
    output,
    status,
    h(
      'dl',
      { class: 'facts' },
      h('dt', null, 'Latency'),
      latency,
      h('dt', null, 'Tokens'),
      tokens,
      h('dt', null, 'Cost'),
      cost,
      h('dt', null, 'Answered by'),
      answered,
    ),
  );
}
