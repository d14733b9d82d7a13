// The web console, clicked through in Debian's headless Chromium: the seed
// walkthrough ("Rolling back a prompt") as a person does it.
//
// tests/e2e/console.rs starts the stub provider and `prompthelm up`, seeds
// the prompt and runs this script. By hand, against a runtime you started:
//
//   BASE_URL=http://127.0.0.1:3000 TOKEN=phk_… ARTIFACT_DIR=/tmp/shots \
//   PROMPT_ID=prm_… GOOD_VERSION_ID=ver_… BAD_VERSION_ID=ver_… node walkthrough.mjs
//
// The seed it expects: GOOD (temperature 0.2) is production and has had a
// few successful calls; BAD (temperature 0.9, `[[stub:delay=1500]]` in its
// user template) is saved but not promoted. The prompt's providers point at
// the stub provider, so `[[stub:status=500]]` in a variable fails a call.
//
// The regression-watch steps (w1–w6) seed their own prompts through the API
// (a good version with calls, a version whose every call the stub fails),
// set the watch in the console, promote in the console, and drive the
// failing gateway traffic from here.
//
// Every step prints one line and saves ARTIFACT_DIR/NN-step.png. Any failed
// step, browser console error, page error, failed request or unexpected HTTP
// error status ends the run with exit code 1 and says why.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === "") {
    console.error(`walkthrough: set ${name}`);
    process.exit(2);
  }
  return v;
};

const BASE_URL = env("BASE_URL").replace(/\/$/, "");
const TOKEN = env("TOKEN");
const ARTIFACT_DIR = env("ARTIFACT_DIR");
const PROMPT_ID = env("PROMPT_ID");
const GOOD = env("GOOD_VERSION_ID");
const BAD = env("BAD_VERSION_ID");
const CHROMIUM = env("CHROMIUM", "/usr/bin/chromium");
/// A well-formed token that no organization has.
const UNKNOWN_TOKEN = "phk_0123456789abcdef0123456789abcdef";
/// Cap for every single wait (an element, a state); nothing here is timed.
const WAIT_MS = 30_000;
/// Bad-version gateway calls; every other one fails at the provider.
const BAD_CALLS = 6;
/// A phone's width, for the layout check.
const NARROW = 375;

mkdirSync(ARTIFACT_DIR, { recursive: true });

class StepFailure extends Error {}
const fail = (message) => {
  throw new StepFailure(message);
};
const check = (cond, message) => cond || fail(message);

// --- The API, from Node (seed facts, traffic, cross-checks) ----------------

async function api(method, path, body) {
  const res = await fetch(`${BASE_URL}/api/v1${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${TOKEN}`,
      ...(body ? { "Content-Type": "application/json" } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    // Left null: the caller reports the text.
  }
  return { status: res.status, json, text };
}

async function apiOk(method, path, body) {
  const res = await api(method, path, body);
  check(res.status >= 200 && res.status < 300, `${method} /api/v1${path}: ${res.status} ${res.text}`);
  return res.json;
}

/// The seed, read back: the prompt and the two versions' numbers.
async function readSeed() {
  const prompt = await apiOk("GET", `/prompts/${PROMPT_ID}`);
  const versions = (await apiOk("GET", `/prompts/${PROMPT_ID}/versions`)).data;
  const semver = (id) =>
    versions.find((v) => v.id === id)?.version ?? fail(`no version ${id} in prompt ${PROMPT_ID}`);
  check(
    prompt.productionVersionId === GOOD,
    `production must be ${GOOD} (GOOD_VERSION_ID), it is ${prompt.productionVersionId}`,
  );
  return { prompt, GOOD_SEMVER: semver(GOOD), BAD_SEMVER: semver(BAD) };
}

let seed;
try {
  seed = await readSeed();
} catch (e) {
  console.log(`FAIL reading the seed from ${BASE_URL}/api/v1: ${e?.message ?? e}${e?.cause ? ` (${e.cause})` : ""}`);
  process.exit(1);
}
const { prompt, GOOD_SEMVER, BAD_SEMVER } = seed;

async function productionVersionId(promptId = PROMPT_ID) {
  return (await apiOk("GET", `/prompts/${promptId}`)).productionVersionId;
}

// --- The browser, and what counts as a problem -----------------------------

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      "--disable-quic",
    ],
  });
} catch (e) {
  console.log(`FAIL starting Chromium at ${CHROMIUM} (apt-get install chromium):\n${e?.message ?? e}`);
  process.exit(1);
}
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(WAIT_MS);

/// Problems seen since the last step ended; any one fails that step.
let problems = [];
/// HTTP error answers the current step causes on purpose:
/// [{method, path (RegExp on the URL's pathname), status}].
let expectedErrors = [];
/// URLs whose error answers were expected (Chromium also logs each one as a
/// console error, "Failed to load resource: … status of 401").
const excusedUrls = new Set();

const isExpected = (method, url, status) => {
  const path = new URL(url).pathname;
  return expectedErrors.some(
    (e) => e.method === method && e.path.test(path) && e.status === status,
  );
};

page.on("console", (msg) => {
  if (msg.type() !== "error") return;
  const url = msg.location()?.url ?? "";
  if (/^Failed to load resource: the server responded with a status of \d+/.test(msg.text()) && excusedUrls.has(url)) {
    return;
  }
  problems.push(`browser console error: ${msg.text()}${url ? ` (at ${url})` : ""}`);
});
page.on("pageerror", (err) => problems.push(`page error: ${err.stack ?? err}`));
page.on("requestfailed", (req) =>
  problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`),
);
page.on("response", (res) => {
  if (res.status() < 400) return;
  const req = res.request();
  if (isExpected(req.method(), res.url(), res.status())) {
    excusedUrls.add(res.url());
  } else {
    problems.push(`unexpected HTTP ${res.status()} for ${req.method()} ${res.url()}`);
  }
});

/// Runs `fn` with the given HTTP error answers allowed (and required: each
/// one must have happened, or the step did not test what it says).
async function expectingErrors(errors, fn) {
  const seen = errors.map(() => false);
  const onResponse = (res) => {
    errors.forEach((e, i) => {
      if (res.request().method() === e.method && e.path.test(new URL(res.url()).pathname) && res.status() === e.status) {
        seen[i] = true;
      }
    });
  };
  page.on("response", onResponse);
  expectedErrors = errors;
  try {
    await fn();
  } finally {
    expectedErrors = [];
    page.off("response", onResponse);
  }
  errors.forEach((e, i) =>
    check(seen[i], `expected the UI to get HTTP ${e.status} from ${e.method} ${e.path}, it did not`),
  );
}

// --- Helpers ----------------------------------------------------------------

const tid = (id) => `[data-testid="${id}"]`;
const byTid = (id) => page.locator(tid(id));

/// Waits until the view finished fetching: `aria-busy="false"` on the view.
async function settled() {
  await page.waitForSelector(`${tid("view")}[aria-busy="false"]`, { state: "attached" });
}

/// Waits until `predicate(arg)`, evaluated in the page, holds; on timeout
/// fails with `what`.
async function waitUntil(what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: WAIT_MS });
  } catch (e) {
    if (e?.name === "TimeoutError") fail(`timed out (${WAIT_MS / 1000} s) waiting until ${what}`);
    throw e;
  }
}

async function visible(locator, what) {
  try {
    await locator.first().waitFor({ state: "visible", timeout: WAIT_MS });
  } catch (e) {
    if (e?.name === "TimeoutError") fail(`timed out (${WAIT_MS / 1000} s) waiting for ${what}`);
    throw e;
  }
}

const versionRow = (vid) => page.locator(`${tid("version-row")}[data-version-id="${vid}"]`);
const statsRow = (vid) => page.locator(`${tid("version-stats-row")}[data-version-id="${vid}"]`);

/// The version id whose row carries `pill-production`, and how many rows do.
async function productionPills() {
  return page.$$eval(`${tid("version-row")}`, (rows) =>
    rows.filter((r) => r.querySelector('[data-testid="pill-production"]')).map((r) => r.dataset.versionId),
  );
}

async function waitForProductionPill(vid) {
  await waitUntil(
    `the production pill is on version ${vid} only`,
    (vid) => {
      const rows = [...document.querySelectorAll('[data-testid="version-row"]')];
      const withPill = rows.filter((r) => r.querySelector('[data-testid="pill-production"]'));
      return withPill.length === 1 && withPill[0].dataset.versionId === vid;
    },
    vid,
  );
}

async function openTab(name) {
  await byTid(`tab-${name}`).click();
  await waitUntil(
    `the URL is the ${name} tab`,
    (name) => location.hash.endsWith(`/${name}`),
    name,
  );
  await settled();
}

/// Opens the prompt from the prompts list.
async function openPromptFromList(promptId = PROMPT_ID, name = prompt.name) {
  await byTid("nav-prompts").click();
  await settled();
  const row = page.locator(`${tid("prompt-row")}[data-prompt-id="${promptId}"]`);
  await visible(row, `the prompts list row of ${promptId}`);
  const link = row.getByRole("link", { name });
  check((await link.count()) === 1, `the row of ${promptId} has no link named "${name}"`);
  await link.click();
  await waitUntil(
    `the URL is the prompt's page`,
    (id) => location.hash.startsWith(`#/prompts/${id}`),
    promptId,
  );
  await settled();
}

async function promoteThroughDialog(vid, { replaces, revert, promptId = PROMPT_ID }) {
  const row = versionRow(vid);
  await row.locator(tid("promote")).click();
  const dialog = byTid("promote-dialog");
  await visible(dialog, "the promote dialog");
  const text = (await dialog.innerText()).replace(/\s+/g, " ");
  check(text.includes(replaces), `the promote dialog does not name the version it replaces (${replaces}): "${text}"`);
  check(
    /revert/i.test(text) === revert,
    revert
      ? `the promote dialog does not say this is a revert: "${text}"`
      : `the promote dialog says "revert" for a first promotion: "${text}"`,
  );
  await screenshot("dialog");
  // The page must not reload: this marker would be gone.
  await page.evaluate(() => {
    window.__walkthroughMarker = true;
  });
  const hash = await page.evaluate(() => location.hash);
  await byTid("confirm-promote").click();
  await dialog.waitFor({ state: "hidden" });
  await waitForProductionPill(vid);
  check(
    await page.evaluate(() => window.__walkthroughMarker === true),
    "the page reloaded after promote; the list must update in place",
  );
  check((await page.evaluate(() => location.hash)) === hash, "promote navigated away from the versions list");
  const now = await productionVersionId(promptId);
  check(now === vid, `the API says production is ${now} after the UI promoted ${vid}`);
}

/// "50.0%" → 50, "1,523 ms" → 1523.
function number(text, what) {
  const n = Number(text.replace(/[,\s%]|ms/g, ""));
  check(Number.isFinite(n) && /\d/.test(text), `${what}: "${text}" is not a number`);
  return n;
}

async function stats(vid) {
  const row = statsRow(vid);
  await visible(row, `the version-table row of ${vid}`);
  const cell = async (name) => (await row.locator(tid(name)).innerText()).trim();
  return {
    calls: number(await cell("stat-calls"), `stat-calls of ${vid}`),
    successRate: number(await cell("stat-success-rate"), `stat-success-rate of ${vid}`),
    p95: number(await cell("stat-p95"), `stat-p95 of ${vid}`),
    text: {
      successRate: await cell("stat-success-rate"),
      p95: await cell("stat-p95"),
    },
  };
}

/// How far the document is wider than `width`, in px.
async function horizontalOverflow(width) {
  return page.evaluate((width) => document.documentElement.scrollWidth - width, width);
}

let stepNo = 0;
let stepSlug = "start";
async function screenshot(suffix) {
  const name = `${String(stepNo).padStart(2, "0")}-${stepSlug}${suffix ? `-${suffix}` : ""}.png`;
  await page.screenshot({ path: join(ARTIFACT_DIR, name), fullPage: true });
}

const results = [];
async function step(label, slug, fn) {
  stepNo += 1;
  stepSlug = slug;
  const started = Date.now();
  let detail;
  try {
    detail = await fn();
    await page.waitForLoadState("load");
    // An API error the UI showed is a failure too, unless the step wanted it.
    if (await byTid("api-error").isVisible()) {
      fail(`the UI shows an API error: "${(await byTid("api-error").innerText()).trim()}"`);
    }
    if (problems.length) fail(problems.join("\n    "));
    await screenshot();
  } catch (e) {
    const message = e instanceof StepFailure ? e.message : (e?.stack ?? String(e));
    const extra = problems.length && !message.includes(problems[0]) ? `\n    ${problems.join("\n    ")}` : "";
    console.log(`FAIL ${label}\n    ${message}${extra}`);
    try {
      await screenshot("FAILED");
      console.log(`     screenshot: ${join(ARTIFACT_DIR, `${String(stepNo).padStart(2, "0")}-${slug}-FAILED.png`)}`);
    } catch {
      // The browser may be gone.
    }
    await browser.close().catch(() => {});
    process.exit(1);
  }
  problems = [];
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`ok   ${label}${detail ? `: ${detail}` : ""} (${secs} s)`);
  results.push(label);
}

// --- The walkthrough ----------------------------------------------------------

console.log(
  `walkthrough of ${BASE_URL}/ in Chromium ${browser.version()}: prompt ${prompt.slug} (${PROMPT_ID}), ` +
    `good ${GOOD_SEMVER} (${GOOD}), bad ${BAD_SEMVER} (${BAD}); screenshots in ${ARTIFACT_DIR}`,
);

await step("a. sign in: a bad token shows sign-in-error, the admin token signs in", "sign-in", async () => {
  await page.goto(`${BASE_URL}/`);
  await visible(byTid("token-input"), "the token input");
  await expectingErrors([{ method: "GET", path: /^\/api\/v1\//, status: 401 }], async () => {
    await byTid("token-input").fill(UNKNOWN_TOKEN);
    await byTid("sign-in").click();
    await visible(byTid("sign-in-error"), "sign-in-error after a bad token");
  });
  const role = await byTid("sign-in-error").getAttribute("role");
  check(role === "alert", `sign-in-error has role="${role}", not "alert"`);
  await screenshot("bad-token");
  await byTid("token-input").fill(TOKEN);
  await byTid("sign-in").click();
  await visible(byTid("nav-prompts"), "the navigation after signing in");
  check(!(await byTid("sign-in-error").isVisible()), "sign-in-error is still shown after signing in");
  await settled();
});

await step("b. prompts list → the prompt; Versions: the good version is production", "versions", async () => {
  await openPromptFromList();
  await openTab("versions");
  await visible(versionRow(GOOD), `the version row of ${GOOD}`);
  await visible(versionRow(BAD), `the version row of ${BAD}`);
  for (const [vid, sv] of [[GOOD, GOOD_SEMVER], [BAD, BAD_SEMVER]]) {
    const attr = await versionRow(vid).getAttribute("data-version");
    check(attr === sv, `version-row ${vid} has data-version="${attr}", not "${sv}"`);
  }
  const pills = await productionPills();
  check(pills.length === 1 && pills[0] === GOOD, `pill-production is on [${pills}], expected only ${GOOD}`);
  check(
    (await versionRow(BAD).locator(tid("pill-development")).count()) === 1,
    `the newest save (${BAD_SEMVER}) has no pill-development`,
  );
  return `${GOOD_SEMVER} has pill-production`;
});

await step("c. promote the bad version in the UI (the dialog names the version it replaces, no revert)", "promote-bad", async () => {
  await promoteThroughDialog(BAD, { replaces: GOOD_SEMVER, revert: false });
  return `pill moved to ${BAD_SEMVER} in place`;
});

await step("d. traffic through the gateway: the bad version is slow, half its calls fail", "traffic", async () => {
  const calls = Array.from({ length: BAD_CALLS }, (_, i) => {
    const question = i % 2 === 0 ? `bad ${i} [[stub:status=500]]` : `bad ${i}`;
    return api("POST", "/gateway/execute", { promptSlug: prompt.slug, variables: { question } }).then(
      (res) => ({ i, res }),
    );
  });
  for (const { i, res } of await Promise.all(calls)) {
    if (i % 2 === 0) {
      check(
        res.status === 502 && res.json?.errorCode === "UPSTREAM_FAILURE",
        `call ${i} should fail with 502 UPSTREAM_FAILURE: ${res.status} ${res.text}`,
      );
    } else {
      check(res.status === 200 && res.json?.versionId === BAD, `call ${i} should succeed on ${BAD}: ${res.status} ${res.text}`);
    }
  }
  return `${BAD_CALLS} calls, ${BAD_CALLS / 2} failed with 502`;
});

await step("e. Analytics: the bad version has a lower success rate and a higher p95; charts carry promotion markers", "analytics", async () => {
  await openTab("analytics");
  await byTid("window-24h").click();
  await settled();
  const bad = await stats(BAD);
  const good = await stats(GOOD);
  check(bad.calls === BAD_CALLS, `stat-calls of the bad version is ${bad.calls}, expected ${BAD_CALLS}`);
  check(good.calls > 0, `stat-calls of the good version is ${good.calls}`);
  check(bad.successRate === 50, `the bad version's success rate is ${bad.text.successRate}, expected 50.0%`);
  check(good.successRate === 100, `the good version's success rate is ${good.text.successRate}, expected 100.0%`);
  // Every bad call waited 1.5 s at the provider; percentiles are within 1 %.
  check(bad.p95 >= 1500 * 0.99, `the bad version's p95 is ${bad.text.p95}, expected ≥ 1,500 ms`);
  check(good.p95 < bad.p95, `the good version's p95 (${good.text.p95}) is not below the bad one's (${bad.text.p95})`);
  const markers = {};
  for (const chart of ["chart-latency", "chart-success", "chart-cost", "chart-volume"]) {
    const svg = page.locator(`svg${tid(chart)}`);
    await visible(svg, `the SVG ${chart}`);
    const found = await svg.locator(tid("promotion-marker")).evaluateAll((ms) =>
      ms.map((m) => ({ revert: m.getAttribute("data-revert"), to: m.getAttribute("data-to-version") })),
    );
    check(found.length === 2, `${chart} has ${found.length} promotion-markers, expected 2 (${GOOD_SEMVER}, then ${BAD_SEMVER})`);
    check(found.every((m) => m.revert === "false"), `${chart}: no promotion is a revert yet: ${JSON.stringify(found)}`);
    check(
      found.some((m) => m.to === BAD || m.to === BAD_SEMVER),
      `${chart} has no promotion-marker to the bad version: ${JSON.stringify(found)}`,
    );
    markers[chart] = found.length;
  }
  return `bad ${bad.text.successRate}, p95 ${bad.text.p95}; good ${good.text.successRate}, p95 ${good.text.p95}; markers ${JSON.stringify(markers)}`;
});

await step("e2. Analytics 1h: minute buckets that refresh themselves while the tab is open, and stop when it is left", "analytics-1h", async () => {
  const isAnalytics = (r) => r.url().includes(`/prompts/${PROMPT_ID}/analytics`);
  await byTid("window-1h").click();
  await settled();
  await visible(byTid("auto-refresh"), "the auto-refresh note of the 1h window");
  const bad = await stats(BAD);
  check(bad.calls === BAD_CALLS, `1h: stat-calls of the bad version is ${bad.calls}, expected ${BAD_CALLS}`);
  const note = await byTid("window-line").innerText();
  check(note.includes("per minute"), `1h: the window line says "${note}", expected minute buckets`);
  const markers = await page.locator(`svg${tid("chart-latency")} ${tid("promotion-marker")}`).count();
  check(markers === 2, `1h: chart-latency has ${markers} promotion-markers, expected 2`);
  // Feedback on a failed call of the bad version, and a product signal,
  // sent by a backend meanwhile...
  const failures = await apiOk("GET", `/execution-logs?promptId=${PROMPT_ID}&status=error&limit=1`);
  const judged = failures.data[0];
  check(judged?.versionId === BAD, `the newest failure is not the bad version's: ${JSON.stringify(judged)}`);
  await apiOk("POST", `/executions/${judged.id}/feedback`, { score: -1, comment: "made up a policy" });
  await apiOk("POST", `/prompts/${PROMPT_ID}/signals`, { name: "support_tickets", value: 3 });
  // ...show on the next reload, which comes by itself within the refresh
  // period.
  const refreshed = await page.waitForRequest((r) => isAnalytics(r) && r.url().includes("window=1h"), { timeout: WAIT_MS });
  check(refreshed.method() === "GET", "the refresh is a GET");
  await visible(page.locator(`svg${tid("chart-feedback")}`), "the negative-feedback chart after the refresh");
  await visible(page.locator(`${tid("signal-row")}[data-signal="support_tickets"]`), "the support_tickets signal row");
  await visible(page.locator(`svg${tid("chart-signal-support_tickets")}`), "the support_tickets signal chart");
  const feedback = (await statsRow(BAD).locator(tid("stat-feedback")).innerText()).trim();
  check(feedback === "thumbs 100.0% of 1", `the bad version's negative feedback reads "${feedback}"`);
  // Leaving the tab stops it: no analytics request for longer than a period.
  await openTab("versions");
  let late = null;
  const listener = (r) => {
    if (isAnalytics(r)) late = r.url();
  };
  page.on("request", listener);
  await page.waitForTimeout(17_000);
  page.off("request", listener);
  check(late === null, `the Analytics tab was left, yet ${late} was requested`);
  return `bad version ${bad.calls} calls by minute, negative feedback "${feedback}"; refreshed by itself, quiet after leaving`;
});

await step("f. Logs: failures only, then one failure's request and response bodies", "logs", async () => {
  await openTab("logs");
  await visible(page.locator(tid("log-row")), "log rows");
  await byTid("logs-failures").click();
  await waitUntil(
    `the list shows only the ${BAD_CALLS / 2} error rows`,
    (n) => {
      const rows = [...document.querySelectorAll('[data-testid="log-row"]')];
      const view = document.querySelector('[data-testid="view"]');
      return (
        view?.getAttribute("aria-busy") === "false" &&
        rows.length === n &&
        rows.every((r) => r.dataset.status === "error")
      );
    },
    BAD_CALLS / 2,
  );
  await page.locator(tid("log-row")).first().click();
  const detail = byTid("log-detail");
  await visible(detail, "log-detail");
  await waitUntil(
    "log-request-body and log-response-body are filled",
    () =>
      ["log-request-body", "log-response-body"].every(
        (id) => (document.querySelector(`[data-testid="${id}"]`)?.textContent ?? "").trim().length > 0,
      ),
  );
  const request = await detail.locator(tid("log-request-body")).innerText();
  const response = await detail.locator(tid("log-response-body")).innerText();
  check(request.includes("[[stub:status=500]]"), `log-request-body lacks the failing question:\n${request}`);
  check(request.includes("creative support agent"), `log-request-body lacks the bad version's system text:\n${request}`);
  check(/\b500\b/.test(response), `log-response-body does not show the provider's 500:\n${response}`);
  check(response.includes("server_error"), `log-response-body lacks the provider's error body:\n${response}`);
  await screenshot("detail");
  await detail.locator(tid("log-close")).click();
  await detail.waitFor({ state: "hidden" });
  return `${BAD_CALLS / 2} error rows; the detail shows the provider's 500`;
});

await step("g. Versions: promote the previous good version (the dialog says revert)", "revert", async () => {
  await openTab("versions");
  await visible(versionRow(GOOD), `the version row of ${GOOD}`);
  await promoteThroughDialog(GOOD, { replaces: BAD_SEMVER, revert: true });
  return `pill back on ${GOOD_SEMVER}`;
});

await step("h. Audit: the newest prompt.promote entry is marked as a revert", "audit", async () => {
  await byTid("nav-audit").click();
  await settled();
  const promotes = page.locator(`${tid("audit-row")}[data-action="prompt.promote"]`);
  await visible(promotes, "prompt.promote audit rows");
  const marks = await promotes.evaluateAll((rows) =>
    rows.map((r) => r.querySelector('[data-testid="audit-revert"]') !== null),
  );
  check(marks.length === 3, `${marks.length} prompt.promote rows, expected 3 (good, bad, good again)`);
  check(marks[0] === true, "the newest prompt.promote row has no audit-revert");
  check(!marks[1] && !marks[2], `only the rollback is a revert, got audit-revert on rows ${JSON.stringify(marks)} (newest first)`);
  return "newest of 3 promotions carries audit-revert";
});

await step("h2. Versions: start a canary of the bad version at 25 %, then end it by reverting", "canary", async () => {
  await openPromptFromList();
  await openTab("versions");
  await versionRow(BAD).locator(tid("start-canary")).click();
  const dialog = byTid("canary-dialog");
  await visible(dialog, "the canary dialog");
  // The percent slider drives the number that is sent.
  await byTid("canary-percent-slider").evaluate((el) => {
    el.value = "25";
    el.dispatchEvent(new Event("input", { bubbles: true }));
  });
  check((await byTid("canary-percent").inputValue()) === "25", "the slider did not move the percent to 25");
  await screenshot("dialog");
  await byTid("confirm-canary").click();
  await dialog.waitFor({ state: "hidden" });
  await waitUntil(
    `the canary card shows ${BAD} at 25 % and its row the canary pill`,
    (bad) => {
      const card = document.querySelector('[data-testid="canary"]');
      const row = document.querySelector(`[data-testid="version-row"][data-version-id="${bad}"]`);
      return card?.dataset.versionId === bad && card?.dataset.percent === "25" && row?.querySelector('[data-testid="pill-canary"]') !== null;
    },
    BAD,
  );
  const running = (await apiOk("GET", `/prompts/${PROMPT_ID}/canary`)).canary;
  check(running?.versionId === BAD && running?.percent === 25, `the API says the canary is ${JSON.stringify(running)}`);
  // Both arms side by side, named by version. (Their figures count whole
  // minutes, so the calls of step d may be in them: checked in w7.)
  const heads = (await byTid("canary-arms").locator("th[scope=col]").allInnerTexts()).map((t) => t.trim());
  check(heads[1] === `Production ${GOOD_SEMVER}` && heads[2] === `Canary ${BAD_SEMVER}`, `the arms' headers: ${JSON.stringify(heads)}`);
  const arms = await armFigures("calls");
  check(/^[\d,]+$/.test(arms.production) && /^[\d,]+$/.test(arms.candidate), `the arms' calls: ${JSON.stringify(arms)}`);
  await screenshot("running");
  await byTid("end-canary-revert").click();
  const end = byTid("end-canary-dialog");
  await visible(end, "the end-canary dialog");
  await byTid("confirm-end-canary").click();
  await end.waitFor({ state: "hidden" });
  await waitUntil("the canary card is gone", () => document.querySelector('[data-testid="canary"]') === null);
  const after = await apiOk("GET", `/prompts/${PROMPT_ID}/canary`);
  check(after.canary === null, `the API still shows a canary: ${JSON.stringify(after)}`);
  await waitForProductionPill(GOOD);
  return `canary of ${BAD_SEMVER} at 25 % started and reverted; ${GOOD_SEMVER} still production`;
});

await step("i. Compare: bad vs good shows the temperature change", "compare", async () => {
  await openPromptFromList();
  await openTab("compare");
  await byTid("compare-from").selectOption(BAD);
  await byTid("compare-to").selectOption(GOOD);
  // From bad to good: the bad system text is removed, the good one added
  // (which also tells this diff from one the page showed before).
  await waitUntil(
    "compare-diff shows the bad system text removed and the good one added, and compare-params a temperature row",
    () => {
      const texts = (id) =>
        [...document.querySelectorAll(`[data-testid="compare-diff"] [data-testid="${id}"]`)].map((e) => e.textContent);
      return (
        document.querySelector('[data-testid="view"]')?.getAttribute("aria-busy") === "false" &&
        texts("diff-removed").some((t) => t.includes("creative")) &&
        texts("diff-added").some((t) => t.includes("helpful")) &&
        document.querySelector('[data-testid="compare-params"] [data-testid="param-change"][data-param="temperature"]') !== null
      );
    },
  );
  const temperature = (
    await page.locator(`${tid("param-change")}[data-param="temperature"]`).innerText()
  ).replace(/\s+/g, " ");
  check(temperature.includes("0.9") && temperature.includes("0.2"), `the temperature row does not show 0.9 → 0.2: "${temperature}"`);
  return `temperature: ${temperature.trim()}`;
});

// --- The regression watch: two more prompts, seeded by the steps that use
// them (after the audit step above, which counts every promote) ----------

/// Makes slugs unique when the script runs again against the same app.
const RUN = Date.now().toString(36);
/// Successful calls before the bad promote: the watch's baseline is the
/// window before it and needs `minCalls` (20 by default) there.
const BASELINE_CALLS = 24;
/// Pause between driven gateway calls: the watch evaluates at most every
/// 5 s, so a slow trickle reaches a verdict with few calls.
const DRIVE_PAUSE_MS = 100;
/// Cap on the driven calls (about 40 s at that pace).
const DRIVE_MAX = 400;

const versionBody = (system, user, message) => ({
  system,
  user,
  variables: [{ name: "question", type: "string", required: true }],
  model: "gpt-4o-mini",
  temperature: 0.2,
  maxTokens: 400,
  message,
});

/// A prompt whose good version is production with BASELINE_CALLS calls,
/// and a saved bad version whose every call the stub provider fails (503).
async function seedWatched(kind) {
  const name = `Watched reply (${kind})`;
  const created = await apiOk("POST", "/prompts", { name, slug: `watched-${kind}-${RUN}` });
  const good = await apiOk(
    "POST",
    `/prompts/${created.id}/versions`,
    versionBody("You are a careful support agent.", "Customer asks: {{question}}", "careful"),
  );
  await apiOk("POST", `/prompts/${created.id}/versions/${good.id}/promote`);
  for (let i = 0; i < BASELINE_CALLS; i += 1) {
    const res = await api("POST", "/gateway/execute", { promptSlug: created.slug, variables: { question: `fine ${i}` } });
    check(res.status === 200 && res.json?.versionId === good.id, `baseline call ${i}: ${res.status} ${res.text}`);
  }
  const bad = await apiOk(
    "POST",
    `/prompts/${created.id}/versions`,
    versionBody("You are a careful support agent.", "[[stub:status=503]] Customer asks: {{question}}", "broken upstream"),
  );
  return { id: created.id, slug: created.slug, name, good: good.id, goodSemver: good.version, bad: bad.id, badSemver: bad.version };
}

/// Sets the watch's mode in the Versions tab's watch card (defaults kept).
async function setWatchMode(promptId, mode) {
  const card = byTid("watch");
  await visible(card, "the watch card");
  check((await card.getAttribute("data-mode")) === "off", `the watch card starts at mode ${await card.getAttribute("data-mode")}, not off`);
  await byTid("watch-edit").click();
  const dialog = byTid("watch-dialog");
  await visible(dialog, "the watch dialog");
  const minCalls = await byTid("watch-minCalls").inputValue();
  check(minCalls === "20", `the dialog's minCalls is "${minCalls}", expected the default 20`);
  await byTid("watch-mode").selectOption(mode);
  await screenshot(`watch-${mode}`);
  await byTid("confirm-watch").click();
  await dialog.waitFor({ state: "hidden" });
  await waitUntil(`the watch card says mode ${mode}`, (mode) => document.querySelector('[data-testid="watch"]')?.dataset.mode === mode, mode);
  const state = await apiOk("GET", `/prompts/${promptId}/watch`);
  check(state.policy.mode === mode && state.policy.minCalls === 20, `the API's watch policy is ${JSON.stringify(state.policy)}`);
}

/// Failing gateway calls (the bad version's) until `done()`; every 10th
/// call checks it. Returns how many calls failed.
async function driveFailingTraffic(w, what, done) {
  let failed = 0;
  for (let n = 1; n <= DRIVE_MAX; n += 1) {
    const res = await api("POST", "/gateway/execute", { promptSlug: w.slug, variables: { question: `q ${n}` } });
    if (res.status === 502) {
      failed += 1;
    } else {
      check(res.status === 200 && res.json?.versionId === w.good, `call ${n}: ${res.status} ${res.text}`);
    }
    if (n % 10 === 0 && (await done())) return failed;
    await new Promise((r) => setTimeout(r, DRIVE_PAUSE_MS));
  }
  fail(`${DRIVE_MAX} calls (${failed} failed) and still not ${what}`);
}

/// The canary card's `metric` row: the production and candidate cells.
async function armFigures(metric) {
  const row = page.locator(`${tid("canary-arms")} ${tid("canary-arm-row")}[data-metric="${metric}"]`);
  await visible(row, `the canary arms' ${metric} row`);
  return {
    production: (await row.locator(tid("arm-production")).innerText()).trim(),
    candidate: (await row.locator(tid("arm-candidate")).innerText()).trim(),
  };
}

/// The Versions tab drawn afresh (as a person's refresh would).
async function reopenVersions() {
  await openTab("compare");
  await openTab("versions");
}

/// The evidence row of `metric` in the table `tableTestid` inside `scope`.
async function evidenceRow(scope, tableTestid, metric) {
  const row = scope.locator(`${tid(tableTestid)} ${tid("watch-metric")}[data-metric="${metric}"]`);
  await visible(row, `the ${metric} row of ${tableTestid}`);
  const cell = async (name) => (await row.locator(tid(name)).innerText()).trim();
  const samples = await cell("metric-samples");
  const [baselineN, observedN] = samples.match(/[\d,]+/g)?.map((x) => Number(x.replace(/,/g, ""))) ?? [];
  return {
    baseline: await cell("metric-baseline"),
    observed: await cell("metric-observed"),
    samples,
    baselineN,
    observedN,
    regressed: (await row.getAttribute("data-regressed")) === "true",
  };
}

function checkFailingEvidence(m, where) {
  check(m.regressed, `${where}: successRate is not marked regressed`);
  check(m.baseline === "100.0%" && m.observed === "0.0%", `${where}: success rate ${m.baseline} → ${m.observed}, expected 100.0% → 0.0%`);
  check(m.baselineN >= 20 && m.observedN >= 20, `${where}: samples "${m.samples}", expected at least 20 on each side`);
}

let rollbackWatch;
await step("w1. Regression watch: set rollback in the watch card, then promote a version whose provider fails", "watch-rollback", async () => {
  rollbackWatch = await seedWatched("rollback");
  const w = rollbackWatch;
  await openPromptFromList(w.id, w.name);
  await openTab("versions");
  check((await byTid("regression-banner").count()) === 0, "a regression banner shows before anything was watched");
  await setWatchMode(w.id, "rollback");
  await promoteThroughDialog(w.bad, { replaces: w.goodSemver, revert: false, promptId: w.id });
  return `watch=rollback on ${w.name}; ${w.badSemver} promoted over ${w.goodSemver} (${BASELINE_CALLS} good calls before)`;
});

await step("w2. failing gateway traffic: the watch rolls the promote back by itself", "watch-traffic", async () => {
  const w = rollbackWatch;
  const failed = await driveFailingTraffic(w, `back on ${w.goodSemver}`, async () => (await productionVersionId(w.id)) === w.good);
  check(failed >= 20, `production went back after only ${failed} failed calls; the watch needs 20`);
  return `${failed} failed calls, then production is ${w.goodSemver} again`;
});

await step("w3. Versions: the production pill is back on the old version, and the banner says the watch rolled back, with its evidence", "watch-banner", async () => {
  const w = rollbackWatch;
  await reopenVersions();
  await waitForProductionPill(w.good);
  // The page's header, drawn before the watch acted, follows too.
  await waitUntil(
    `the header's production pill reads ${w.goodSemver}`,
    (sv) => document.querySelector('[data-testid="header-production"]')?.textContent === sv,
    w.goodSemver,
  );
  const banner = byTid("regression-banner");
  await visible(banner, "the regression banner");
  const state = await banner.getAttribute("data-state");
  check(state === "rolled-back", `the banner's state is ${state}, expected rolled-back`);
  check((await banner.getAttribute("data-candidate-version-id")) === w.bad, "the banner does not name the bad version");
  const text = (await banner.innerText()).replace(/\s+/g, " ");
  check(/automatically/i.test(text), `the banner does not say it was automatic: "${text}"`);
  check(text.includes(w.badSemver) && text.includes(w.goodSemver), `the banner does not name ${w.badSemver} and ${w.goodSemver}: "${text}"`);
  const watch = await apiOk("GET", `/prompts/${w.id}/watch`);
  const at = watch.lastRollback?.at;
  check(at && !watch.lastRollback.superseded, `GET /watch has no current lastRollback: ${JSON.stringify(watch.lastRollback)}`);
  const shownAt = (await banner.locator(tid("rollback-time")).innerText()).trim();
  check(shownAt.startsWith(`${at.slice(0, 10)} ${at.slice(11, 19)}`), `the banner's time "${shownAt}" is not the rollback's (${at})`);
  checkFailingEvidence(await evidenceRow(banner, "rollback-evidence", "successRate"), "the banner's evidence");
  check((await banner.locator(tid("rollback")).count()) === 0, "the banner offers Roll back although the watch already did it");
  return `banner: rolled back at ${shownAt}; ${text.slice(0, 120)}…`;
});

await step("w4. Audit: the system revert, marked as the regression watch (automatic), with its evidence", "watch-audit", async () => {
  const w = rollbackWatch;
  await byTid("nav-audit").click();
  await settled();
  await byTid("audit-prompt").fill(w.id);
  await byTid("audit-apply").click();
  await settled();
  await waitUntil(
    "the audit list shows only this prompt's entries",
    (id) => {
      const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
      return rows.length > 0 && rows.every((r) => r.textContent.includes(id));
    },
    w.id,
  );
  const system = page.locator(`${tid("audit-row")}[data-action="prompt.promote"][data-actor="regression-watch"]`);
  check((await system.count()) === 1, `${await system.count()} prompt.promote rows by the regression watch, expected 1`);
  const actorText = (await system.locator(tid("actor-watch")).innerText()).replace(/\s+/g, " ");
  check(actorText.includes("Regression watch (automatic)"), `the watch's actor reads "${actorText}"`);
  check((await system.locator(tid("audit-revert")).count()) === 1, "the watch's promote is not marked revert");
  checkFailingEvidence(await evidenceRow(system, "evidence-metrics", "successRate"), "the audit entry's evidence");
  const compared = (await system.locator(tid("audit-evidence")).innerText()).replace(/\s+/g, " ");
  check(
    compared.includes(`Compared ${w.badSemver}`) && compared.includes(`against ${w.goodSemver}`),
    `the evidence does not say it compared ${w.badSemver} against ${w.goodSemver}: "${compared}"`,
  );
  // People's (here: the admin token's) promotes look different.
  const others = page.locator(`${tid("audit-row")}[data-action="prompt.promote"]:not([data-actor="regression-watch"])`);
  check((await others.count()) === 2, `${await others.count()} other prompt.promote rows, expected 2 (the seed's and the UI's)`);
  check((await others.locator(tid("actor-watch")).count()) === 0, "a token's promote is shown as the regression watch");
  check((await others.locator(tid("audit-evidence")).count()) === 0, "a token's promote shows evidence");
  return `system revert by "${actorText.trim()}" with evidence`;
});

let notifyWatch;
await step("w5. Regression watch in notify mode: a failing promote shows the banner, production stays", "watch-notify", async () => {
  notifyWatch = await seedWatched("notify");
  const w = notifyWatch;
  await openPromptFromList(w.id, w.name);
  await openTab("versions");
  await setWatchMode(w.id, "notify");
  await promoteThroughDialog(w.bad, { replaces: w.goodSemver, revert: false, promptId: w.id });
  const failed = await driveFailingTraffic(w, "a notified regression", async () => {
    const v = (await apiOk("GET", `/prompts/${w.id}/watch`)).verdict;
    return v?.regressed === true && v.action === "notified";
  });
  check((await productionVersionId(w.id)) === w.bad, "notify mode moved production");
  await reopenVersions();
  await waitForProductionPill(w.bad);
  const banner = byTid("regression-banner");
  await visible(banner, "the regression banner");
  const state = await banner.getAttribute("data-state");
  check(state === "regressed", `the banner's state is ${state}, expected regressed`);
  checkFailingEvidence(await evidenceRow(banner, "regression-evidence", "successRate"), "the banner's evidence");
  await visible(banner.locator(tid("rollback")), "the banner's Roll back button");
  return `${failed} failed calls; banner with Roll back to ${w.goodSemver}`;
});

await step("w6. the banner's Roll back (confirmed as a revert) puts the old version back", "watch-notify-rollback", async () => {
  const w = notifyWatch;
  await byTid("rollback").click();
  const dialog = byTid("rollback-dialog");
  await visible(dialog, "the roll-back dialog");
  const text = (await dialog.innerText()).replace(/\s+/g, " ");
  check(text.includes(w.goodSemver) && text.includes(w.badSemver) && /revert/i.test(text), `the roll-back dialog: "${text}"`);
  await screenshot("dialog");
  await byTid("confirm-rollback").click();
  await dialog.waitFor({ state: "hidden" });
  await waitForProductionPill(w.good);
  await waitUntil("the regression banner is gone", () => document.querySelector('[data-testid="regression-banner"]') === null);
  check((await productionVersionId(w.id)) === w.good, "the API does not say the old version is production");
  const audit = (await apiOk("GET", `/audit?promptId=${w.id}&action=prompt.promote`)).data;
  const newest = audit[0];
  check(
    newest?.versionId === w.good && newest.details?.revert === true && newest.actor !== "regression-watch" && !newest.details?.evidence,
    `the newest promote is not the person's revert: ${JSON.stringify(newest)}`,
  );
  return `${w.goodSemver} back in production by ${newest.actorName}, audited as a revert`;
});

await step("w7. notify mode during a canary: a failing candidate at 50 % shows the banner, the canary keeps running", "watch-notify-canary", async () => {
  const w = notifyWatch;
  await versionRow(w.bad).locator(tid("start-canary")).click();
  const dialog = byTid("canary-dialog");
  await visible(dialog, "the canary dialog");
  await byTid("canary-percent").fill("50");
  await byTid("canary-sticky-by").selectOption("request");
  await byTid("confirm-canary").click();
  await dialog.waitFor({ state: "hidden" });
  await visible(page.locator(`${tid("canary")}[data-version-id="${w.bad}"]`), "the canary card");
  const failed = await driveFailingTraffic(w, "a notified canary regression", async () => {
    const v = (await apiOk("GET", `/prompts/${w.id}/watch`)).verdict;
    return v?.subject === "canary" && v.regressed === true && v.action === "notified";
  });
  const running = (await apiOk("GET", `/prompts/${w.id}/canary`)).canary;
  check(running?.versionId === w.bad, `notify mode ended the canary: ${JSON.stringify(running)}`);
  await reopenVersions();
  const banner = byTid("regression-banner");
  await visible(banner, "the regression banner");
  check((await banner.getAttribute("data-state")) === "regressed", "the banner is not a live regression");
  checkFailingEvidence(await evidenceRow(banner, "regression-evidence", "successRate"), "the canary banner's evidence");
  const label = (await banner.locator(tid("rollback")).innerText()).trim();
  check(label.includes("end the canary"), `the banner's button reads "${label}"`);
  // The canary card shows both arms side by side: the candidate failing,
  // production healthy.
  const success = await armFigures("successRate");
  check(success.candidate === "0.0%" && success.production === "100.0%", `the arms' success rates: ${JSON.stringify(success)}`);
  const calls = await armFigures("calls");
  check(Number(calls.candidate.replace(/,/g, "")) > 0 && Number(calls.production.replace(/,/g, "")) > 0, `the arms' calls: ${JSON.stringify(calls)}`);
  return `${failed} failed calls of the candidate; banner: "${label}"`;
});

await step("w8. the banner's Roll back ends the canary (revert); production never moved", "watch-notify-canary-rollback", async () => {
  const w = notifyWatch;
  await byTid("rollback").click();
  const dialog = byTid("rollback-dialog");
  await visible(dialog, "the roll-back dialog");
  const text = (await dialog.innerText()).replace(/\s+/g, " ");
  check(text.includes(`canary of ${w.badSemver}`) && text.includes(w.goodSemver), `the roll-back dialog: "${text}"`);
  await byTid("confirm-rollback").click();
  await dialog.waitFor({ state: "hidden" });
  await waitUntil(
    "the canary card and the banner are gone",
    () => !document.querySelector('[data-testid="canary"]') && !document.querySelector('[data-testid="regression-banner"]'),
  );
  await waitForProductionPill(w.good);
  check((await apiOk("GET", `/prompts/${w.id}/canary`)).canary === null, "the API still shows the canary");
  const ended = (await apiOk("GET", `/audit?promptId=${w.id}&action=prompt.canary.end`)).data[0];
  check(
    ended?.details?.outcome === "revert" && ended.actor !== "regression-watch" && !ended.details?.evidence,
    `the canary's end is not the person's revert: ${JSON.stringify(ended)}`,
  );
  return `canary of ${w.badSemver} ended (revert) by ${ended.actorName}`;
});

await step("j. keyboard: sign out, then Tab reaches sign-in and Enter submits", "keyboard", async () => {
  await byTid("sign-out").click();
  await visible(byTid("token-input"), "the sign-in form after sign-out");
  await byTid("token-input").fill(TOKEN);
  await byTid("token-input").focus();
  let tabs = 0;
  while (!(await page.evaluate(() => document.activeElement?.dataset?.testid === "sign-in"))) {
    tabs += 1;
    check(tabs <= 10, "10 Tab presses from the token input never focused the sign-in button");
    await page.keyboard.press("Tab");
  }
  await page.keyboard.press("Enter");
  await visible(byTid("nav-prompts"), "the navigation after signing in with Enter");
  await settled();
  return `${tabs} Tab press(es) from the token input`;
});

await step("j. 375 px wide: no tab of the prompt page overflows horizontally", "narrow", async () => {
  // Opened at full width: a narrow layout may fold the navigation away.
  await openPromptFromList();
  await page.setViewportSize({ width: NARROW, height: 812 });
  const worst = [];
  for (const tab of ["versions", "analytics", "logs", "compare", "run"]) {
    await openTab(tab);
    const overflow = await horizontalOverflow(NARROW);
    stepSlug = `narrow-${tab}`;
    await screenshot();
    check(
      overflow <= 2,
      `at ${NARROW} px the ${tab} tab is ${overflow} px wider than the viewport (document scrollWidth ${overflow + NARROW})`,
    );
    worst.push(`${tab} ${overflow} px`);
  }
  stepSlug = "narrow";
  return `overflow: ${worst.join(", ")}`;
});

// Anything the page reported after the last step's check.
if (problems.length) {
  console.log(`FAIL after the last step\n    ${problems.join("\n    ")}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(`walkthrough passed: ${results.length} steps, screenshots in ${ARTIFACT_DIR}`);
