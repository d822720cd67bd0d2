// Debian's Chromium driven by playwright-core, presenting partner certificates to the hub.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.REFEX_CHROMIUM || '/usr/bin/chromium';

// No background traffic: the machine's network is closed, and a test talks to loopback only.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-default-apps', '--disable-dev-shm-usage'];

// How long one wait for the page may take on a loaded 2-core machine.
export const WAIT_MS = 20000;

// Launch headless Chromium.
export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

// A new browser context: holder h's certificate presented to hub (h null: no certificate).
// The hub's certificate is from the test's own CA, which Chromium does not know: accept it.
export async function newContext(browser, hub, h, options = {}) {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    clientCertificates: h ? [hub.clientCertificate(h)] : [],
    ...options,
  });
  ctx.setDefaultTimeout(WAIT_MS);
  return ctx;
}

// A page of ctx that records every dialog and page error (a check reads page.dialogs/errors).
export async function newPage(ctx) {
  const page = await ctx.newPage();
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.errors.push(e.message));
  return page;
}

// A new page in a new context of its own, presenting holder h's certificate (h null: none).
export async function holderPage(browser, hub, h, options = {}) {
  return newPage(await newContext(browser, hub, h, options));
}

// Open the web pages at hash as the page's holder and wait until the page is drawn (its heading
// shown, <main> no longer aria-busy).
export async function openPage(page, hub, hash) {
  await page.goto(`${hub.origin}/#${hash}`);
  await page.locator('#who:not(:empty)').waitFor();
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.locator('main[aria-busy="false"]').waitFor();
}

// A new page in holder h's context (one per holder and browser, made on first use), opened at
// hash (openPage); env: the fixture's. options: a page's own (viewport). The holder's earlier
// pages are closed first: each holds an event stream, and Chromium keeps at most six
// connections to one host.
export async function pageAt(env, h, hash, options = {}) {
  env.contexts ??= new Map();
  if (!env.contexts.has(h)) {
    env.contexts.set(h, newContext(env.browser, env.hub, h));
  }
  const ctx = await env.contexts.get(h);
  await Promise.all(ctx.pages().map((p) => p.close()));
  const page = await newPage(ctx);
  if (options.viewport) {
    await page.setViewportSize(options.viewport);
  }
  await openPage(page, env.hub, hash);
  return page;
}

// Open B's inbox and wait until its live event stream is open (the hub answered its GET).
export async function openLiveInbox(page, hub) {
  const stream = page.waitForResponse((r) => r.url().endsWith('/api/v1/events') && r.status() === 200);
  await openPage(page, hub, 'inbox');
  await stream;
}

// The (first) row of the table on screen whose link reads text.
export function row(page, text) {
  return page.getByRole('row')
    .filter({ has: page.getByRole('link', { name: text, exact: true }) }).first();
}

// The text of the cell under the column headed column, in the row whose link reads text.
export async function cell(page, text, column) {
  const r = row(page, text);
  await r.waitFor();
  const i = (await page.getByRole('columnheader').allTextContents()).indexOf(column);
  if (i < 0) {
    throw new Error(`no column "${column}" in the table on screen`);
  }
  return r.getByRole('cell').nth(i).textContent();
}

// Where screenshots and the hub's log go: BUILD/tests/browser/artifacts.
export function artifactsDir(buildDir) {
  const dir = path.join(buildDir, 'tests', 'browser', 'artifacts');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// Run axe-core's WCAG 2.1 AA rules on the page; resolves the violations.
// The hub's CSP (script-src 'self') rightly refuses addScriptTag's inline script, so axe is
// evaluated through the driver, which no page policy governs; refexd never serves it.
export async function axeViolations(page) {
  const require = createRequire(import.meta.url);
  const source = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await page.evaluate(source);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      resultTypes: ['violations'], // passes are not listed node by node: quicker
    });
    return r.violations.map((v) => ({ id: v.id, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
}

// Press Tab until focus has reached every control (or enough times to go round); resolves the ids/texts of every control it reached,
// and of every control on the page (visible buttons, links, inputs, selects, textareas). A
// group of radio buttons is one stop (Tab reaches it, the arrow keys move within it).
export async function tabWalk(page) {
  const describe = () => {
    const e = document.activeElement;
    if (!e || e === document.body) {
      return null;
    }
    return e.type === 'radio' ? `radio:${e.name}` : `${e.tagName.toLowerCase()}:${e.id || e.textContent.trim()}`;
  };
  const all = await page.evaluate(() => [...document.querySelectorAll('button, a[href], input, select, textarea')]
    .filter((e) => e.offsetParent !== null)
    .map((e) => (e.type === 'radio' ? `radio:${e.name}` : `${e.tagName.toLowerCase()}:${e.id || e.textContent.trim()}`)));
  const reached = new Set();
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  // A date input takes three presses (day, month, year); a scrolling table region one more.
  for (let i = 0; i < 3 * all.length + 5 && all.some((c) => !reached.has(c)); i++) {
    await page.keyboard.press('Tab');
    const d = await page.evaluate(describe);
    if (d) {
      reached.add(d);
    }
  }
  return { all, reached: [...reached] };
}


// The answers to the housing support form's required questions, by their labels.
export const HOUSING = { 'Current situation (required)': 'SOFA_SURFING', 'Tenure (required)': 'PRIVATE_RENTED' };

// Choose option value in a select, or type value in another control, found by its label.
async function answer(page, label, value) {
  const control = page.getByLabel(label, { exact: true });
  if (await control.evaluate((e) => e.tagName === 'SELECT')) {
    await control.selectOption(value);
  } else {
    await control.fill(value);
  }
}

// On the new-referral page: choose agency `to` and the housing support form, wait for its
// fields (drawn from its description) and give answers ({label: value}).
export async function fillHousingReferral(page, to, answers = HOUSING) {
  await page.getByLabel('Recipient agency (required)', { exact: true }).selectOption(to);
  await page.getByLabel('Form (required)', { exact: true }).selectOption('housing_support');
  await page.getByLabel('Current situation (required)', { exact: true }).waitFor();
  for (const [label, value] of Object.entries(answers)) {
    await answer(page, label, value);
  }
}

// On the new-referral page: a new client, typed in with the client's verbal consent.
export async function typeNewClient(page, givenName, familyName) {
  await page.getByRole('radio', { name: 'A new client', exact: true }).check();
  await answer(page, 'Given name (required)', givenName);
  await answer(page, 'Family name (required)', familyName);
  await answer(page, 'Purpose of sharing (required)', 'housing support referral');
  await answer(page, 'How the client consented (required)', 'CONSENT_VERBAL');
}

// The message shown next to control (the element its aria-describedby names last).
export async function messageNextTo(control) {
  const ids = (await control.getAttribute('aria-describedby') || '').split(' ');
  return control.page().locator(`[id="${ids[ids.length - 1]}"]`).textContent();
}

// Whether control has the keyboard focus.
export function isFocused(control) {
  return control.evaluate((e) => e === document.activeElement);
}

// Assert nothing ran in page and that it added no element from hostile text.
export async function assertInert(page, where) {
  assert.equal(await page.evaluate(() => typeof window.__xss), 'undefined',
    `${where}: the hostile text ran (window.__xss was set)`);
  assert.deepEqual(page.dialogs, [], `${where}: a dialog fired: ${page.dialogs.join(', ')}`);
  assert.deepEqual(page.errors, [], `${where}: the page's script failed: ${page.errors.join(', ')}`);
  assert.equal(await page.locator('main img, main script').count(), 0,
    `${where}: the hostile text became an element`);
}

// Save a full-page screenshot of page as name.png among the artifacts; resolves its path.
export async function screenshot(page, artifacts, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
