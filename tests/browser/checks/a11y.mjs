// The inbox and a referral page are accessible: no axe-core WCAG 2.1 AA violations, no sideways
// scrolling on a 360x740 phone screen, and every control reachable with Tab. The pages are
// agency C's, whose inbox no other check writes to.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axeViolations, holderPage, openLiveInbox, pageAt, row, tabWalk } from '../lib/browser.mjs';
import { AGENCY_C } from '../lib/hub.mjs';
import { useHubAndBrowser } from '../lib/fixture.mjs';

const env = useHubAndBrowser();
const PHONE = { width: 360, height: 740 };
let id;

// C's pages at hash, on a desktop-sized or a phone-sized screen, with a referral's buttons drawn.
async function open(hash, viewport) {
  const page = await pageAt(env, env.hub.c, hash, viewport ? { viewport } : {});
  if (hash.startsWith('referral/')) {
    await page.getByRole('button', { name: 'Accept' }).waitFor();
  }
  return page;
}

// The pages checked: C's inbox, and a referral C can still accept or decline (buttons shown).
async function pages() {
  id ??= await env.hub.submit(env.hub.a, { to: AGENCY_C, givenName: 'Dara', familyName: 'Okafor' });
  return [['inbox', 'inbox'], ['referral page', `referral/${id}`]];
}

test('axe-core finds no WCAG 2.1 AA violations on the inbox and a referral page', async () => {
  for (const [name, hash] of await pages()) {
    const page = await open(hash);
    const found = await axeViolations(page);
    assert.deepEqual(found, [], `${name}: ${found.map((v) => `${v.id} (${v.help}) at ${v.nodes.join(', ')}`).join('; ')}`);
  }
});

test('on a 360x740 screen the pages are no wider than the screen', async () => {
  for (const [name, hash] of await pages()) {
    const page = await open(hash, PHONE);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= PHONE.width, `${name}: the document is ${width} px wide on a ${PHONE.width} px screen`);
  }
});

test('Tab reaches every control on the inbox and a referral page', async () => {
  for (const [name, hash] of await pages()) {
    const page = await open(hash);
    const { all, reached } = await tabWalk(page);
    const missed = all.filter((c) => !reached.includes(c));
    assert.deepEqual(missed, [], `${name}: Tab never reaches ${missed.join(', ')}`);
    if (hash !== 'inbox') {
      assert.ok(all.includes('button:action_accept') && all.includes('button:action_decline'),
        `${name}: the Accept and Decline buttons were not among the controls: ${all.join(', ')}`);
    }
  }
});

// A long unbroken word in a table cell wraps rather than widening the page. Runs after the
// checks above, as it adds a referral to C's inbox.
test('on a 360x740 screen a long client name does not widen the inbox', async () => {
  await env.hub.submit(env.hub.a, { to: AGENCY_C, givenName: 'Wolfeschlegelsteinhausenbergerdorff', familyName: 'Lee' });
  const page = await open('inbox', PHONE);
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= PHONE.width, `inbox: the document is ${width} px wide on a ${PHONE.width} px screen`);
});

// A live redraw of the listing keeps a keyboard user's focus on the same link and announces
// the new referral in the status line (WCAG 2.4.3, 4.1.3).
test('a referral arriving live keeps the keyboard focus where it was and is announced', async () => {
  const { hub, browser } = env;
  const page = await holderPage(browser, hub, hub.c);
  await openLiveInbox(page, hub);
  const link = page.getByRole('link', { name: 'Dara Okafor', exact: true }).first();
  await link.focus();
  const ezra = await hub.submit(hub.a, { to: AGENCY_C, givenName: 'Ezra', familyName: 'Quinn' });
  await row(page, 'Ezra Quinn').waitFor();
  const focused = await page.evaluate(() => document.activeElement.textContent);
  assert.equal(focused, 'Dara Okafor', `focus moved to "${focused}" when a referral arrived`);
  const said = await page.getByRole('status').textContent();
  assert.match(said, new RegExp(`New referral ${ezra}`), `the new referral was not announced: "${said}"`);
});
