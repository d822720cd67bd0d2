// The closed loop in the browser: A's caseworker sends a referral on the new-referral page, B's
// open inbox shows it live, B accepts it in the page, A's Sent page shows "accepted";
// screenshots of the new-referral page, the inbox and the referral page.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import {
  HOUSING, cell, fillHousingReferral, holderPage, openLiveInbox, pageAt, row, screenshot, typeNewClient,
} from '../lib/browser.mjs';
import { AGENCY_B } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const NEEDS = 'Help to find a flat near the school';
const shots = {};
let b; // B's page, open on the inbox from the first test on
let id;

test('A sends a referral on the new-referral page and it appears in B\'s open inbox without a reload', async () => {
  const { hub, browser, artifacts } = env;
  b = await holderPage(browser, hub, hub.b);
  await openLiveInbox(b, hub);
  await b.evaluate(() => { window.__sameDocument = true; });

  const a = await pageAt(env, hub.a, 'new');
  await fillHousingReferral(a, AGENCY_B, { ...HOUSING, 'Support needs': NEEDS, 'Bedrooms needed': '2' });
  await typeNewClient(a, 'Amira', 'Khan');
  shots.new = await screenshot(a, artifacts, 'new-referral');
  await a.getByRole('button', { name: 'Send referral', exact: true }).click();
  await a.getByRole('status').filter({ hasText: 'Referral sent' }).waitFor();
  id = (await a.getByRole('heading', { level: 1 }).textContent()).replace(/^Referral /, '');
  assert.equal(await a.evaluate(() => location.hash), `#referral/${id}`, 'the page did not go to the referral');
  const sent = await hub.get(hub.a, id);
  assert.deepEqual([sent.recipient, sent.form, sent.client.givenName, sent.formAnswers.supportNeeds,
    sent.formAnswers.bedroomsNeeded], [AGENCY_B, 'housing_support', 'Amira', NEEDS, 2],
  'the hub did not record the referral as filled in');

  await row(b, 'Amira Khan').waitFor().catch(() => {
    throw new Error('the referral A sent did not appear in B\'s open inbox page');
  });
  assert.equal(await b.evaluate(() => window.__sameDocument), true,
    'the page was reloaded: the referral must come from the live event stream');
  shots.inbox = await screenshot(b, artifacts, 'inbox');
});

test('B accepts it in the page and A\'s Sent page shows "accepted"', async () => {
  const { hub, artifacts } = env;
  assert.ok(b && id, 'needs the previous check\'s referral');
  await b.getByRole('link', { name: 'Amira Khan', exact: true }).first().click();
  await b.getByRole('heading', { name: `Referral ${id}` }).waitFor();
  shots.referral = await screenshot(b, artifacts, 'referral');

  await b.getByRole('button', { name: 'Accept', exact: true }).click();
  await b.getByRole('status').filter({ hasText: 'Accept: done' }).waitFor();
  await b.locator('dd', { hasText: /^accepted$/ }).waitFor();

  const a = await pageAt(env, hub.a, 'sent');
  const state = await cell(a, 'Amira Khan', 'State');
  assert.equal(state, 'accepted', `A's Sent page shows "${state}" for the referral B accepted`);
  assert.equal((await hub.get(hub.a, id)).state, 'STATE_ACCEPTED', 'the hub did not record the acceptance');
});

test('screenshots of the new-referral page, the inbox and a referral page are kept as PNG files', () => {
  for (const name of ['new', 'inbox', 'referral']) {
    assert.ok(shots[name], `no ${name} screenshot was taken`);
    const bytes = fs.readFileSync(shots[name]);
    assert.ok(bytes.length > 1000 && bytes.subarray(0, 8).equals(PNG), `${shots[name]} is not a PNG`);
  }
});

// Each event redraws the listing; redraws that overlap must not each add a table, and the
// status line must name every referral that arrived, not only the last one drawn.
test('referrals that arrive together are each listed once in the open inbox and each announced', async () => {
  const { hub, browser } = env;
  const page = await holderPage(browser, hub, hub.b);
  const lists = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/v1/list_inbox')) lists.push(r); });
  await openLiveInbox(page, hub);
  await page.evaluate(() => {
    const status = document.querySelector('[role=status]');
    window.__said = [];
    new MutationObserver(() => window.__said.push(status.textContent))
      .observe(status, { childList: true, characterData: true, subtree: true });
  });
  const names = ['Bea', 'Cal', 'Dev', 'Eli'];
  const ids = await Promise.all(names.map((givenName) => hub.submit(hub.a, { givenName, familyName: 'Burst' })));
  for (const n of names) {
    await row(page, `${n} Burst`).waitFor();
  }
  await Promise.all(lists.map(async (r) => (await r.response())?.finished()));
  await page.evaluate(() => new Promise((resolve) => { setTimeout(resolve, 0); }));
  const tables = await page.getByRole('table').count();
  assert.equal(tables, 1, `the inbox shows ${tables} tables of referrals`);
  await page.waitForFunction((want) => want.every((id) => window.__said.join(' ').includes(`New referral ${id}`)), ids)
    .catch(async () => {
      const said = await page.evaluate(() => window.__said.join(' | '));
      throw new Error(`the status line did not name every new referral ${ids.join(', ')}: ${said}`);
    });
});
