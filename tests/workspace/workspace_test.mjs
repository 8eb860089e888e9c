// Browser test of the radiologist's workspace: Playwright (playwright-core)
// drives Debian's chromium headless against a running stack's facade.
//
//   PARALLAX_WORKSPACE_URL   the workspace, e.g. http://127.0.0.1:8090/
//   PARALLAX_DEMO_PASSWORD   the demo users' password (required)
//   PARALLAX_ARTIFACT_DIR    where screenshots go (default: $TMPDIR/parallax-workspace-artifacts)
//   PARALLAX_CHROMIUM        the browser (default /usr/bin/chromium)
//
// The stack must have analysed at least: a chest film positive for
// Pneumothorax (alert to thoracic-radiology) still awaiting review, a head
// CT positive for an intracranial haemorrhage label (critical, alert to
// neuroradiology) still awaiting review and compared with the patient's
// prior head CT (scripts/parallax demo's follow-up pair, a larger bleed),
// and a normal chest film. The steps
// run in order and change the stack's state (they review findings).
//
// Run: node tests/workspace/workspace_test.mjs

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.PARALLAX_WORKSPACE_URL || 'http://127.0.0.1:8090/';
const PASSWORD = process.env.PARALLAX_DEMO_PASSWORD || '';
const ARTIFACTS = process.env.PARALLAX_ARTIFACT_DIR || path.join(os.tmpdir(), 'parallax-workspace-artifacts');
const WAIT = Number(process.env.PARALLAX_WAIT_MS || 90_000);  // the stack is slow on 2 cores
const STEP = 6 * 60_000;
const WIDE = { width: 1400, height: 900 };
const NARROW = { width: 420, height: 860 };
const HAEMORRHAGE = /haemorrhage|hemorrhage|epidural|subdural|subarachnoid|intraparenchymal|intraventricular/i;

let browser;
let shotNumber = 0;
// Shared between steps 2 and 3 (recomputed when an earlier step failed).
const headCt = { key: null, findingId: null };

before(async () => {
  assert.ok(PASSWORD, 'PARALLAX_DEMO_PASSWORD must be set (the demo users\' password)');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: process.env.PARALLAX_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],
  });
});

after(async () => {
  if (browser) await browser.close();
});

/** A fresh browser context (own sessionStorage) and page, with checks on what it does. */
async function session(viewport = WIDE) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const problems = { pageErrors: [], urls: [] };
  page.on('pageerror', (e) => problems.pageErrors.push(String(e && e.stack ? e.stack : e)));
  page.on('request', (r) => problems.urls.push(r.url()));
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) problems.urls.push(f.url()); });
  return { context, page, problems };
}

/** Checks no uncaught script error happened and the token never went in a URL. */
async function checkClean({ page, problems }) {
  const token = await page.evaluate(() => sessionStorage.getItem('parallax.token')).catch(() => null);
  assert.deepEqual(problems.pageErrors, [], 'the page threw uncaught errors');
  if (token) {
    const leaking = problems.urls.filter((u) => u.includes(token));
    assert.deepEqual(leaking, [], 'the bearer token appeared in a URL');
  }
  for (const u of problems.urls) {
    const hash = new URL(u).hash;
    if (hash.startsWith('#/study/')) assert.match(hash, /^#\/study\/[A-Za-z0-9_\-.~%]+$/, `unexpected study URL ${hash}`);
  }
}

async function shot(page, name) {
  shotNumber += 1;
  const { width } = page.viewportSize();
  const file = path.join(ARTIFACTS, `${String(shotNumber).padStart(2, '0')}-${name}-${width}px.png`);
  await page.screenshot({ path: file });
  return file;
}

async function signIn(page, user) {
  await page.goto(BASE);
  await page.locator('#signin-user').fill(user);
  await page.locator('#signin-password').fill(PASSWORD);
  await page.locator('#signin-submit').click();
  await page.locator(`[data-testid="signed-in-as"][data-user="${user}"]`).waitFor({ state: 'visible' });
  // The token is kept in sessionStorage, and the URL carries no credentials.
  assert.ok(await page.evaluate(() => sessionStorage.getItem('parallax.token')), 'no token in sessionStorage after sign-in');
  assert.ok(!page.url().includes(PASSWORD), 'the password appeared in the URL');
}

/** Sets a worklist filter and waits for the list to show the new answer. */
async function setFilter(page, id, value) {
  const answered = page.waitForResponse((r) => r.url().includes('/api/worklist') && r.request().method() === 'GET');
  await page.locator(`#${id}`).selectOption(value);
  const response = await answered;
  assert.equal(response.status(), 200, `GET ${response.url()} answered ${response.status()}`);
  await page.waitForFunction(() => !document.querySelector('#worklist')?.hasAttribute('aria-busy'));
}

async function waitForRows(page, min = 1) {
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="worklist-row"]').length >= n, min);
}

/** The worklist rows as shown: key, report status, state, alert priority, positive labels. */
async function worklistRows(page) {
  return page.locator('[data-testid="worklist-row"]').evaluateAll((els) => els.map((el) => ({
    key: el.dataset.key, report: el.dataset.reportStatus, state: el.dataset.state, priority: el.dataset.priority,
    labels: [...el.querySelectorAll('[data-testid="row-label"]')].map((l) => l.textContent.trim()),
  })));
}

const notFinal = (r) => !['final', 'amended'].includes(r.report);

/** Opens the first worklist row for which `pick(row)` holds; returns its key. */
async function openRow(page, pick, description) {
  const rows = await worklistRows(page);
  const row = rows.find(pick);
  assert.ok(row, `no worklist row is ${description}: ${JSON.stringify(rows)}`);
  await page.locator(`[data-testid="worklist-row"][data-key="${row.key}"]`).click();
  await page.waitForFunction((k) => location.hash === `#/study/${encodeURIComponent(k)}`, row.key);
  await page.locator(`[data-testid="study-head"][data-key="${row.key}"]`).waitFor();
  return row.key;
}

/** Waits until the canvas has drawn a slice and returns the spread of its grey values. */
async function canvasSpread(page) {
  await page.waitForFunction(() => document.querySelector('#viewer-canvas')?.dataset.rendered
    || !document.querySelector('[data-testid="viewer-error"]')?.hidden);
  assert.equal(await visibleText(page, '[data-testid="viewer-error"]'), '', 'the viewer could not load the slice');
  return page.evaluate(() => {
    const c = document.querySelector('#viewer-canvas');
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let min = 255; let max = 0; let lit = 0;
    for (let i = 0; i < data.length; i += 4) {
      min = Math.min(min, data[i]); max = Math.max(max, data[i]);
      if (data[i] > 16) lit += 1;
    }
    return { width: c.width, height: c.height, min, max, lit, pixels: data.length / 4 };
  });
}

/** The text of the visible elements matching `selector`, or '' (no waiting). */
async function visibleText(page, selector) {
  return page.evaluate((sel) => [...document.querySelectorAll(sel)].filter((e) => !e.hidden && e.offsetParent !== null)
    .map((e) => e.textContent.trim()).join(' | '), selector);
}

/** The text of the error element with this test id, or '' when there is none (no waiting). */
async function errorText(page, testid) {
  return page.evaluate((id) => [...document.querySelectorAll(`[data-testid="${id}"]`)].map((e) => e.textContent.trim()).join(' | '), testid);
}

async function findingOutcome(page) {
  return (await page.locator('[data-testid="finding-outcome"]').textContent()).trim();
}

test('a thoracic radiologist opens the top chest study, sees the image and the heatmap, accepts the pneumothorax and sees the report become final', { timeout: STEP }, async () => {
  const s = await session(WIDE);
  const { page } = s;
  try {
    await signIn(page, 'dr.chest');
    await waitForRows(page);
    await shot(page, 'chest-worklist');
    // The department and case pages are not offered to a thoracic radiologist.
    assert.equal(await page.locator('#nav-department').isVisible(), false);
    assert.equal(await page.locator('#nav-cases').isVisible(), false);

    await setFilter(page, 'filter-group', 'thoracic-radiology');
    await waitForRows(page);
    await openRow(page, (r) => notFinal(r) && r.labels.includes('Pneumothorax'),
      'a thoracic study positive for Pneumothorax whose report is not final yet');

    // Full screen: worklist | viewer | findings side by side.
    const boxes = await Promise.all(['#worklist-pane', '#viewer-pane', '#findings-pane'].map((sel) => page.locator(sel).boundingBox()));
    assert.ok(boxes.every(Boolean), 'a pane is not shown at 1400 px');
    assert.ok(boxes[0].x < boxes[1].x && boxes[1].x < boxes[2].x, 'the panes are not side by side at 1400 px');

    const spread = await canvasSpread(page);
    assert.ok(spread.max - spread.min > 20 && spread.lit > spread.pixels / 50,
      `the viewer drew a blank image: ${JSON.stringify(spread)}`);

    const finding = page.locator('[data-testid="finding"][data-label="Pneumothorax"][data-outcome="pending"]').first();
    await finding.click();
    await page.locator('[data-testid="finding-detail"] [data-testid="fact-model"]').waitFor();
    assert.match(await page.locator('[data-testid="fact-confidence"]').textContent(), /\d+%.*operating point \d+%/);

    // The heatmap overlay is on by default over the evidence slice; h toggles it.
    const overlay = page.locator('#heatmap-overlay');
    await page.waitForFunction(() => ['on', 'error'].includes(document.querySelector('#heatmap-overlay')?.dataset.state));
    assert.equal(await visibleText(page, '[data-testid="viewer-error"]'), '', 'the heatmap did not load');
    await page.locator('#heatmap-overlay[data-state="on"]').waitFor({ state: 'visible' });
    await shot(page, 'chest-study-heatmap-on');
    await page.keyboard.press('h');
    await overlay.waitFor({ state: 'hidden' });
    assert.equal(await page.locator('#heatmap-toggle').getAttribute('aria-pressed'), 'false');
    await page.locator('#heatmap-toggle').click();
    await overlay.waitFor({ state: 'visible' });
    await page.locator('#heatmap-opacity').fill('30');
    assert.equal(await overlay.evaluate((el) => el.style.opacity), '0.3');

    // Acknowledge the alert when it is still open (the user is in its group).
    const ack = page.locator('#acknowledge');
    if (await ack.isVisible()) {
      await ack.click();
      await page.waitForFunction(() => /acknowledged/i.test(document.querySelector('[data-testid="finding-alert"]')?.textContent || '')
        || document.querySelector('[data-testid="review-error"]'));
      assert.equal(await errorText(page, 'review-error'), '', 'acknowledging the alert failed');
    }

    // A second window of the same user watches the worklist: the live update loop must bring the change.
    const key = await page.locator('[data-testid="study-head"]').getAttribute('data-key');
    const watcher = await s.context.newPage();
    watcher.on('pageerror', (e) => s.problems.pageErrors.push(String(e)));
    await signIn(watcher, 'dr.chest');
    await setFilter(watcher, 'filter-group', 'thoracic-radiology');
    const watchedRow = watcher.locator(`[data-testid="worklist-row"][data-key="${key}"]`);
    await watchedRow.waitFor();
    assert.notEqual(await watchedRow.getAttribute('data-report-status'), 'final');

    const before = await page.locator('[data-testid="report-status"]').getAttribute('data-status');
    assert.notEqual(before, 'final', 'the report is final before the review');
    await page.locator('#accept').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="review-message"], [data-testid="review-error"]'));
    assert.equal(await errorText(page, 'review-error'), '', 'accepting the pneumothorax failed');
    await page.locator('[data-testid="report-status"][data-status="final"]').waitFor();
    await page.waitForFunction(() => /accepted/.test(document.querySelector('[data-testid="finding-outcome"]')?.textContent || ''));
    assert.match(await page.locator('[data-testid="review-message"]').textContent(), new RegExp(`${before} → final`));
    await shot(page, 'chest-accepted');

    // This window's worklist shows it, and the other window's through the live update loop.
    await page.locator(`[data-testid="worklist-row"][data-key="${key}"][data-report-status="final"]`).waitFor();
    await watcher.locator(`[data-testid="worklist-row"][data-key="${key}"][data-report-status="final"]`).waitFor();
    await watcher.close();

    // Sidebar width: one column, no horizontal scrolling.
    await page.setViewportSize(NARROW);
    await page.locator('#viewer-canvas').waitFor({ state: 'visible' });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the study view scrolls sideways at 420 px (${overflow} px)`);
    assert.equal(await page.locator('#worklist-pane').isVisible(), false, 'the worklist should give way to the study at 420 px');
    await shot(page, 'chest-accepted');
    await page.locator('[data-testid="back-to-worklist"]').click();
    await waitForRows(page);
    await shot(page, 'chest-worklist');
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});

test('a general radiologist without the override right cannot reject a haemorrhage and the finding stays pending', { timeout: STEP }, async () => {
  const s = await session(WIDE);
  const { page } = s;
  try {
    await signIn(page, 'dr.ray');
    await setFilter(page, 'filter-group', 'neuroradiology');
    await setFilter(page, 'filter-modality', 'CT');
    await waitForRows(page);
    headCt.key = await openRow(page, (r) => notFinal(r) && r.labels.some((l) => HAEMORRHAGE.test(l)),
      'a head CT positive for a haemorrhage whose report is not final yet');

    const candidates = page.locator('[data-testid="finding"][data-critical="true"][data-outcome="pending"]');
    await candidates.first().waitFor();
    const ids = await candidates.evaluateAll((els) => els.map((e) => ({ id: e.dataset.findingId, label: e.dataset.label })));
    const pick = ids.find((x) => x.label === 'Intracranial haemorrhage') || ids.find((x) => HAEMORRHAGE.test(x.label));
    assert.ok(pick, `no pending critical haemorrhage finding: ${JSON.stringify(ids)}`);
    assert.match(pick.label, HAEMORRHAGE);
    headCt.findingId = pick.id;
    await page.locator(`[data-testid="finding"][data-finding-id="${pick.id}"]`).click();
    await canvasSpread(page);

    await page.keyboard.press('r');  // opens the reason box
    const reason = 'No haemorrhage: beam-hardening artefact';
    await page.locator('#reject-reason').fill(reason);
    const answered = page.waitForResponse((r) => r.url().includes(`/review`) && r.request().method() === 'POST');
    await page.locator('#reject-submit').click();
    const response = await answered;
    assert.equal(response.status(), 403, `rejecting as dr.ray answered ${response.status()}, expected 403`);
    const error = page.locator('[data-testid="review-error"]');
    await error.waitFor();
    const text = (await error.textContent()).trim();
    assert.match(text, /^Not allowed: .+/, `the refusal is not shown clearly: "${text}"`);
    const server = (await response.json()).error;
    assert.ok(server && text.includes(server), `the server's reason "${server}" is not shown`);
    // The form and what was typed stay; the finding is still pending.
    assert.equal(await page.locator('#reject-reason').inputValue(), reason);
    assert.match(await findingOutcome(page), /pending/);
    await shot(page, 'ray-reject-refused');
    await page.setViewportSize(NARROW);
    await shot(page, 'ray-reject-refused');
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});

test('the follow-up head CT shows the change since the prior and the registered prior beside the current slice', { timeout: STEP }, async () => {
  const s = await session(WIDE);
  const { page } = s;
  try {
    await signIn(page, 'dr.neuro');
    await setFilter(page, 'filter-group', 'neuroradiology');
    await waitForRows(page);
    const loaded = page.waitForResponse((r) => /\/api\/studies\/[^/]+$/.test(new URL(r.url()).pathname) && r.status() === 200);
    if (headCt.key) {
      await page.locator(`[data-testid="worklist-row"][data-key="${headCt.key}"]`).click();
      await page.locator(`[data-testid="study-head"][data-key="${headCt.key}"]`).waitFor();
    } else {
      headCt.key = await openRow(page, (r) => r.labels.some((l) => HAEMORRHAGE.test(l)), 'a head CT positive for a haemorrhage');
    }
    const study = await (await loaded).json();
    const ich = study.findings.find((f) => f.label === 'Intracranial haemorrhage' && f.positive);
    assert.ok(ich, 'the follow-up head CT has no positive haemorrhage finding');
    const c = ich.comparison;
    assert.ok(c, 'the haemorrhage finding carries no comparison with the prior');
    // The demo's pair: the prior (in the PACS only, retrieved by C-GET) had a smaller bleed.
    assert.equal(c.change, 'larger', `change ${c.change}: ${c.note}`);
    assert.ok(c.prior_key && c.prior_key !== study.key, 'no key for the prior study');
    assert.ok(c.registered, `the prior was not co-registered: ${c.note}`);
    assert.ok(c.prior_series >= 0 && c.slice_map.length === study.series[0].slices, 'no slice map for the prior');
    assert.ok(c.current_size >= 1.5 * c.prior_size, `sizes ${c.prior_size} -> ${c.current_size}`);

    await page.locator(`[data-testid="finding"][data-finding-id="${ich.finding_id}"]`).click();
    const change = page.locator('[data-testid="finding-change"]');
    await change.waitFor();
    assert.match((await change.textContent()).trim(), /^Larger since \d{4}-\d\d-\d\d \(\d+ days\): [\d.]+ → [\d.]+ mL$/);
    await canvasSpread(page);

    // p: the prior beside the current image, on the slice the registration matches.
    await page.keyboard.press('p');
    const prior = page.locator('[data-testid="prior-canvas"]');
    await prior.waitFor();
    // The slice the viewer is on (the slider moves at once; the canvases follow when their pixels arrive).
    const expectAt = async () => {
      const slice = await page.evaluate(() => Number(document.querySelector('#slice-slider').value));
      const want = `${c.prior_series}:${c.slice_map[slice]}`;
      await page.waitForFunction(([s, w]) => document.querySelector('#viewer-canvas').dataset.rendered.endsWith(`:${s}`)
        && document.querySelector('[data-testid="prior-canvas"]').dataset.rendered === w, [slice, want]);
      return slice;
    };
    await expectAt();
    const spread = await page.evaluate(() => {
      const canvas = document.querySelector('[data-testid="prior-canvas"]');
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let min = 255; let max = 0;
      for (let i = 0; i < data.length; i += 4) { min = Math.min(min, data[i]); max = Math.max(max, data[i]); }
      return max - min;
    });
    assert.ok(spread > 50, `the prior slice is blank (grey spread ${spread})`);
    assert.match(await visibleText(page, '[data-testid="prior-hud"]'), /^Prior \d{4}-\d\d-\d\d · \d+ · registered$/);
    // Scrolling the current study moves the prior with it.
    await page.locator('#viewer-canvas').focus();
    const before = await expectAt();
    const last = await page.evaluate(() => Number(document.querySelector('#slice-slider').max));
    const key = before + 3 <= last ? 'PageDown' : 'PageUp';
    for (let i = 0; i < 3; i++) await page.keyboard.press(key);
    const after = await expectAt();
    assert.equal(Math.abs(after - before), 3, `${key} did not move the slice by 3 (${before} -> ${after})`);
    await shot(page, 'neuro-prior-beside-current');
    await page.keyboard.press('p');
    assert.equal(await page.locator('[data-testid="prior-canvas"]').isVisible(), false, 'p does not hide the prior');
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});

test('a neuroradiologist rejects the haemorrhage which opens a case and a senior confirms it from the escalation queue', { timeout: STEP }, async () => {
  let s = await session(WIDE);
  try {
    await signIn(s.page, 'dr.neuro');
    await setFilter(s.page, 'filter-group', 'neuroradiology');
    await waitForRows(s.page);
    if (headCt.key) {
      await s.page.locator(`[data-testid="worklist-row"][data-key="${headCt.key}"]`).click();
      await s.page.locator(`[data-testid="study-head"][data-key="${headCt.key}"]`).waitFor();
    } else {
      headCt.key = await openRow(s.page, (r) => notFinal(r) && r.labels.some((l) => HAEMORRHAGE.test(l)),
        'a head CT positive for a haemorrhage whose report is not final yet');
    }
    const selector = headCt.findingId
      ? `[data-testid="finding"][data-finding-id="${headCt.findingId}"][data-outcome="pending"]`
      : '[data-testid="finding"][data-critical="true"][data-outcome="pending"]';
    const finding = s.page.locator(selector).first();
    await finding.waitFor();
    headCt.findingId = await finding.getAttribute('data-finding-id');
    await finding.click();
    await s.page.locator('#reject').click();
    await s.page.locator('#reject-reason').fill('Calcified falx, not blood (test)');
    await s.page.locator('#reject-submit').click();
    await s.page.waitForFunction(() => document.querySelector('[data-testid="review-message"], [data-testid="review-error"]'));
    assert.equal(await errorText(s.page, 'review-error'), '', 'the neuroradiologist\'s rejection failed');
    assert.match(await s.page.locator('[data-testid="review-message"]').textContent(), /escalation case was opened/);
    assert.match(await findingOutcome(s.page), /escalated/);
    await shot(s.page, 'neuro-rejected-case-opened');
    await checkClean(s);
    await s.context.close();

    s = await session(WIDE);
    await signIn(s.page, 'dr.senior');
    await s.page.locator('#nav-cases').click();
    const card = s.page.locator(`[data-testid="case-card"][data-finding-id="${headCt.findingId}"][data-state="open"]`);
    await card.waitFor();
    assert.equal((await card.locator('[data-testid="case-rejected-by"]').textContent()).trim(), 'dr.neuro');
    assert.match(await card.locator('[data-testid="case-reject-reason"]').textContent(), /Calcified falx/);
    await shot(s.page, 'senior-case-queue');
    await card.locator('[data-testid="case-decision"]').selectOption('confirm');
    await card.locator('[data-testid="case-rationale"]').fill('Haemorrhage visible on the subdural window (test)');
    await card.locator('[data-testid="case-submit"]').click();
    await s.page.locator('[data-testid="cases-message"]').waitFor({ state: 'visible' });
    await card.waitFor({ state: 'detached' });  // it left the open queue
    assert.equal(await errorText(s.page, 'case-error'), '', 'deciding the case failed');
    // It is in the decided list, confirmed by the senior.
    await s.page.locator('#cases-state').selectOption('decided');
    const decided = s.page.locator(`[data-testid="case-card"][data-finding-id="${headCt.findingId}"][data-state="decided"]`);
    await decided.waitFor();
    assert.match(await decided.locator('[data-testid="case-decision-made"]').textContent(), /confirm by dr\.senior/);
    await shot(s.page, 'senior-case-decided');
    await s.page.setViewportSize(NARROW);
    await shot(s.page, 'senior-case-decided');
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});

test('the department head sees the department charts and a radiologist is refused them', { timeout: STEP }, async () => {
  let s = await session(WIDE);
  try {
    await signIn(s.page, 'dr.ray');
    assert.equal(await s.page.locator('#nav-department').isVisible(), false);
    await s.page.evaluate(() => { location.hash = '#/department'; });
    const refused = s.page.locator('[data-testid="department-error"]');
    await refused.waitFor();
    assert.match(await refused.textContent(), /^Not allowed: /);
    await s.context.close();

    s = await session(WIDE);
    await signIn(s.page, 'dr.head');
    await s.page.locator('#nav-department').click();
    await s.page.locator('[data-testid="department-tiles"]').waitFor();
    const charts = await s.page.evaluate(() => ['chart-agreement', 'chart-false-alerts', 'chart-ack', 'chart-overrides'].map((id) => {
      const svg = document.getElementById(id);
      return { id, present: Boolean(svg), bars: svg ? svg.querySelectorAll('rect.chart-bar').length : 0,
        values: svg ? [...svg.querySelectorAll('rect.chart-bar')].map((r) => Number(r.dataset.value)) : [] };
    }));
    await shot(s.page, 'department');
    // The steps before reviewed a pneumothorax and overrode a haemorrhage.
    const agreement = charts.find((c) => c.id === 'chart-agreement');
    assert.ok(agreement.present && agreement.bars >= 1, `no agreement bars: ${JSON.stringify(charts)}`);
    assert.ok(agreement.values.every((v) => v >= 0 && v <= 1), `agreement outside 0..1: ${agreement.values}`);
    const overrides = charts.find((c) => c.id === 'chart-overrides');
    assert.ok(overrides.present && overrides.bars >= 1, `no override bars: ${JSON.stringify(charts)}`);
    const drawn = charts.filter((c) => c.present);
    for (const c of drawn) assert.ok(c.values.every(Number.isFinite), `${c.id} has a bar without a number`);
    await s.page.setViewportSize(NARROW);
    const overflow = await s.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the department page scrolls sideways at 420 px (${overflow} px)`);
    await shot(s.page, 'department');
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});

test('the keyboard moves through the worklist and opens a study with j and Enter', { timeout: STEP }, async () => {
  const s = await session(NARROW);
  const { page } = s;
  try {
    await signIn(page, 'dr.chest');
    await setFilter(page, 'filter-group', '');
    await waitForRows(page, 2);
    await page.evaluate(() => document.activeElement && document.activeElement.blur());
    const current = () => page.locator('[data-testid="worklist-row"][aria-current="true"]').getAttribute('data-key');
    const keys = await page.locator('[data-testid="worklist-row"]').evaluateAll((els) => els.map((e) => e.dataset.key));
    assert.equal(await current(), keys[0]);
    await page.keyboard.press('j');
    assert.equal(await current(), keys[1], 'j did not move to the second study');
    await page.keyboard.press('k');
    assert.equal(await current(), keys[0], 'k did not move back');
    await page.keyboard.press('j');
    await shot(page, 'keyboard-worklist');
    await page.keyboard.press('Enter');
    await page.waitForFunction((k) => location.hash === `#/study/${encodeURIComponent(k)}`, keys[1]);
    await page.locator(`[data-testid="study-head"][data-key="${keys[1]}"]`).waitFor();
    await shot(page, 'keyboard-study');
    // n goes to the next study, ? shows the help.
    if (keys.length > 2) {
      await page.keyboard.press('n');
      await page.locator(`[data-testid="study-head"][data-key="${keys[2]}"]`).waitFor();
    }
    await page.keyboard.press('?');
    await page.locator('#help-dialog').waitFor({ state: 'visible' });
    await page.keyboard.press('Escape');
    await page.locator('#help-dialog').waitFor({ state: 'hidden' });
    // Signing out forgets the token.
    await page.locator('#sign-out').click();
    await page.locator('#signin-form').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('parallax.token')), null);
    await checkClean(s);
  } finally {
    await s.context.close();
  }
});
