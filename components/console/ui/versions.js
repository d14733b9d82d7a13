// Versions tab: every version in the order it was saved, the production
// one marked, and Promote on each row. Promoting a version that was in
// production before is a revert, and the dialog says so before it happens.
// A running sticky canary is shown above the list with its two arms side by
// side (production and candidate since it started, from analytics) and its
// end control (promote the candidate or revert), and any other version can
// start one from its row (Canary…, with a percent slider).
// The regression watch (GET/PUT /watch) has its card (mode and thresholds)
// and, above everything, a banner when it found a regression: the evidence,
// and either when it rolled back by itself or a Roll back button.

import { api, apiAll } from './api.js';
import { DASH, busy, clear, confirmDialog, field, fmtCost, fmtInt, fmtMs, fmtPct, fmtTime, h, pill, showError, table, timeEl } from './dom.js';
import { promptHref } from './prompts.js';
import { comparedLine, metricLabel, metricsTable } from './watch.js';

const MODES = {
  off: 'Off: nothing is evaluated.',
  notify: 'Notify: a regression shows a banner here with a Roll back button; nothing moves by itself.',
  rollback: 'Rollback: a regression ends the canary or promotes the previous version back, by itself.',
};

// The thresholds the dialog edits, in the API's names. Signals have their
// own field.
const THRESHOLDS = [
  ['minCalls', 'Minimum calls per version'],
  ['alpha', 'Significance level (α)'],
  ['maxErrorRateIncrease', 'Tolerated error-rate increase (0–1)'],
  ['p95Ratio', 'p95 latency ratio'],
  ['p95MinIncreaseMs', 'p95 minimum increase (ms)'],
  ['costRatio', 'Cost-per-call ratio'],
  ['maxNegativeFeedbackIncrease', 'Tolerated negative-feedback increase (0–1)'],
  ['windowMinutes', 'Window (minutes)'],
  ['minSignalValues', 'Minimum signal values per version'],
];

// 0.05 → "5 points" (an absolute rate increase).
const points = (rate) => `${Number((rate * 100).toFixed(2))} points`;

export function renderVersions(root, ctx) {
  const base = `/prompts/${encodeURIComponent(ctx.id)}`;
  const errorSlot = h('div', { class: 'slot' });
  const status = h('p', { role: 'status', class: 'status', tabindex: '-1', testid: 'promote-status' });
  const list = h('div');
  const canarySlot = h('div');
  const bannerSlot = h('div');
  const watchSlot = h('div');
  clear(root, h('h2', { class: 'visually-hidden' }, 'Versions'), status, errorSlot, bannerSlot, canarySlot, watchSlot, list);

  function load() {
    return busy(
      async () => {
        const [versions, prompt, state, watch] = await Promise.all([
          apiAll(`${base}/versions`),
          ctx.prompt().catch(() => null),
          api(`${base}/canary`),
          api(`${base}/watch`),
        ]);
        clear(errorSlot);
        const canary = state.canary;
        const name = (vid) => versions.find((v) => v.id === vid)?.version ?? vid ?? DASH;
        const productionNow = versions.find((v) => v.isProduction) || null;
        // Production may have moved without this page (the regression
        // watch, another person): the header follows the list.
        if (prompt && (prompt.productionVersionId ?? null) !== (productionNow?.id ?? null)) {
          ctx.refresh().catch(() => {});
        }
        clear(bannerSlot, regressionBanner(watch, name, productionNow, canary));
        clear(canarySlot, canary ? canaryCard(canary, prompt?.archived, await canaryArms(canary)) : null);
        clear(watchSlot, watchCard(watch, name));
        if (versions.length === 0) {
          clear(list, h('p', { class: 'empty' }, 'No versions yet. Save one with POST /api/v1/prompts/:id/versions.'));
          return;
        }
        const production = versions.find((v) => v.isProduction) || null;
        const rows = versions.map((v) => row(v, production, prompt?.archived, canary));
        clear(
          list,
          prompt?.archived ? h('p', { class: 'note' }, 'This prompt is archived: it takes no promotions until it is unarchived.') : null,
          table({ class: 'list' }, ['Version', 'Message', 'Model', 'Author', 'Created (UTC)', 'Last promoted (UTC)', 'Actions'], rows),
        );
      },
      (err) => showError(errorSlot, err),
    );
  }

  // Each arm's figures since the canary started: analytics per version over
  // that window (minute buckets while they are kept, 48 h, else hours).
  // A token without analytics:read still sees the card, with the reason.
  async function canaryArms(canary) {
    const started = Date.parse(canary.startedAt);
    const now = Date.now();
    const params = new URLSearchParams({
      window: 'custom',
      from: canary.startedAt,
      to: new Date(Math.max(now, started + 1000)).toISOString(),
    });
    if (now - started < 47 * 3600 * 1000) {
      params.set('bucket', 'minute');
    }
    try {
      const analytics = await api(`${base}/analytics?${params}`);
      const of = (vid) => analytics.versions.find((v) => v.versionId === vid) ?? null;
      return { production: of(canary.productionVersionId), candidate: of(canary.versionId) };
    } catch (err) {
      return { error: err };
    }
  }

  function armsTable(canary, arms) {
    if (arms.error) {
      return h('p', { class: 'muted small', testid: 'canary-arms-error' }, `The arms' figures are unavailable: ${arms.error.message ?? arms.error}`);
    }
    const negative = (figures) => {
      const all = Object.values(figures?.feedback ?? {});
      const count = all.reduce((n, f) => n + f.count, 0);
      return count === 0 ? null : all.reduce((n, f) => n + f.negative, 0) / count;
    };
    const rows = [
      ['calls', 'Calls', (f) => fmtInt(f?.calls ?? 0)],
      ['successRate', 'Success rate', (f) => fmtPct(f?.successRate)],
      ['p95LatencyMs', 'p95 latency', (f) => fmtMs(f?.p95LatencyMs)],
      ['costPerCall', 'Cost per call', (f) => fmtCost(f?.costPerCall)],
      ['negativeFeedbackRate', 'Negative feedback', (f) => fmtPct(negative(f))],
    ].map(([key, label, cell]) =>
      h(
        'tr',
        { testid: 'canary-arm-row', 'data-metric': key },
        h('th', { scope: 'row' }, label),
        h('td', { testid: 'arm-production' }, cell(arms.production)),
        h('td', { testid: 'arm-candidate' }, cell(arms.candidate)),
      ),
    );
    return h(
      'div',
      { testid: 'canary-arms' },
      // Analytics count whole minutes: the minute the canary started counts
      // whole, as it does for the regression watch.
      table({ class: 'list arms' }, ['Since the minute it started', `Production ${canary.productionVersion ?? DASH}`, `Canary ${canary.version}`], rows),
    );
  }

  // The running canary: candidate, split, its arms, and the two ways to end it.
  function canaryCard(canary, archived, arms) {
    const end = (outcome, label, testid) =>
      h('button', { type: 'button', testid, disabled: archived, onclick: () => confirmEnd(canary, outcome) }, label);
    return h(
      'section',
      { class: 'card', testid: 'canary', 'data-version-id': canary.versionId, 'data-percent': canary.percent },
      h('h3', null, 'Canary running'),
      h(
        'p',
        null,
        h('strong', null, canary.version),
        ` gets ${canary.percent}% of production calls (production: ${canary.productionVersion ?? DASH}), `,
        canary.stickyBy === 'user' ? 'sticky by user (userId, or per request without one).' : 'split per request.',
        h('span', { class: 'muted small' }, ` Started ${fmtTime(canary.startedAt)} UTC by ${canary.startedBy}.`),
      ),
      armsTable(canary, arms),
      h(
        'div',
        { class: 'actions' },
        'End canary: ',
        end('promote', `Promote ${canary.version}`, 'end-canary-promote'),
        end('revert', 'Revert', 'end-canary-revert'),
      ),
    );
  }

  // The banner: an automatic rollback nothing has superseded yet (from the
  // audit log, so it outlives the verdict, which the next evaluation
  // replaces), else a regression the watch only reported while the judged
  // version still serves.
  function regressionBanner(watch, name, production, canary) {
    const rollback = watch.lastRollback;
    if (rollback && !rollback.superseded) {
      const ev = rollback.evidence || {};
      const candidate = name(ev.candidateVersionId);
      const baseline = name(ev.baselineVersionId);
      const regressed = ev.regressed || [];
      return h(
        'section',
        {
          class: 'banner banner-rolled-back',
          role: 'status',
          testid: 'regression-banner',
          'data-state': 'rolled-back',
          'data-audit-entry-id': rollback.auditEntryId,
          'data-candidate-version-id': ev.candidateVersionId,
          'data-baseline-version-id': ev.baselineVersionId,
        },
        h('h3', null, 'Rolled back automatically'),
        h(
          'p',
          null,
          'The regression watch ',
          ev.subject === 'canary' ? `ended the canary of ${candidate}` : `rolled ${candidate} back`,
          ' at ',
          h('strong', { testid: 'rollback-time' }, `${fmtTime(rollback.at)} UTC`),
          `: ${baseline} serves every production call again. Regressed: `,
          regressed.map((m) => metricLabel(m.metric)).join(', ') || DASH,
          '.',
        ),
        h('p', { class: 'muted small' }, comparedLine(ev, name)),
        metricsTable(regressed, 'rollback-evidence'),
        h('p', { class: 'small' }, h('a', { href: `#/audit?promptId=${encodeURIComponent(ctx.id)}` }, 'The entry in the audit log')),
      );
    }
    const verdict = watch.verdict;
    if (!verdict?.regressed || verdict.action === 'rolledBack' || verdict.action === 'canaryEnded') {
      return null;
    }
    // Someone already moved production (or the canary): nothing to roll back.
    const live =
      verdict.subject === 'canary'
        ? canary?.versionId === verdict.candidateVersionId
        : production?.id === verdict.candidateVersionId;
    if (!live) {
      return null;
    }
    const candidate = name(verdict.candidateVersionId);
    const baseline = name(verdict.baselineVersionId);
    const regressed = verdict.metrics.filter((m) => m.regressed);
    return h(
      'section',
      {
        class: 'banner alert',
        role: 'alert',
        testid: 'regression-banner',
        'data-state': 'regressed',
        'data-candidate-version-id': verdict.candidateVersionId,
        'data-baseline-version-id': verdict.baselineVersionId,
      },
      h('h3', null, `Regression: ${candidate} is worse than ${baseline}`),
      h(
        'p',
        null,
        `Regressed: ${regressed.map((m) => metricLabel(m.metric)).join(', ')}. Found at ${fmtTime(verdict.evaluatedAt)} UTC; `,
        verdict.action === 'notified' ? 'the watch is in notify mode, so nothing was changed.' : 'nothing was changed.',
      ),
      (verdict.warnings || []).map((w) => h('p', { class: 'small' }, w)),
      h('p', { class: 'muted small' }, comparedLine(verdict, name)),
      metricsTable(verdict.metrics, 'regression-evidence'),
      h(
        'div',
        { class: 'actions' },
        h(
          'button',
          { type: 'button', class: 'danger', testid: 'rollback', onclick: () => confirmRollback(verdict, name) },
          verdict.subject === 'canary' ? `Roll back: end the canary of ${candidate}` : `Roll back to ${baseline}`,
        ),
      ),
    );
  }

  async function confirmRollback(verdict, name) {
    const candidate = name(verdict.candidateVersionId);
    const baseline = name(verdict.baselineVersionId);
    const isCanary = verdict.subject === 'canary';
    const ok = await confirmDialog({
      testid: 'rollback-dialog',
      title: isCanary ? `End the canary of ${candidate}?` : `Roll back from ${candidate} to ${baseline}?`,
      body: [
        h(
          'p',
          null,
          isCanary
            ? `Every production call goes to ${baseline} again; ${candidate} is kept.`
            : `${baseline} replaces ${candidate} in production; the next gateway call uses it. ${candidate} is kept and can be promoted again.`,
        ),
        isCanary ? null : h('p', { class: 'note' }, `This is a revert: the audit log records it as one.`),
      ],
      confirmLabel: isCanary ? 'End the canary' : `Roll back to ${baseline}`,
      confirmTestid: 'confirm-rollback',
      cancelTestid: 'cancel-rollback',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        if (isCanary) {
          await api(`${base}/canary`, { method: 'DELETE', query: { outcome: 'revert' } });
          status.textContent = `Rolled back: the canary of ${candidate} ended, every call goes to ${baseline}.`;
        } else {
          // A compare-and-swap: if production moved since the banner was
          // drawn, the API answers 409 and nothing changes.
          await api(`${base}/versions/${encodeURIComponent(verdict.baselineVersionId)}/promote`, {
            method: 'POST',
            body: { expectedCurrentVersionId: verdict.candidateVersionId },
          });
          status.textContent = `Rolled back: ${baseline} is back in production, replacing ${candidate}.`;
        }
        await Promise.all([ctx.refresh().catch(() => {}), load()]);
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  // The policy in words, the last verdict, and the control to change it.
  function watchCard(watch, name) {
    const p = watch.policy;
    const verdict = watch.verdict;
    const signals = p.signals.length
      ? ` Signals (lower is better): ${p.signals.map((s) => `${s.name} up to ${s.maxIncreaseRatio}×`).join(', ')}, with ${p.minSignalValues} values per version.`
      : '';
    let last;
    if (p.mode === 'off') {
      last = null;
    } else if (!verdict) {
      last = h('p', { class: 'small' }, 'Not evaluated yet: the gateway evaluates it on production calls.');
    } else if (!verdict.subject) {
      last = h('p', { class: 'small' }, `Last evaluated ${fmtTime(verdict.evaluatedAt)} UTC: nothing to compare (no canary, no promote inside the window).`);
    } else {
      last = [
        h(
          'p',
          { class: 'small', testid: 'watch-verdict' },
          `Last evaluated ${fmtTime(verdict.evaluatedAt)} UTC: ${name(verdict.candidateVersionId)} against ${name(verdict.baselineVersionId)} (${verdict.subject}), `,
          verdict.regressed ? h('strong', null, 'regressed') : 'no regression',
          '.',
        ),
        h('details', null, h('summary', null, 'The numbers'), metricsTable(verdict.metrics)),
      ];
    }
    return h(
      'section',
      { class: 'card', testid: 'watch', 'data-mode': p.mode },
      h('h3', null, 'Regression watch ', pill(p.mode, { off: 'archived', notify: 'canary', rollback: 'production' }[p.mode], 'watch-mode-pill')),
      h('p', null, MODES[p.mode]),
      h(
        'p',
        { class: 'muted small' },
        `Judges once both versions have ${p.minCalls} calls: error rate up by more than ${points(p.maxErrorRateIncrease)}, `,
        `p95 latency over ${p.p95Ratio}× and ${p.p95MinIncreaseMs} ms slower, cost per call over ${p.costRatio}×, `,
        `negative feedback up by more than ${points(p.maxNegativeFeedbackIncrease)} (α ${p.alpha}); window ${p.windowMinutes} min.${signals}`,
        watch.updatedAt ? ` Set ${fmtTime(watch.updatedAt)} UTC by ${watch.updatedBy}.` : ' Never set: the defaults.',
      ),
      last,
      h('div', { class: 'actions' }, h('button', { type: 'button', testid: 'watch-edit', onclick: () => editWatch(p) }, 'Change watch…')),
    );
  }

  async function editWatch(policy) {
    const mode = h('select', { testid: 'watch-mode' }, Object.keys(MODES).map((m) => h('option', { value: m }, m)));
    mode.value = policy.mode;
    const modeHint = h('span', null, MODES[policy.mode]);
    mode.addEventListener('change', () => {
      modeHint.textContent = MODES[mode.value];
    });
    // Text, not number inputs: whatever is typed reaches the API, which
    // names each bad field (a number input would turn bad text into empty,
    // that is, the default).
    const inputs = THRESHOLDS.map(([key, label]) => {
      const input = h('input', { type: 'text', inputmode: 'decimal', spellcheck: 'false', testid: `watch-${key}`, value: String(policy[key]) });
      return { key, input, el: field(label, input) };
    });
    const signals = h('input', {
      type: 'text',
      spellcheck: 'false',
      testid: 'watch-signals',
      placeholder: 'support_tickets:1.2, refunds',
      value: policy.signals.map((s) => `${s.name}:${s.maxIncreaseRatio}`).join(', '),
    });
    const ok = await confirmDialog({
      testid: 'watch-dialog',
      title: 'Regression watch',
      body: [
        field('Mode', mode, modeHint),
        h(
          'fieldset',
          null,
          h('legend', null, 'Thresholds (empty: the default)'),
          h('div', { class: 'thresholds' }, inputs.map((i) => i.el)),
          field('Signals where lower is better', signals, 'name:ratio, comma-separated (ratio empty: 1.2); names as sent to POST /prompts/:id/signals.'),
        ),
      ],
      confirmLabel: 'Save watch',
      confirmTestid: 'confirm-watch',
      cancelTestid: 'cancel-watch',
    });
    if (!ok) {
      return;
    }
    const body = { mode: mode.value };
    for (const { key, input } of inputs) {
      const text = input.value.trim();
      if (text !== '') {
        body[key] = Number.isFinite(Number(text)) ? Number(text) : text;
      }
    }
    body.signals = signals.value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean)
      .map((part) => {
        const [signal, ratio] = part.split(':').map((x) => x.trim());
        if (!ratio) {
          return { name: signal };
        }
        return { name: signal, maxIncreaseRatio: Number.isFinite(Number(ratio)) ? Number(ratio) : ratio };
      });
    status.textContent = '';
    await busy(
      async () => {
        const result = await api(`${base}/watch`, { method: 'PUT', body });
        await load();
        status.textContent = `The regression watch is ${result.policy.mode}. ${MODES[result.policy.mode]}`;
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  function row(v, production, archived, canary) {
    const isCandidate = canary?.versionId === v.id;
    const startCanary = h(
      'button',
      {
        type: 'button',
        testid: 'start-canary',
        disabled: v.isProduction || archived || !production,
        title: v.isProduction
          ? 'Production needs another version to split with'
          : !production
            ? 'Promote a version first'
            : archived
              ? 'The prompt is archived'
              : null,
        onclick: () => confirmCanary(v, production, canary),
      },
      isCandidate ? 'Change canary…' : 'Canary…',
    );
    const promote = h(
      'button',
      {
        type: 'button',
        testid: 'promote',
        disabled: v.isProduction || archived,
        title: v.isProduction ? 'Already in production' : archived ? 'The prompt is archived' : null,
        onclick: () => confirmPromote(v, production),
      },
      'Promote',
    );
    return h(
      'tr',
      { testid: 'version-row', 'data-version-id': v.id, 'data-version': v.version },
      h(
        'td',
        { class: 'nowrap' },
        h('strong', null, v.version),
        ' ',
        v.isProduction ? pill('production', 'production', 'pill-production') : null,
        ' ',
        v.isDevelopment ? pill('development', 'development', 'pill-development') : null,
        ' ',
        isCandidate ? pill(`canary ${canary.percent}%`, 'canary', 'pill-canary') : null,
      ),
      h('td', null, v.message || h('span', { class: 'muted' }, DASH)),
      h('td', null, h('code', null, v.model)),
      h('td', null, v.author),
      h('td', { class: 'nowrap' }, timeEl(v.createdAt)),
      h('td', { class: 'nowrap' }, timeEl(v.lastPromotedAt)),
      h(
        'td',
        { class: 'nowrap actions' },
        promote,
        startCanary,
        h('a', { href: `${promptHref(ctx.id, 'compare')}?to=${encodeURIComponent(v.id)}` }, 'Compare'),
      ),
    );
  }

  async function confirmPromote(v, production) {
    const revert = Boolean(v.lastPromotedAt);
    const question = production
      ? `Replace ${production.version} with ${v.version} in production?`
      : `Put ${v.version} in production?`;
    const ok = await confirmDialog({
      testid: 'promote-dialog',
      title: question,
      body: [
        production ? null : h('p', null, 'No version is in production yet.'),
        revert
          ? h(
              'p',
              { class: 'note' },
              `This is a revert: ${v.version} was in production before (last promoted ${fmtTime(v.lastPromotedAt)} UTC). `,
              'The audit log records it as a revert.',
            )
          : null,
        h(
          'p',
          null,
          `The next gateway call uses ${v.version}.`,
          production ? ` ${production.version} is kept and can be promoted again.` : '',
        ),
      ],
      confirmLabel: revert ? `Revert to ${v.version}` : `Promote ${v.version}`,
      confirmTestid: 'confirm-promote',
      cancelTestid: 'cancel-promote',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        const result = await api(`${base}/versions/${encodeURIComponent(v.id)}/promote`, { method: 'POST' });
        await Promise.all([ctx.refresh().catch(() => {}), load()]);
        status.textContent = !result.changed
          ? `${result.version} was already in production.`
          : result.revert
            ? `Reverted: ${result.version} is back in production, replacing ${result.previousVersion}.`
            : `${result.version} is now in production${result.previousVersion ? `, replacing ${result.previousVersion}` : ''}.`;
        if (result.endedCanary) {
          status.textContent += ` The canary of ${result.endedCanary.canary.version} ended.`;
        }
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  async function confirmCanary(v, production, canary) {
    const initial = String(canary?.versionId === v.id ? canary.percent : 10);
    const percent = h('input', { type: 'number', min: '0', max: '100', step: '1', required: true, testid: 'canary-percent', value: initial });
    // The slider and the number move together; the number is what is sent.
    const slider = h('input', { type: 'range', min: '0', max: '100', step: '1', testid: 'canary-percent-slider', 'aria-label': 'Percent of production calls', value: initial });
    slider.addEventListener('input', () => {
      percent.value = slider.value;
    });
    percent.addEventListener('input', () => {
      slider.value = percent.value;
    });
    const stickyBy = h(
      'select',
      { testid: 'canary-sticky-by' },
      h('option', { value: 'user' }, 'user (same userId, same version)'),
      h('option', { value: 'request' }, 'request (each call on its own)'),
    );
    stickyBy.value = canary?.stickyBy || 'user';
    const ok = await confirmDialog({
      testid: 'canary-dialog',
      title: canary ? `Change the canary to ${v.version}?` : `Start a canary of ${v.version}?`,
      body: [
        h('p', null, `Production calls are split between ${production.version} and ${v.version}; the next gateway call follows the split.`),
        canary && canary.versionId !== v.id ? h('p', { class: 'note' }, `This replaces the running canary of ${canary.version}.`) : null,
        field('Percent of production calls', percent, 'A whole number from 0 to 100.'),
        h('div', { class: 'field' }, slider),
        field('Sticky by', stickyBy),
      ],
      confirmLabel: canary ? 'Change canary' : 'Start canary',
      confirmTestid: 'confirm-canary',
      cancelTestid: 'cancel-canary',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        // The API checks the number (422 names the field when it is not 0 to 100).
        const value = percent.value.trim() === '' ? null : Number(percent.value);
        const result = await api(`${base}/canary`, {
          method: 'POST',
          body: { versionId: v.id, percent: value, stickyBy: stickyBy.value },
        });
        await load();
        const c = result.canary;
        status.textContent = !result.changed
          ? `The canary of ${c.version} already runs at ${c.percent}%.`
          : `${c.version} now gets ${c.percent}% of production calls (sticky by ${c.stickyBy}).`;
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  async function confirmEnd(canary, outcome) {
    const promote = outcome === 'promote';
    const ok = await confirmDialog({
      testid: 'end-canary-dialog',
      title: promote ? `Promote ${canary.version} and end the canary?` : `End the canary of ${canary.version}?`,
      body: h(
        'p',
        null,
        promote
          ? `${canary.version} replaces ${canary.productionVersion} in production for every call.`
          : `Every call goes to ${canary.productionVersion} again; ${canary.version} is kept.`,
      ),
      confirmLabel: promote ? `Promote ${canary.version}` : 'Revert',
      confirmTestid: 'confirm-end-canary',
      cancelTestid: 'cancel-end-canary',
    });
    if (!ok) {
      return;
    }
    status.textContent = '';
    await busy(
      async () => {
        const result = await api(`${base}/canary`, { method: 'DELETE', query: { outcome } });
        await Promise.all([ctx.refresh().catch(() => {}), load()]);
        status.textContent =
          result.outcome === 'promote'
            ? `Canary ended: ${result.canary.version} is now in production.`
            : `Canary ended: every call goes to ${result.canary.productionVersion} again.`;
        status.focus();
      },
      (err) => showError(errorSlot, err),
    );
  }

  load();
}
